package engine

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestHLCNext(t *testing.T) {
	t0 := time.Unix(100, 0)
	tests := []struct {
		name string
		h    HLC
		now  time.Time
		want HLC
	}{
		{"clock ahead", HLC{Wall: 5, Logical: 9}, t0, HLC{Wall: t0.UnixNano()}},
		{"clock equal", HLC{Wall: t0.UnixNano(), Logical: 2}, t0, HLC{Wall: t0.UnixNano(), Logical: 3}},
		{"clock behind", HLC{Wall: t0.UnixNano() + 50, Logical: 2}, t0, HLC{Wall: t0.UnixNano() + 50, Logical: 3}},
		{"counter exhausted", HLC{Wall: 7e11, Logical: math.MaxUint32}, t0, HLC{Wall: 7e11 + 1}},
	}
	for _, tt := range tests {
		if got := tt.h.Next(tt.now); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestHLCObserve(t *testing.T) {
	now := time.Unix(1000, 0)
	n := now.UnixNano()
	tests := []struct {
		name      string
		h, remote HLC
		want      HLC
	}{
		{"now wins", HLC{Wall: n - 5}, HLC{Wall: n - 3, Logical: 4}, HLC{Wall: n}},
		{"remote ahead", HLC{Wall: n - 5}, HLC{Wall: n + 10, Logical: 4}, HLC{Wall: n + 10, Logical: 5}},
		{"local ahead", HLC{Wall: n + 20, Logical: 1}, HLC{Wall: n + 10, Logical: 4}, HLC{Wall: n + 20, Logical: 2}},
		{"same wall", HLC{Wall: n + 20, Logical: 1}, HLC{Wall: n + 20, Logical: 7}, HLC{Wall: n + 20, Logical: 8}},
		{"skewed remote ignored", HLC{Wall: n - 5}, HLC{Wall: n + int64(2*MaxClockSkew)}, HLC{Wall: n}},
		{"skew bound inclusive", HLC{}, HLC{Wall: n + int64(MaxClockSkew)}, HLC{Wall: n + int64(MaxClockSkew), Logical: 1}},
	}
	for _, tt := range tests {
		if got := tt.h.Observe(tt.remote, now); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestHLCMonotonic: whatever the clock does, readings strictly increase
// and never fall behind an observed (non-skewed) remote reading.
func TestHLCMonotonic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h HLC
		base := int64(1_700_000_000_000_000_000)
		for i := range rapid.IntRange(1, 50).Draw(t, "steps") {
			now := time.Unix(0, base+rapid.Int64Range(-1e9, 1e9).Draw(t, "now"))
			next := h.Next(now)
			if rapid.Bool().Draw(t, "observe") {
				r := HLC{Wall: base + rapid.Int64Range(-1e9, 1e9).Draw(t, "rwall"),
					Logical: rapid.Uint32().Draw(t, "rlogical")}
				next = h.Observe(r, now)
				if next.Compare(r) <= 0 {
					t.Fatalf("step %d: observe %+v gave %+v, not after it", i, r, next)
				}
			}
			if next.Compare(h) <= 0 {
				t.Fatalf("step %d: %+v after %+v", i, next, h)
			}
			h = next
		}
	})
}
