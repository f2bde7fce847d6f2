package testcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
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
		w.step(ctx, round)
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
	drops := 0
	switch r := rng.IntN(100); {
	case r < 8:
		drops = 1
	case r < 10:
		drops = 2
	}
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
