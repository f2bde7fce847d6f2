package replication

import (
	"context"
	"io"
	"time"

	"github.com/patron/patron/engine"
)

// EventLog is a node's event log as replication sees it. *node.Node
// implements it.
type EventLog interface {
	// Origin is this node's own origin id (its store id, or "HQ").
	Origin() string
	// VersionVector returns what the node holds.
	VersionVector(ctx context.Context) (engine.VersionVector, error)
	// EventsAfter returns up to limit events of origin with Seq > after, in
	// Seq order, stopping before maxBytes of Data would be exceeded (but
	// always returning at least one event if there is one).
	EventsAfter(ctx context.Context, origin string, after uint64, limit, maxBytes int) ([]engine.RawEvent, error)
	// ApplyEvents commits events received from another node in one
	// transaction (with fsync) and returns the version vector after it.
	// Events already held are skipped; an event whose Seq is not the next
	// one of its origin after those held and those before it in the batch
	// is refused with engine.ErrEventGap and nothing of the batch is
	// applied; a malformed one is refused with engine.ErrBadEvent.
	ApplyEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error)
	// Committed is signalled (non-blocking, capacity one) after every
	// commit of local events, so sync sessions push them at once.
	Committed() <-chan struct{}
}

// HoldStore is the state the HQ Raft FSM applies to. *node.Node implements
// it. Every method is called from the FSM with the log index of the entry
// being applied; the implementation stores index as the last applied one
// in the same transaction as the effect, and an index at or below the
// stored one changes nothing (Raft re-applies entries after a restart).
type HoldStore interface {
	// AppliedIndex is the last Raft index whose effect is stored.
	AppliedIndex(ctx context.Context) (uint64, error)
	// ApplyEventsAt is ApplyEvents inside the FSM, at Raft index.
	ApplyEventsAt(ctx context.Context, index uint64, events []engine.RawEvent) (engine.VersionVector, error)
	// PlaceHold reserves points of a member for a hold, refusing to take
	// the member's balance less pending holds below zero. A repeat of the
	// same id returns the first decision (a refused hold stays refused).
	PlaceHold(ctx context.Context, index uint64, h engine.Hold) (engine.HoldDecision, error)
	// VoidHold releases a pending hold; voiding a posted, expired or
	// unknown hold changes nothing.
	VoidHold(ctx context.Context, index uint64, id string) error
	// ExpireHolds expires pending holds placed before cutoff.
	ExpireHolds(ctx context.Context, index uint64, cutoff time.Time) (int, error)
	// WriteSnapshot writes a consistent copy of the whole state, applied
	// index included, from one read transaction while the node serves.
	WriteSnapshot(ctx context.Context, w io.Writer) error
	// RestoreSnapshot replaces the whole state with one WriteSnapshot
	// wrote.
	RestoreSnapshot(ctx context.Context, r io.Reader) error
}
