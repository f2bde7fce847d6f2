package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// VisibilityConfig sizes the visibility scenario. The zero value of
// every field is valid and documents its default.
type VisibilityConfig struct {
	// Stores is how many stores sell. Default 100. One more store, the
	// observer, only receives.
	Stores int
	// Rate is each selling store's target sales per second, one till
	// each. Default 10.
	Rate float64
	// Duration is how long the stores sell. Default 20 s.
	Duration time.Duration
	// Members is how many members each store enrols and sells to.
	// Default 4.
	Members int
	// Drain bounds the wait, after selling stops, for the observer to see
	// every sale. Default 60 s.
	Drain time.Duration
	// Seed seeds the tills' phases. Default 1.
	Seed uint64
}

func (c VisibilityConfig) withDefaults() VisibilityConfig {
	setDefault(&c.Stores, 100)
	setDefault(&c.Rate, 10)
	setDefault(&c.Duration, 20*time.Second)
	setDefault(&c.Members, 4)
	setDefault(&c.Drain, 60*time.Second)
	setDefault(&c.Seed, 1)
	return c
}

// VisibilityResult is what the visibility scenario measured.
type VisibilityResult struct {
	Config VisibilityConfig
	Setup  time.Duration // starting the stores, programme and enrolments
	// Sales is how many sales completed; Elapsed how long selling took.
	Sales   int
	Elapsed time.Duration
	// Visibility is, per sale, from CompleteSale returning at its store
	// to the sale's event being in the observer's log; Unseen counts
	// sales the observer did not get within Drain.
	Visibility Latencies
	Unseen     int
	// ToHQ is the first hop: from CompleteSale returning to the event
	// being in the log of the node that led HQ when selling started.
	ToHQ Latencies
	// Sale is CompleteSale's own latency (the store's fsynced commit).
	Sale Latencies
}

// Target is how many sales the stores were to complete: fewer completed
// when the machine could not sustain Rate (a till drops a tick that comes
// while its previous sale still runs).
func (r VisibilityResult) Target() int {
	return int(float64(r.Config.Stores) * r.Config.Rate * r.Config.Duration.Seconds())
}

// SalesPerSecond is the achieved aggregate sale rate.
func (r VisibilityResult) SalesPerSecond() float64 { return float64(r.Sales) / r.Elapsed.Seconds() }

// sold is one store's record of its sales: the event seq of its first
// sale and when each CompleteSale returned.
type sold struct {
	origin string
	base   uint64 // the store's own seq before its first sale
	done   []time.Time
	took   []time.Duration
}

// RunVisibility starts a chain with cfg.Stores selling stores and one
// observer store, has every selling store complete sales at cfg.Rate for
// cfg.Duration, and measures how long each sale takes to appear in the
// observer's log (polled every pollEvery).
func RunVisibility(ctx context.Context, cc ChainConfig, cfg VisibilityConfig) (VisibilityResult, error) {
	cfg = cfg.withDefaults()
	res := VisibilityResult{Config: cfg}
	setupStart := time.Now()
	c, err := StartChain(ctx, cc)
	if err != nil {
		return res, err
	}
	defer c.Close()
	observer, stores, err := c.startStores(ctx, cfg.Stores, cfg.Members)
	if err != nil {
		return res, err
	}
	res.Setup = time.Since(setupStart)

	records := make([]*sold, len(stores))
	for i, s := range stores {
		vv, err := s.Node.VersionVector(ctx)
		if err != nil {
			return res, err
		}
		records[i] = &sold{origin: s.Node.Origin(), base: vv[s.Node.Origin()]}
	}
	_, leader, err := c.waitLeader(ctx)
	if err != nil {
		return res, err
	}
	obs, atHQ := newSightings(records), newSightings(records)
	obsCtx, stopObs := context.WithCancel(ctx)
	obsDone := make(chan error, 2)
	go func() { obsDone <- obs.watch(obsCtx, observer.Node) }()
	go func() { obsDone <- atHQ.watch(obsCtx, leader) }()
	stopWatching := func() error {
		stopObs()
		return errors.Join(<-obsDone, <-obsDone)
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for i, s := range stores {
		phase := time.Duration(rng.Int64N(int64(interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := till(ctx, s, i, cfg, phase, interval, start.Add(cfg.Duration), records[i]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	close(errs)
	for err := range errs {
		stopWatching()
		return res, err
	}
	for _, r := range records {
		res.Sales += len(r.done)
		res.Sale = append(res.Sale, r.took...)
	}
	obs.expect(records)
	atHQ.expect(records)
	drainCtx, cancel := context.WithTimeout(ctx, cfg.Drain)
	defer cancel()
	obs.waitAll(drainCtx)
	atHQ.waitAll(drainCtx)
	if err := stopWatching(); err != nil {
		return res, err
	}
	res.Visibility, res.Unseen = obs.latencies(records)
	res.ToHQ, _ = atHQ.latencies(records)
	return res, nil
}

// startStores adds the observer and n selling stores, loads the
// programme at the first, waits until every store has it and is online,
// enrols members at each selling store and waits until the observer
// holds every enrolment: the load starts from a synced chain.
func (c *Chain) startStores(ctx context.Context, n, members int) (observer *Store, stores []*Store, err error) {
	if observer, err = c.AddStore(ctx, "OBS", true); err != nil {
		return nil, nil, err
	}
	for i := range n {
		s, err := c.AddStore(ctx, fmt.Sprintf("S%03d", i+1), true)
		if err != nil {
			return nil, nil, err
		}
		stores = append(stores, s)
	}
	if _, err := stores[0].Node.LoadProgramme(ctx, programme()); err != nil {
		return nil, nil, err
	}
	all := append([]*Store{observer}, stores...)
	if err := poll(ctx, "the programme at every store", func() (bool, error) {
		for _, s := range all {
			if s.Node.Programme() == nil || !s.Online() {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return nil, nil, err
	}
	err = parallel(stores, func(i int, s *Store) error {
		for m := range members {
			if _, err := s.Node.Enroll(ctx, "T01", node.EnrollRequest{Mobile: mobileOf(i+1, m), FirstName: "Member"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	want := engine.VersionVector{}
	for _, s := range stores {
		vv, err := s.Node.VersionVector(ctx)
		if err != nil {
			return nil, nil, err
		}
		want[s.Node.Origin()] = vv[s.Node.Origin()]
	}
	err = poll(ctx, "every enrolment at the observer", func() (bool, error) {
		vv, err := observer.Node.VersionVector(ctx)
		return err == nil && covers(vv, want), err
	})
	return observer, stores, err
}

// till completes sales at s every interval (after phase) until end. A
// tick that comes while the previous sale still runs is dropped, not
// queued (time.Ticker drops it): a till does not sell faster to catch up.
func till(ctx context.Context, s *Store, idx int, cfg VisibilityConfig, phase, interval time.Duration, end time.Time, rec *sold) error {
	select {
	case <-time.After(phase):
	case <-ctx.Done():
		return ctx.Err()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		now := time.Now()
		if now.After(end) {
			return nil
		}
		_, err := s.Node.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: strconv.Itoa(i + 1),
			Member: &node.Identifier{Mobile: mobileOf(idx+1, i%cfg.Members)}, Basket: basket(i)})
		done := time.Now()
		if err != nil {
			return fmt.Errorf("bench: sale at %s: %w", s.ID, err)
		}
		rec.done = append(rec.done, done)
		rec.took = append(rec.took, done.Sub(now))
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parallel runs fn for every store at once and returns the first error.
func parallel(stores []*Store, fn func(i int, s *Store) error) error {
	errs := make(chan error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn(i, s)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
