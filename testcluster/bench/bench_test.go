package bench

import (
	"context"
	"testing"
	"time"
)

// TestScenariosToy runs every scenario once at toy size without fsync, so
// CI proves that the paths make bench measures work; the figures of such
// a run mean nothing.
func TestScenariosToy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	chain := func(t *testing.T) ChainConfig { return ChainConfig{Dir: t.TempDir(), NoSync: true} }

	t.Run("throughput", func(t *testing.T) {
		r, err := RunThroughput(ctx, chain(t), ThroughputConfig{Events: 1000, Callers: 8, PerCall: 10})
		if err != nil {
			t.Fatal(err)
		}
		if r.Events != 1000 || r.Entries == 0 || r.Entries > 100 {
			t.Errorf("got %d events in %d entries, want 1000 in 1..100", r.Events, r.Entries)
		}
	})
	t.Run("visibility", func(t *testing.T) {
		r, err := RunVisibility(ctx, chain(t), VisibilityConfig{Stores: 3, Rate: 10, Duration: time.Second, Members: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.Sales == 0 || r.Unseen != 0 || len(r.Visibility) != r.Sales || len(r.ToHQ) != r.Sales {
			t.Errorf("got %d sales, %d unseen, %d seen at the observer, %d at HQ", r.Sales, r.Unseen, len(r.Visibility), len(r.ToHQ))
		}
	})
	t.Run("catchup", func(t *testing.T) {
		r, err := RunCatchUp(ctx, chain(t), CatchUpConfig{Events: 1000, Origins: 4})
		if err != nil {
			t.Fatal(err)
		}
		if r.Events != 1000 || r.Elapsed <= 0 {
			t.Errorf("got %d events in %v", r.Events, r.Elapsed)
		}
	})
	t.Run("holds", func(t *testing.T) {
		r, err := RunHolds(ctx, chain(t), HoldConfig{Rounds: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Bare) != 5 || len(r.Redemption) != 5 || len(r.Sale) != 5 {
			t.Errorf("got %d bare, %d redemptions, %d sales; want 5 each", len(r.Bare), len(r.Redemption), len(r.Sale))
		}
	})
}

func TestPercentile(t *testing.T) {
	l := Latencies{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := l.Percentile(tt.p); got != tt.want {
			t.Errorf("p%g: got %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := (Latencies{}).Percentile(50); got != 0 {
		t.Errorf("empty: got %v, want 0", got)
	}
}
