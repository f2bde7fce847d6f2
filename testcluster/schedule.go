package testcluster

import (
	"context"
	"errors"
	"fmt"
	"github.com/patron/patron/node"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/patron/patron/replication/faultnet"
)

// Schedule is one seeded run: a cluster, tills trading through rounds of
// faults, and after each round a heal and a wait for convergence; at the
// end the checker's verdict.
type Schedule struct {
	// Seed drives the cluster, the workload and the faults.
	Seed uint64
	// Rounds of faults, each followed by a heal. Default 2.
	Rounds int
	// RoundFor is how long tills trade under faults per round. Default
	// 3 s.
	RoundFor time.Duration
	// Members is the pool of mobiles the tills use. Default 10.
	Members int
	// Options configure the cluster; Seed and OfflineAllowance are set
	// from the seed unless Options.OfflineAllowance is already set.
	Options Options
	// NoFaults runs the workload without faults (a baseline, and the
	// negative controls' second half).
	NoFaults bool
	// Logf, if set, receives the fault actions as they happen.
	Logf func(format string, args ...any)
}

// Result is what a schedule did and what the checker found.
type Result struct {
	Seed       uint64
	Ops        []TillOp
	Violations []Violation
	Faults     FaultCounts
	// Events counts till requests sent and replication batches applied.
	Events uint64
	// Converged is the time from each heal to convergence.
	Converged []time.Duration
	// Internal lists internal errors tills saw.
	Internal []string
}

// Summary is the result on one line.
func (r Result) Summary() string {
	var maxConv time.Duration
	for _, d := range r.Converged {
		maxConv = max(maxConv, d)
	}
	return fmt.Sprintf("seed=%d ops=%d events=%d converge_max=%v violations=%d %s",
		r.Seed, len(r.Ops), r.Events, maxConv.Round(time.Millisecond), len(r.Violations), r.Faults)
}

// Run runs a schedule. An error means the harness could not run it (a
// cluster that did not start, convergence not reached within
// ConvergeBound is a violation, not an error).
func Run(ctx context.Context, s Schedule) (Result, error) {
	if s.Rounds == 0 {
		s.Rounds = 2
	}
	if s.RoundFor == 0 {
		s.RoundFor = 3 * time.Second
	}
	if s.Members == 0 {
		s.Members = 10
	}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	opts := s.Options
	opts.Seed = s.Seed
	if opts.OfflineAllowance == 0 && opts.Programme == nil {
		opts.OfflineAllowance = []int64{0, 50, 100}[rng.IntN(3)]
	}
	res := Result{Seed: s.Seed}
	c, err := New(ctx, opts)
	if err != nil {
		return res, err
	}
	defer c.Close()
	s.Logf("seed %d: %d HQ, %d stores, allowance %d", s.Seed, len(c.HQs), len(c.Stores), opts.OfflineAllowance)

	rec := &Recorder{}
	var members []string
	for i := range s.Members {
		members = append(members, Mobile(i))
	}
	var runs []*tillRun
	for _, st := range c.Stores {
		for _, id := range st.Tills {
			t := NewTill(st, id, rec, rng.Uint64())
			defer t.Close()
			runs = append(runs, &tillRun{till: t, rng: rand.New(rand.NewPCG(rng.Uint64(), 1)), members: members})
		}
	}
	for round := range s.Rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, w := range runs {
			wg.Add(1)
			go func() { defer wg.Done(); w.run(ctx, stop, round) }()
		}
		ferr := error(nil)
		if s.NoFaults {
			select {
			case <-ctx.Done():
			case <-time.After(s.RoundFor): // the round's length
			}
		} else {
			ferr = injectFaults(ctx, c, rng, s.RoundFor, s.Logf)
		}
		close(stop)
		c.HealAll()
		rerr := c.RestartAll(ctx)
		wg.Wait()
		if ferr != nil || rerr != nil {
			return res, fmt.Errorf("testcluster: seed %d round %d: %v %v", s.Seed, round, ferr, rerr)
		}
		d, err := c.WaitConverged(ctx, ConvergeBound, c.opts.WrongKey...)
		res.Converged = append(res.Converged, d)
		s.Logf("round %d: healed, converged in %v", round, d.Round(time.Millisecond))
		if err != nil {
			res.Violations = append(res.Violations, Violation{"converge-bound", fmt.Sprintf("round %d: %v", round, err)})
		}
	}
	res.Ops = rec.Ops()
	res.Internal = rec.Internal()
	views, err := c.Views(ctx, c.opts.WrongKey...)
	if err != nil {
		return res, err
	}
	// Any store may find HQ unreachable (partitions, loss, a leader
	// kill): the bound allows for all of them at once.
	res.Violations = append(res.Violations, Check(res.Ops, views, Limits{OfflineAllowance: opts.OfflineAllowance,
		MaxPartitionedStores: len(c.Stores)})...)
	res.Faults = c.Faults()
	res.Events = rec.Events()
	for _, nn := range c.nodes() {
		res.Events += nn.trace.Batches()
	}
	return res, nil
}

// injectFaults runs the fault half of a round: every 150–500 ms one
// action drawn from rng, for the round's length.
func injectFaults(ctx context.Context, c *Cluster, rng *rand.Rand, d time.Duration, logf func(string, ...any)) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(150+rng.IntN(350)) * time.Millisecond): // pacing between faults
		}
		if err := faultAction(ctx, c, rng, logf); err != nil {
			return err
		}
	}
	return nil
}

// faultAction takes one fault action.
func faultAction(ctx context.Context, c *Cluster, rng *rand.Rand, logf func(string, ...any)) error {
	store := c.Stores[rng.IntN(len(c.Stores))].ID
	dirs := []faultnet.Dir{BothWays, ToHQ, FromHQ}
	switch a := rng.IntN(100); {
	case a < 13:
		dir := dirs[rng.IntN(3)]
		logf("partition %s dir=%d", store, dir)
		c.Partition(store, dir)
	case a < 17:
		logf("partition HQ from every store")
		c.PartitionHQ()
	case a < 30:
		f := faultnet.Faults{Drop: rng.Float64() * 0.3, Duplicate: rng.Float64() * 0.5, Reorder: rng.Float64() * 0.3,
			Delay: time.Duration(rng.IntN(5)) * time.Millisecond, Jitter: time.Duration(rng.IntN(10)) * time.Millisecond}
		dir := dirs[rng.IntN(3)]
		logf("lossy link %s dir=%d %+v", store, dir, f)
		return c.SetLinkFaults(store, dir, f)
	case a < 43:
		logf("heal %s", store)
		c.Heal(store)
	case a < 49:
		if up := c.upHQ(); up == len(c.HQs) {
			i, err := c.KillLeader()
			logf("kill HQ leader %d", i)
			return err
		}
	case a < 52:
		if up := c.upHQ(); up == len(c.HQs) {
			i := rng.IntN(len(c.HQs))
			logf("kill HQ%d", i+1)
			return c.KillHQ(i)
		}
	case a < 60:
		for i, m := range c.HQs {
			if m.HQ() == nil {
				logf("restart HQ%d", i+1)
				return c.RestartHQ(ctx, i)
			}
		}
	case a < 67:
		logf("crash %s", store)
		if err := c.CrashStore(store); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rng.IntN(300)) * time.Millisecond): // how long the store stays down
		}
		logf("restart %s", store)
		return c.RestartStore(ctx, store)
	case a < 70:
		// A dead disk loses what never left it; the schedule replaces
		// only a store whose events HQ already holds, so the checker's
		// no-loss invariant still applies to every acknowledged sale.
		logf("crash %s to replace it", store)
		if err := c.CrashStore(store); err != nil {
			return err
		}
		if ok, err := c.storeFileAtHQ(ctx, store); err != nil || !ok {
			logf("restart %s (HQ lacks some of its events: not a disk to lose)", store)
			return errors.Join(err, c.RestartStore(ctx, store))
		}
		logf("replace %s (disk lost: an empty data directory)", store)
		return c.ReplaceStore(ctx, store)
	case a < 80:
		raftCut(c, rng, logf)
	case a < 85:
		logf("heal raft links")
		c.HealRaft()
	default:
		ids := []string{store}
		for _, m := range c.HQs {
			ids = append(ids, m.ID)
		}
		id := ids[rng.IntN(len(ids))]
		off := time.Duration(rng.IntN(240)-120) * time.Second
		logf("clock %s to %+v", id, off)
		c.Clock(id).Set(off)
		c.countClockJump()
	}
	return nil
}

// storeFileAtHQ reports whether the HQ leader holds every event of the
// stopped store's current incarnation, as its data file records them.
func (c *Cluster) storeFileAtHQ(ctx context.Context, store string) (bool, error) {
	s := c.Store(store)
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store, cfg.Logger, cfg.NoSync = filepath.Join(s.dir, "patron.db"), store, c.log, true
	cfg.CatchUpFromHQ = true // a store still catching up stays marked so
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return false, err
	}
	own, err := n.VersionVector(ctx)
	origin := n.Origin()
	if err := errors.Join(err, n.Close()); err != nil {
		return false, err
	}
	return c.leaderHolds(ctx, origin, own[origin]), nil
}

// leaderHolds reports whether the HQ leader holds origin's events up to
// seq. No leader, or one closing under a concurrent kill, is "not now".
func (c *Cluster) leaderHolds(ctx context.Context, origin string, seq uint64) bool {
	l := c.Leader()
	if l < 0 {
		return false
	}
	hq := c.HQs[l].Node()
	if hq == nil {
		return false
	}
	vv, err := hq.VersionVector(ctx)
	return err == nil && vv[origin] >= seq
}

// raftCut cuts Raft links: the leader isolated (a new election, its
// stores redirected), a random HQ isolated, or one pair cut (every node
// still reaches a majority through the third).
func raftCut(c *Cluster, rng *rand.Rand, logf func(string, ...any)) {
	if len(c.HQs) < 2 {
		return
	}
	switch k, leader := rng.IntN(3), c.Leader(); {
	case k == 0 && leader >= 0:
		id := c.HQs[leader].ID
		logf("isolate raft leader %s", id)
		c.IsolateRaft(id)
	case k <= 1:
		id := c.HQs[rng.IntN(len(c.HQs))].ID
		logf("isolate raft %s", id)
		c.IsolateRaft(id)
	default:
		i := rng.IntN(len(c.HQs))
		j := (i + 1 + rng.IntN(len(c.HQs)-1)) % len(c.HQs)
		logf("cut raft %s-%s", c.HQs[i].ID, c.HQs[j].ID)
		c.CutRaft(c.HQs[i].ID, c.HQs[j].ID)
	}
}

// upHQ counts the HQ nodes running.
func (c *Cluster) upHQ() int {
	n := 0
	for _, m := range c.HQs {
		if m.HQ() != nil {
			n++
		}
	}
	return n
}
