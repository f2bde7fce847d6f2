package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/patron/patron/engine"
)

// CatchUpConfig sizes the catch-up scenario. The zero value of every
// field is valid and documents its default.
type CatchUpConfig struct {
	// Events is how many sale events accumulate at HQ while the store is
	// offline. Default 50,000.
	Events int
	// Origins is how many other stores those events come from. Default 50.
	Origins int
}

func (c CatchUpConfig) withDefaults() CatchUpConfig {
	setDefault(&c.Events, 50000)
	setDefault(&c.Origins, 50)
	return c
}

// CatchUpResult is what the catch-up scenario measured.
type CatchUpResult struct {
	Config CatchUpConfig
	Events int // events the store downloaded
	// Accumulate is how long HQ took to commit the events (through Raft,
	// as the other stores' sessions would); Elapsed is from the store's
	// reconnect to its version vector covering the leader's.
	Accumulate time.Duration
	Elapsed    time.Duration
}

// EventsPerSecond is the catch-up rate.
func (r CatchUpResult) EventsPerSecond() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// RunCatchUp starts a chain and a store, syncs the store, takes it
// offline, commits cfg.Events sale events of cfg.Origins other origins
// at HQ, reconnects the store and measures how long it takes to hold
// everything the HQ leader holds (polled every pollEvery).
func RunCatchUp(ctx context.Context, cc ChainConfig, cfg CatchUpConfig) (CatchUpResult, error) {
	cfg = cfg.withDefaults()
	res := CatchUpResult{Config: cfg}
	corpus, err := NewCorpus(ctx, cc.Dir, 64, 256)
	if err != nil {
		return res, err
	}
	perOrigin := (cfg.Events + cfg.Origins - 1) / cfg.Origins
	work := make([][]engine.RawEvent, cfg.Origins)
	for i := range work {
		if work[i], err = corpus.Sales(fmt.Sprintf("C%03d", i), 1, perOrigin); err != nil {
			return res, err
		}
	}
	c, err := StartChain(ctx, cc)
	if err != nil {
		return res, err
	}
	defer c.Close()
	s, err := c.AddStore(ctx, "Z01", true)
	if err != nil {
		return res, err
	}
	if _, err := c.appendEvents(ctx, corpus.Setup); err != nil {
		return res, err
	}
	if err := c.waitSynced(ctx, s); err != nil {
		return res, err
	}
	if err := s.Disconnect(); err != nil {
		return res, err
	}

	start := time.Now()
	if err := c.appendAll(ctx, work, 256); err != nil {
		return res, err
	}
	res.Accumulate = time.Since(start)
	res.Events = perOrigin * cfg.Origins

	start = time.Now()
	if err := s.Connect(ctx); err != nil {
		return res, err
	}
	if err := c.waitSynced(ctx, s); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// waitSynced waits until s holds everything the HQ leader holds now.
func (c *Chain) waitSynced(ctx context.Context, s *Store) error {
	_, leader, err := c.waitLeader(ctx)
	if err != nil {
		return err
	}
	want, err := leader.VersionVector(ctx)
	if err != nil {
		return err
	}
	return poll(ctx, s.ID+" synced with HQ", func() (bool, error) {
		vv, err := s.Node.VersionVector(ctx)
		return err == nil && covers(vv, want), err
	})
}

// appendAll commits each origin's events at HQ, the origins at once and
// perCall events per AppendEvents call.
func (c *Chain) appendAll(ctx context.Context, work [][]engine.RawEvent, perCall int) error {
	errs := make(chan error, len(work))
	var wg sync.WaitGroup
	for _, evs := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(evs) > 0 {
				n := min(perCall, len(evs))
				if _, err := c.appendEvents(ctx, evs[:n]); err != nil {
					errs <- err
					return
				}
				evs = evs[n:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
