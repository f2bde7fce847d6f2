package adminapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseTokens: no tokens file panics; a refusal wraps ErrBadTokens
// and never shows a token; every accepted token is valid, long enough
// and unique.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("hq-admin 0123456789abcdef\nstore-manager:S001 fedcba9876543210\n"))
	f.Add([]byte("# comment\n\n  store-manager:S.1_x\ttoken-token-token-1  \n"))
	f.Add([]byte("hq-admin:S1 0123456789abcdef\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseTokens(data)
		if err != nil {
			if !errors.Is(err, ErrBadTokens) {
				t.Fatalf("error %v does not wrap ErrBadTokens", err)
			}
			for _, field := range strings.Fields(string(data)) {
				if len(field) >= MinTokenLen && !strings.Contains(field, ":") && strings.Contains(err.Error(), field) {
					t.Fatalf("error %q shows %q", err, field)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, tk := range tokens {
			if err := tk.Validate(); err != nil || len(tk.Secret) < MinTokenLen || seen[tk.Secret] {
				t.Fatalf("accepted %+v (%v)", tk, err)
			}
			seen[tk.Secret] = true
		}
	})
}

// FuzzParseInstant: no parameter panics; an accepted one is UTC, and a
// date as an end is the first instant after that whole day.
func FuzzParseInstant(f *testing.F) {
	for _, s := range []string{"2026-06-01", "2026-06-01T09:30:00+05:30", "2026-06-01T04:00:00.5Z", "June", "2026-02-30", ""} {
		f.Add(s, false)
	}
	kolkata := time.FixedZone("IST", 5*3600+1800)
	f.Fuzz(func(t *testing.T, s string, end bool) {
		got, err := parseInstant(s, kolkata, end)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: %v is not UTC", s, got)
		}
		if len(s) == len(time.DateOnly) {
			start, _ := parseInstant(s, kolkata, false)
			if want := start.AddDate(0, 0, 1); end && !got.Equal(want) {
				t.Fatalf("%q as an end: %v, want %v", s, got, want)
			}
			if local := start.In(kolkata); local.Hour() != 0 || local.Minute() != 0 || local.Format(time.DateOnly) != s {
				t.Fatalf("%q starts at %v in the zone", s, local)
			}
		}
	})
}
