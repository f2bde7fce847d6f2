package testcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Workload pacing: each till pauses between requests, so a schedule's
// tills make a few hundred requests per second between them and leave
// CPU to the faults and the race detector.
const (
	tillPauseMin = 5 * time.Millisecond
	tillPauseMax = 25 * time.Millisecond
)

// Mobile is the i-th member of a run's pool of members.
func Mobile(i int) string { return fmt.Sprintf("+9198%08d", 10000+i) }

// tillRun is one till's workload state across a schedule.
type tillRun struct {
	till     *Till
	rng      *rand.Rand
	members  []string
	receipts int
	returns  int
	sold     []soldReceipt // acknowledged sales with a member
	// crash selects the crash soak's mix (crashStep): sales with a
	// member, redemptions and a few returns, the operations whose loss or
	// duplication a crash could cause.
	crash bool
}

type soldReceipt struct {
	id, member string
	qty        int
	returned   int
	voided     bool
}

// run makes requests until stop is closed.
func (w *tillRun) run(ctx context.Context, stop <-chan struct{}, round int) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if w.crash {
			w.crashStep(ctx)
		} else {
			w.step(ctx, round)
		}
		pause := tillPauseMin + time.Duration(w.rng.Int64N(int64(tillPauseMax-tillPauseMin)))
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(pause): // pacing of the workload, not a wait for state
		}
	}
}

// step makes one request chosen by the till's seed.
func (w *tillRun) step(ctx context.Context, round int) {
	t, rng := w.till, w.rng
	member := w.members[rng.IntN(len(w.members))]
	drops := w.drops()
	switch a := rng.IntN(100); {
	case a < 12:
		t.Enroll(ctx, member, drops)
	case a < 20:
		_, _ = t.Identify(ctx, member) // reads are not checked, only exercised
	case a < 26:
		_ = t.Evaluate(ctx, member, 1+rng.IntN(3))
	case a < 62:
		if rng.IntN(5) == 0 {
			member = ""
		}
		w.sale(ctx, member, 0, drops)
	case a < 80:
		// A small basket paid in points: it earns almost nothing, so
		// concurrent redemptions can overdraw. The node bounds offline
		// redemption per member per offline spell, so any number may be
		// tried.
		w.receipts++
		redeem := int64(20 + rng.IntN(130))
		t.SaleAt(ctx, fmt.Sprint(w.receipts), member, 1, redeem+50, redeem, drops)
	case a < 92:
		if s := w.pick(false); s != nil {
			w.returns++
			op := t.Return(ctx, s.id, fmt.Sprintf("r%d", w.returns), s.member, 1, drops)
			if op.Outcome == Acked {
				s.returned++
			}
		}
	default:
		if s := w.pick(true); s != nil {
			w.returns++
			op := t.Void(ctx, s.id, fmt.Sprintf("v%d", w.returns), s.member, drops)
			if op.Outcome == Acked {
				s.voided = true
			}
		}
	}
}

// drops draws how many times a request's connection is cut before it
// is answered: 8% once, 2% twice.
func (w *tillRun) drops() int {
	switch r := w.rng.IntN(100); {
	case r < 8:
		return 1
	case r < 10:
		return 2
	}
	return 0
}

// crashStep makes one request of the crash soak's mix: the members are
// enrolled beforehand, every sale names one.
func (w *tillRun) crashStep(ctx context.Context) {
	t, rng := w.till, w.rng
	member := w.members[rng.IntN(len(w.members))]
	drops := w.drops()
	switch a := rng.IntN(100); {
	case a < 60:
		w.sale(ctx, member, 0, drops)
	case a < 85:
		// Online while the store reaches the HQ leader, else within the
		// offline allowance.
		w.receipts++
		redeem := int64(20 + rng.IntN(130))
		t.SaleAt(ctx, fmt.Sprint(w.receipts), member, 1, redeem+50, redeem, drops)
	case a < 93:
		_, _ = t.Identify(ctx, member)
	default:
		if s := w.pick(false); s != nil {
			w.returns++
			if op := t.Return(ctx, s.id, fmt.Sprintf("r%d", w.returns), s.member, 1, drops); op.Outcome == Acked {
				s.returned++
			}
		}
	}
}

func (w *tillRun) sale(ctx context.Context, member string, redeem int64, drops int) {
	w.receipts++
	qty := 1 + w.rng.IntN(3)
	op := w.till.Sale(ctx, fmt.Sprint(w.receipts), member, qty, redeem, drops)
	if op.Outcome == Acked && member != "" {
		w.sold = append(w.sold, soldReceipt{id: op.Ref, member: member, qty: qty})
	}
}

// pick returns a sold receipt with something left to return.
func (w *tillRun) pick(void bool) *soldReceipt {
	if len(w.sold) == 0 {
		return nil
	}
	s := &w.sold[w.rng.IntN(len(w.sold))]
	if s.voided || s.returned >= s.qty || (void && s.returned > 0) {
		return nil
	}
	return s
}

// Trade runs the schedules' workload at every till of c until ctx ends,
// recording into rec, and returns once every till has stopped. seed
// drives the tills; they trade with members Mobile(0) .. Mobile(members-1).
func (c *Cluster) Trade(ctx context.Context, rec *Recorder, seed uint64, members int) {
	rng := rand.New(rand.NewPCG(seed, 0x7ad3))
	var pool []string
	for i := range members {
		pool = append(pool, Mobile(i))
	}
	var wg sync.WaitGroup
	for _, st := range c.Stores {
		for _, id := range st.Tills {
			w := &tillRun{till: NewTill(st, id, rec, rng.Uint64()), rng: rand.New(rand.NewPCG(rng.Uint64(), 1)), members: pool}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer w.till.Close()
				w.run(ctx, ctx.Done(), 0)
			}()
		}
	}
	wg.Wait()
}
