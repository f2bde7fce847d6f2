package hq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/patron/patron/engine"
)

// appendReq is one AppendEvents chunk waiting for the proposer.
type appendReq struct {
	events []engine.RawEvent
	bytes  int               // Σ eventSize
	done   chan appendResult // capacity 1: the proposer never blocks on it
}

type appendResult struct {
	vv  engine.VersionVector
	err error
}

// AppendEvents commits store events through Raft and returns the leader's
// version vector after them; leader only. Concurrent calls are grouped
// into one Raft entry (up to MaxBatchEvents / MaxBatchBytes), so many
// events share one log write and one round trip. A call larger than one
// entry is split into several, in order.
//
// Events already held are skipped; a gap (engine.ErrEventGap) or a
// malformed event (engine.ErrBadEvent) refuses the caller's events, not
// the other callers' grouped with them. On a follower it returns
// *NotLeaderError. An error wrapping ErrUnknownOutcome means the events
// may or may not be committed: send them again (to the new leader); they
// are idempotent by (origin, seq). Any other error means nothing was
// committed by this call, and ErrInvalid (no events, an event the
// encoding cannot carry) that it was refused before proposing. The caller
// must not modify the events' Data afterwards (events are immutable).
func (n *Node) AppendEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events", ErrInvalid)
	}
	for _, e := range events {
		if err := validateEvent(e); err != nil {
			return nil, err
		}
	}
	if err := n.checkLeader(); err != nil {
		return nil, err
	}
	reqs := n.chunk(events)
	for i, r := range reqs {
		select {
		case n.appends <- r:
		case <-ctx.Done():
			if i == 0 {
				return nil, fmt.Errorf("hq: append events: %w", ctx.Err())
			}
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
		case <-n.closing:
			if i == 0 {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ErrClosed)
		}
	}
	var vv engine.VersionVector
	for _, r := range reqs {
		select {
		case res := <-r.done:
			if res.err != nil {
				return nil, res.err
			}
			vv = res.vv
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
		case <-n.closing:
			// The proposer answers everything it took; a request that
			// slipped in after it stopped is never proposed, but which
			// case happened is not known here.
			return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, ErrClosed)
		}
	}
	return vv, nil
}

// chunk splits events into requests that each fit one entry.
func (n *Node) chunk(events []engine.RawEvent) []*appendReq {
	var out []*appendReq
	cur := &appendReq{done: make(chan appendResult, 1)}
	for _, e := range events {
		sz := eventSize(e)
		if len(cur.events) > 0 && (len(cur.events) >= n.cfg.MaxBatchEvents || cur.bytes+sz > n.cfg.MaxBatchBytes) {
			out = append(out, cur)
			cur = &appendReq{done: make(chan appendResult, 1)}
		}
		cur.events = append(cur.events, e)
		cur.bytes += sz
	}
	return append(out, cur)
}

// propose is the proposer goroutine: it takes the first waiting request,
// adds every request that arrived meanwhile (while the previous entry was
// in flight) up to the batch limits, proposes them as one entry and waits
// for it. One entry in flight at a time keeps the grouping high; raft's
// own pipelining still overlaps the followers' writes.
func (n *Node) propose() {
	var carry *appendReq
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case <-n.closing:
				n.drainAppends()
				return
			case first = <-n.appends:
			}
		}
		group := []*appendReq{first}
		count, bytes := len(first.events), first.bytes
	fill:
		for {
			select {
			case r := <-n.appends:
				if count+len(r.events) > n.cfg.MaxBatchEvents || bytes+r.bytes > n.cfg.MaxBatchBytes {
					carry = r
					break fill
				}
				group = append(group, r)
				count, bytes = count+len(r.events), bytes+r.bytes
			default:
				break fill
			}
		}
		select {
		case <-n.closing:
			for _, r := range append(group, carry) {
				if r != nil {
					r.done <- appendResult{err: ErrClosed}
				}
			}
			n.drainAppends()
			return
		default:
		}
		n.proposeGroup(group)
	}
}

// proposeGroup proposes group's events as one entry and answers each
// request. A deterministic refusal (gap, malformed event) refuses the
// whole entry, so the requests are then proposed one by one to refuse
// only the one at fault.
func (n *Node) proposeGroup(group []*appendReq) {
	events := mergeEvents(group)
	n.m.eventsPerEntry.Observe(float64(len(events)))
	res, err := n.apply(command{kind: kindApplyEvents, events: events})
	if err == nil && res.err != nil && len(group) > 1 && deterministicRefusal(res.err) {
		for _, r := range group {
			n.proposeGroup([]*appendReq{r})
		}
		return
	}
	var vv engine.VersionVector
	if err == nil {
		vv, err = res.vv, res.err
	}
	for i, r := range group {
		if i > 0 && vv != nil {
			vv = maps.Clone(vv) // each caller owns its vector
		}
		r.done <- appendResult{vv: vv, err: err}
	}
}

// mergeEvents concatenates the requests' events in (origin, seq) order,
// dropping repeats of an (origin, seq). Sorting is safe because events of
// different origins commute and one origin's must be in seq order anyway;
// it also heals two callers whose ranges of one origin arrived swapped.
func mergeEvents(group []*appendReq) []engine.RawEvent {
	var all []engine.RawEvent
	if len(group) == 1 {
		all = slices.Clone(group[0].events)
	} else {
		for _, r := range group {
			all = append(all, r.events...)
		}
	}
	slices.SortStableFunc(all, func(a, b engine.RawEvent) int {
		return cmp.Or(cmp.Compare(a.Origin, b.Origin), cmp.Compare(a.Seq, b.Seq))
	})
	return slices.CompactFunc(all, func(a, b engine.RawEvent) bool {
		return a.Origin == b.Origin && a.Seq == b.Seq
	})
}

// drainAppends answers ErrClosed to every queued request: none was
// proposed.
func (n *Node) drainAppends() {
	for {
		select {
		case r := <-n.appends:
			r.done <- appendResult{err: ErrClosed}
		default:
			return
		}
	}
}

// PlaceHold asks the cluster to reserve h.Points of h.Member; leader
// only. h.At is set from the leader's clock before proposing, so every
// replica decides the same. A repeat of an id returns its first decision
// (a refused hold stays refused). Errors are as for AppendEvents: retry
// an ErrUnknownOutcome with the same id.
func (n *Node) PlaceHold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	h.At = n.cfg.Now().UTC()
	if err := validateHold(h); err != nil {
		return engine.HoldDecision{}, err
	}
	res, err := n.applyCtx(ctx, command{kind: kindPlaceHold, hold: h})
	if err != nil {
		return engine.HoldDecision{}, err
	}
	if res.err != nil {
		return engine.HoldDecision{}, res.err
	}
	if res.decision.Granted {
		n.m.holds.WithLabelValues("granted").Inc()
	} else {
		n.m.holds.WithLabelValues("refused").Inc()
	}
	return res.decision, nil
}

// VoidHold releases a pending hold (a failed or abandoned sale); leader
// only. Voiding a posted, expired or unknown hold changes nothing.
func (n *Node) VoidHold(ctx context.Context, id string) error {
	if err := validateID("hold id", id); err != nil {
		return err
	}
	res, err := n.applyCtx(ctx, command{kind: kindVoidHold, holdID: id})
	if err != nil {
		return err
	}
	if res.err == nil {
		n.m.holds.WithLabelValues("voided").Inc()
	}
	return res.err
}

// ExpireHolds expires pending holds placed more than HoldTTL ago by the
// leader's clock and returns how many; leader only. The leader runs it
// every ExpireInterval by itself.
func (n *Node) ExpireHolds(ctx context.Context) (int, error) {
	cutoff := n.cfg.Now().UTC().Add(-n.cfg.HoldTTL)
	res, err := n.applyCtx(ctx, command{kind: kindExpireHolds, cutoff: cutoff})
	if err != nil {
		return 0, err
	}
	if res.err != nil {
		return 0, res.err
	}
	n.m.holds.WithLabelValues("expired").Add(float64(res.expired))
	return res.expired, nil
}

// expireLoop proposes ExpireHolds every ExpireInterval while leader. It
// is the one place that decides about its errors: the next tick retries.
func (n *Node) expireLoop() {
	t := time.NewTicker(n.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
		}
		if !n.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ExpireInterval)
		if _, err := n.ExpireHolds(ctx); err != nil && !errors.Is(err, ErrClosed) {
			n.log.Warn("hq: expire holds", "err", err)
		}
		cancel()
	}
}

// checkLeader refuses a leader-only call on a follower before anything
// is proposed.
func (n *Node) checkLeader() error {
	select {
	case <-n.closing:
		return ErrClosed
	default:
	}
	if n.raft.State() != raft.Leader {
		id, addr := n.Leader()
		return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	return nil
}

// apply proposes c and waits for its result on this node (the proposer's
// synchronous path).
func (n *Node) apply(c command) (*applyResult, error) {
	b, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f := n.raft.Apply(b, n.cfg.EnqueueTimeout)
	if err := f.Error(); err != nil {
		return nil, n.proposeError(err)
	}
	n.m.applyLatency.WithLabelValues(c.kind.String()).Observe(time.Since(start).Seconds())
	return n.response(f)
}

// applyCtx is apply for callers with a ctx: leader check first, and the
// wait ends with ErrUnknownOutcome if ctx ends first.
func (n *Node) applyCtx(ctx context.Context, c command) (*applyResult, error) {
	if err := n.checkLeader(); err != nil {
		return nil, err
	}
	b, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f := n.raft.Apply(b, n.cfg.EnqueueTimeout)
	if err := n.await(ctx, f); err != nil {
		return nil, n.proposeError(err)
	}
	n.m.applyLatency.WithLabelValues(c.kind.String()).Observe(time.Since(start).Seconds())
	return n.response(f)
}

func (n *Node) response(f raft.ApplyFuture) (*applyResult, error) {
	res, ok := f.Response().(*applyResult)
	if !ok {
		panic(fmt.Sprintf("hq: FSM response %T is not *applyResult", f.Response()))
	}
	if errors.Is(res.err, ErrStoreFailed) {
		// Committed, but this replica could not apply it: the others did
		// or will. Only a retry elsewhere can tell the caller the result.
		return nil, fmt.Errorf("%w: %w", ErrUnknownOutcome, res.err)
	}
	return res, nil
}

// await waits for a raft future, honouring ctx. It returns the future's
// error, or ErrUnknownOutcome wrapping why it stopped waiting.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	if !n.track(func() { done <- f.Error() }) {
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, ErrClosed)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// track runs fn as an owned goroutine unless the node is closing.
func (n *Node) track(fn func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Go(fn)
	return true
}
