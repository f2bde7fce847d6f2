package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/patron/patron/node"
)

// ProcConvergeBound is how long after the last restart every process
// must hold the same events. Real processes run production timing: a
// store whose HQ leader was killed notices after the session's 5 s
// silence and redials with a backoff of up to 10 s, so the bound is
// wider than ConvergeBound.
const ProcConvergeBound = 60 * time.Second

// CrashSoak is a run of a chain of real patron processes in which one
// process at a time, HQ node or store, is killed with SIGKILL under till
// load and restarted on the same data directory and ports. The zero
// value of every field but Bin is valid and documents its default.
type CrashSoak struct {
	// Bin is the patron binary. Required.
	Bin string
	// Dir keeps the chain's files (logs included). Default: a temporary
	// directory, removed at the end.
	Dir string
	// Kills is the number of SIGKILLs. Default 100.
	Kills int
	// Seed drives the victims, the pauses and the tills. Default 0.
	Seed uint64
	// Members is the pool of members the tills trade with. Default 10.
	Members int
	// OfflineAllowance is the programme's offline_allowance_points, which
	// redemptions fall back on while HQ is unreachable. Default 50.
	OfflineAllowance int64
	// Logf, if set, receives every kill and restart.
	Logf func(format string, args ...any)
}

// CrashResult is what a crash soak did and what the checker found.
type CrashResult struct {
	Seed uint64
	// Kills counts SIGKILLs by role: "hq" (LeaderKills of them the Raft
	// leader at the time) and "store".
	Kills       map[string]int
	LeaderKills int
	// Sales are sale.complete operations by outcome; Lost and Duplicated
	// count sales with a member whose ledger entries are absent (of an
	// acknowledged sale) or held more than once (of any sale) on any node.
	SalesAcked, SalesUnknown, SalesRefused int
	Lost, Duplicated                       int
	// Refusals counts refused sales by reason.
	Refusals map[string]int
	// Ops counts logical till operations.
	Ops int
	// Converged is the time from the end of the load to every process
	// holding the same events.
	Converged  time.Duration
	Violations []Violation
	// Internal lists internal errors tills saw.
	Internal []string
	// Dir is where the chain's files and logs are.
	Dir string
}

// Summary is the result on one line.
func (r CrashResult) Summary() string {
	return fmt.Sprintf("crashsoak: kills=%d (hq=%d of which leader=%d, store=%d) sales_acked=%d lost=%d duplicated=%d unknown_outcome=%d refused=%d ops=%d converged_in=%v violations=%d internal_errors=%d seed=%d",
		r.Kills["hq"]+r.Kills["store"], r.Kills["hq"], r.LeaderKills, r.Kills["store"], r.SalesAcked, r.Lost, r.Duplicated,
		r.SalesUnknown, r.SalesRefused, r.Ops, r.Converged.Round(time.Millisecond), len(r.Violations), len(r.Internal), r.Seed)
}

// Crash soak pacing: tills trade between kills, and a killed process
// stays down for a moment so tills see refused connections, not only
// cut ones.
const (
	crashLoadMin = 200 * time.Millisecond
	crashLoadMax = 800 * time.Millisecond
	crashDownMax = 300 * time.Millisecond
)

// RunCrashSoak starts the chain, enrols the members, runs the tills of
// every store while it kills and restarts processes, then waits for
// convergence, stops every process with SIGTERM, reads each one's bbolt
// file and runs the checker over what the tills were told and what the
// files hold. An error means the harness could not run (a process that
// did not restart); convergence beyond ProcConvergeBound is a violation.
func RunCrashSoak(ctx context.Context, s CrashSoak) (CrashResult, error) {
	if s.Kills == 0 {
		s.Kills = 100
	}
	if s.Members == 0 {
		s.Members = 10
	}
	if s.OfflineAllowance == 0 {
		s.OfflineAllowance = 50
	}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	res := CrashResult{Seed: s.Seed, Kills: map[string]int{}, Refusals: map[string]int{}}
	rng := rand.New(rand.NewPCG(s.Seed, 0xc7a5))
	chain, err := StartProcChain(ctx, ProcOptions{Bin: s.Bin, Dir: s.Dir, OfflineAllowance: s.OfflineAllowance, Seed: s.Seed})
	if err != nil {
		return res, err
	}
	defer chain.Close()
	res.Dir = chain.Dir()
	s.Logf("chain up in %s: %d HQ, %d stores", chain.Dir(), len(chain.HQProcs()), len(chain.StoreProcs()))

	rec := &Recorder{}
	var members []string
	for i := range s.Members {
		members = append(members, Mobile(i))
	}
	var runs []*tillRun
	for _, pr := range chain.StoreProcs() {
		for _, id := range pr.Store().Tills {
			t := NewTill(pr.Store(), id, rec, rng.Uint64())
			defer t.Close()
			runs = append(runs, &tillRun{till: t, rng: rand.New(rand.NewPCG(rng.Uint64(), 1)), members: members, crash: true})
		}
	}
	for _, m := range members {
		if op := runs[0].till.Enroll(ctx, m, 0); op.Outcome != Acked {
			return res, fmt.Errorf("testcluster: enrolment of %s: %v %s", m, op.Outcome, op.Refusal)
		}
	}
	if _, err := chain.WaitConverged(ctx, ProcConvergeBound); err != nil {
		return res, fmt.Errorf("testcluster: before the kills: %w", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, stop, 0) }()
	}
	kerr := crashKills(ctx, chain, rng, s, &res)
	close(stop)
	wg.Wait()
	if kerr != nil {
		return res, kerr
	}
	d, err := chain.WaitConverged(ctx, ProcConvergeBound)
	res.Converged = d
	s.Logf("converged in %v", d.Round(time.Millisecond))
	if err != nil {
		res.Violations = append(res.Violations, Violation{"converge-bound", err.Error()})
	}
	if err := chain.Stop(); err != nil {
		res.Violations = append(res.Violations, Violation{"clean-stop", err.Error()})
	}
	ops := rec.Ops()
	res.Ops, res.Internal = len(ops), rec.Internal()
	views, err := chain.Views(ctx)
	if err != nil {
		return res, err
	}
	res.Violations = append(res.Violations, Check(ops, views, Limits{OfflineAllowance: s.OfflineAllowance,
		MaxPartitionedStores: len(chain.StoreProcs())})...)
	saleFigures(ops, views, &res)
	return res, nil
}

// crashKills kills a process drawn from rng s.Kills times, each after a
// stretch of load, and restarts it after a moment down.
func crashKills(ctx context.Context, chain *ProcChain, rng *rand.Rand, s CrashSoak, res *CrashResult) error {
	for k := 1; k <= s.Kills; k++ {
		if err := pause(ctx, crashLoadMin+time.Duration(rng.Int64N(int64(crashLoadMax-crashLoadMin)))); err != nil {
			return err
		}
		pr := chain.Procs[rng.IntN(len(chain.Procs))]
		leader := pr.Role == "hq" && chain.isLeader(ctx, pr)
		chain.Kill(pr)
		res.Kills[pr.Role]++
		if leader {
			res.LeaderKills++
		}
		if err := pause(ctx, time.Duration(rng.Int64N(int64(crashDownMax)))); err != nil {
			return err
		}
		start := time.Now()
		if err := chain.Restart(ctx, pr); err != nil {
			return fmt.Errorf("testcluster: kill %d: restart %s: %w", k, pr.Name, err)
		}
		s.Logf("kill %d: %s (leader %v) killed, back in %v", k, pr.Name, leader, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// pause waits d unless ctx ends (pacing of the soak, not a wait for
// state).
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// saleFigures counts sales by outcome and, over every node's files, the
// acknowledged sales whose entries are missing and the sales whose
// entries are held twice.
func saleFigures(ops []TillOp, views []NodeView, res *CrashResult) {
	kinds := make([]map[string]map[string]int, len(views)) // per node: member\x00ref → kind → entries
	for i, v := range views {
		kinds[i] = map[string]map[string]int{}
		for id, m := range v.Members {
			for _, e := range m.Entries {
				k := id + "\x00" + e.Ref
				if kinds[i][k] == nil {
					kinds[i][k] = map[string]int{}
				}
				kinds[i][k][e.Kind]++
			}
		}
	}
	for _, op := range ops {
		if op.Method != "sale.complete" {
			continue
		}
		switch op.Outcome {
		case Acked:
			res.SalesAcked++
		case Unknown:
			res.SalesUnknown++
		case Refused:
			res.SalesRefused++
			res.Refusals[op.Refusal]++
		}
		if op.Member == "" {
			continue
		}
		var earned, redeemed int64
		if op.Outcome == Acked {
			var rc node.Receipt
			if err := json.Unmarshal([]byte(op.Answers[0]), &rc); err == nil {
				earned, redeemed = int64(rc.Points.Earned), int64(rc.Points.Redeemed)
			}
		}
		lost, dup := false, false
		for i := range views {
			got := kinds[i][op.Member+"\x00"+op.Ref]
			lost = lost || (earned > 0 && got["earn"] == 0) || (redeemed > 0 && got["redeem"] == 0)
			dup = dup || got["earn"] > 1 || got["redeem"] > 1
		}
		if lost {
			res.Lost++
		}
		if dup {
			res.Duplicated++
		}
	}
}
