package hq

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
)

// fsm applies committed entries to the HoldStore. It keeps no state of its
// own that could diverge between replicas: the store holds the effects and
// the last applied index, and skips an index at or below it (raft
// re-applies entries after a restart). The only local flag is failed,
// which stops applying after a store failure (fail-stop).
type fsm struct {
	store replication.HoldStore
	ctx   context.Context // the node's; cancelled only after raft stopped
	m     *metrics
	// fail is called once, from the apply goroutine, when the store fails;
	// it must not block on raft.
	fail   func(error)
	failed atomic.Bool
}

// applyResult is the response of one applied entry (raft's
// ApplyFuture.Response on the leader).
type applyResult struct {
	kind     commandKind
	vv       engine.VersionVector // kindApplyEvents
	decision engine.HoldDecision  // kindPlaceHold
	expired  int                  // kindExpireHolds
	err      error                // a deterministic refusal, or ErrStoreFailed
}

// Apply applies one committed entry at its index.
func (f *fsm) Apply(l *raft.Log) any {
	if f.failed.Load() {
		return &applyResult{err: ErrStoreFailed}
	}
	c, err := decodeCommand(l.Data)
	if err != nil {
		// Every replica decodes the same bytes the same way: a
		// deterministic refusal. The store is not called, so its index
		// does not move; that is harmless (indexes only need to grow).
		return &applyResult{err: err}
	}
	res := &applyResult{kind: c.kind}
	switch c.kind {
	case kindApplyEvents:
		res.vv, res.err = f.store.ApplyEventsAt(f.ctx, l.Index, c.events)
	case kindPlaceHold:
		res.decision, res.err = f.store.PlaceHold(f.ctx, l.Index, c.hold)
	case kindVoidHold:
		res.err = f.store.VoidHold(f.ctx, l.Index, c.holdID)
	case kindExpireHolds:
		res.expired, res.err = f.store.ExpireHolds(f.ctx, l.Index, c.cutoff)
	default:
		panic(fmt.Sprintf("hq: decodeCommand returned unknown kind %d", c.kind))
	}
	if res.err != nil && !deterministicRefusal(res.err) {
		f.failed.Store(true)
		err := fmt.Errorf("%w: %s at index %d: %w", ErrStoreFailed, c.kind, l.Index, res.err)
		f.fail(err)
		return &applyResult{kind: c.kind, err: err}
	}
	f.m.entriesApplied.WithLabelValues(c.kind.String()).Inc()
	return res
}

// Snapshot returns a snapshot that streams the store when persisted.
// Raft calls Persist after further entries may have been applied, so the
// stream can be newer than the snapshot's index; that is safe because the
// stream carries the store's own applied index and the store skips the
// entries raft replays on top of it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.failed.Load() {
		return nil, ErrStoreFailed
	}
	return &fsmSnapshot{store: f.store, ctx: f.ctx}, nil
}

// Restore replaces the store's state with a snapshot's (a follower
// installing the leader's snapshot).
func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	if err := f.store.RestoreSnapshot(f.ctx, r); err != nil {
		return fmt.Errorf("hq: restore snapshot: %w", err)
	}
	return nil
}

type fsmSnapshot struct {
	store replication.HoldStore
	ctx   context.Context
}

// Persist streams HoldStore.WriteSnapshot (one read transaction) into the
// sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.store.WriteSnapshot(s.ctx, sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("hq: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
