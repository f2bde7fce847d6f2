package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication/hq"
)

// ThroughputConfig sizes the HQ throughput scenario. The zero value of
// every field is valid and documents its default.
type ThroughputConfig struct {
	// Events is how many sale events are committed. Default 60,000:
	// about 20 s with fsync on a 2-core machine.
	Events int
	// Callers is how many goroutines call AppendEvents at once, each for
	// its own origin, as that many store sessions would. Default 64.
	Callers int
	// PerCall is the events of one AppendEvents call (one sync batch of a
	// store). Default 16.
	PerCall int
}

func (c ThroughputConfig) withDefaults() ThroughputConfig {
	setDefault(&c.Events, 60000)
	setDefault(&c.Callers, 64)
	setDefault(&c.PerCall, 16)
	return c
}

// ThroughputResult is what the HQ throughput scenario measured.
type ThroughputResult struct {
	Config     ThroughputConfig
	Events     int           // committed
	EventBytes int           // mean encoded size
	Elapsed    time.Duration // first call to last commit
	Entries    uint64        // Raft entries the events took
	Retries    int           // calls repeated after a leader change
}

// EventsPerSecond is the committed rate.
func (r ThroughputResult) EventsPerSecond() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// EventsPerEntry is the mean grouping of events into Raft entries.
func (r ThroughputResult) EventsPerEntry() float64 {
	return float64(r.Events) / float64(max(r.Entries, 1))
}

// RunThroughput starts a chain and commits cfg.Events real sale events
// through the Raft leader's AppendEvents (hq.Node) from cfg.Callers
// goroutines: each entry is fsynced in the Raft log of a quorum and
// applied, fsynced, to each HQ node's bbolt store. The events are made
// before the clock starts.
func RunThroughput(ctx context.Context, cc ChainConfig, cfg ThroughputConfig) (ThroughputResult, error) {
	cfg = cfg.withDefaults()
	res := ThroughputResult{Config: cfg}
	corpus, err := NewCorpus(ctx, cc.Dir, 64, 256)
	if err != nil {
		return res, err
	}
	res.EventBytes = corpus.MeanBytes()
	perCaller := (cfg.Events + cfg.Callers - 1) / cfg.Callers
	work := make([][]engine.RawEvent, cfg.Callers)
	for i := range work {
		if work[i], err = corpus.Sales(fmt.Sprintf("B%03d", i), 1, perCaller); err != nil {
			return res, err
		}
	}
	c, err := StartChain(ctx, cc)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if _, err := c.appendEvents(ctx, corpus.Setup); err != nil {
		return res, err
	}
	entries0, _, err := c.raftEntries()
	if err != nil {
		return res, err
	}
	var (
		retries atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	start := time.Now()
	for _, evs := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(evs) > 0 {
				n := min(cfg.PerCall, len(evs))
				r, err := c.appendEvents(ctx, evs[:n])
				retries.Add(int64(r))
				if err != nil {
					errOnce.Do(func() { firstEr = err })
					return
				}
				evs = evs[n:]
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstEr != nil {
		return res, firstEr
	}
	entries1, _, err := c.raftEntries()
	if err != nil {
		return res, err
	}
	res.Events, res.Entries, res.Retries = perCaller*cfg.Callers, entries1-entries0, int(retries.Load())
	return res, nil
}

// appendEvents commits events through whichever HQ node leads, as the
// sync server's applier does: a follower's refusal or an unknown outcome
// is retried (events are idempotent by origin and seq). It returns the
// number of retries.
func (c *Chain) appendEvents(ctx context.Context, events []engine.RawEvent) (int, error) {
	for retries := 0; ; retries++ {
		h, _, err := c.waitLeader(ctx)
		if err != nil {
			return retries, err
		}
		_, err = h.Raft().AppendEvents(ctx, events)
		var nl *hq.NotLeaderError
		switch {
		case err == nil:
			return retries, nil
		case ctx.Err() != nil:
			return retries, err
		case errors.As(err, &nl), errors.Is(err, hq.ErrUnknownOutcome):
			continue
		default:
			return retries, fmt.Errorf("bench: append events: %w", err)
		}
	}
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
