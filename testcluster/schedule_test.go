package testcluster

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"testing"
	"time"
)

var (
	seedFlag      = flag.Uint64("seed", 0, "replay this schedule seed only (TestSchedules)")
	schedulesFlag = flag.Int("schedules", 0, "schedules TestSchedules runs (default 4, 1 with -short)")
	verboseFlag   = flag.Bool("cluster.log", false, "send the cluster's component logs to stderr")
)

// TestSchedules runs a short budget of randomized schedules, each mixing
// the workload with faults and checking every invariant. The first seed
// is drawn from the time and printed; -seed N replays one.
func TestSchedules(t *testing.T) {
	n := *schedulesFlag
	if n == 0 {
		n = 4
		if testing.Short() {
			n = 1
		}
	}
	base := uint64(time.Now().UnixNano() % 1_000_000)
	seeds := make([]uint64, 0, n)
	if *seedFlag != 0 {
		seeds = append(seeds, *seedFlag)
	} else {
		for i := range n {
			seeds = append(seeds, base+uint64(i))
		}
	}
	t.Logf("schedule seeds %v (replay one with: go test ./testcluster -run TestSchedules -seed N)", seeds)
	for _, seed := range seeds {
		runSchedule(t, Schedule{Seed: seed})
	}
}

// runSchedule runs one schedule and fails with its seed on any violation.
func runSchedule(t *testing.T, s Schedule) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.Logf = t.Logf
	if *verboseFlag {
		s.Options.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	res, err := Run(ctx, s)
	if err != nil {
		t.Fatalf("seed %d: %v", s.Seed, err)
	}
	t.Log(res.Summary())
	for _, v := range res.Violations {
		t.Errorf("seed %d: %v", s.Seed, v)
	}
	for _, e := range res.Internal {
		t.Logf("seed %d: internal error answered: %s", s.Seed, e)
	}
	return res
}
