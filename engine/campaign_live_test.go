package engine

import (
	"testing"
	"time"
)

// TestCampaignLiveAt: the window is read in the programme's zone, dates
// inclusive, days and hours as evaluation reads them.
func TestCampaignLiveAt(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name  string
		valid Validity
		at    string // UTC
		want  bool
	}{
		{"open window", Validity{}, "2026-06-01T10:00:00Z", true},
		{"before from", Validity{From: "2026-06-02"}, "2026-06-01T10:00:00Z", false},
		{"from in local zone", Validity{From: "2026-06-02"}, "2026-06-01T19:00:00Z", true}, // 00:30 IST on the 2nd
		{"to inclusive", Validity{To: "2026-06-01"}, "2026-06-01T18:00:00Z", true},         // 23:30 IST
		{"after to", Validity{To: "2026-06-01"}, "2026-06-01T18:31:00Z", false},
		{"day matches", Validity{Days: []string{"mon"}}, "2026-06-01T10:00:00Z", true}, // a Monday
		{"day does not", Validity{Days: []string{"tue", "wed"}}, "2026-06-01T10:00:00Z", false},
		{"hours", Validity{Hours: []string{"09:00", "13:00"}}, "2026-06-01T07:30:00Z", true}, // 13:00 IST
		{"outside hours", Validity{Hours: []string{"09:00", "13:00"}}, "2026-06-01T07:31:00Z", false},
		{"over midnight", Validity{Hours: []string{"22:00", "02:00"}}, "2026-06-01T19:00:00Z", true}, // 00:30 IST
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			c := Campaign{ID: "C1", Valid: tc.valid}
			got, err := c.LiveAt(at, kolkata)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("LiveAt(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
	bad := Campaign{Valid: Validity{From: "June"}}
	if _, err := bad.LiveAt(time.Now(), nil); err == nil {
		t.Error("a malformed window is not an error")
	}
}
