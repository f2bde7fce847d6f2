// Package hqevents originates events at HQ: an Emitter proposes one
// event through the Raft log until it holds the (origin, seq) it was
// prepared with, and a Scheduler runs periodic jobs (greetings, tier
// reviews, points expiry) on the Raft leader only.
//
// Each HQ node writes its events under its own origin (its Raft id), and
// the sequence number of an event is the node's next one when it
// prepares; another proposal on the same node (a programme load, a job)
// can take it first. The Emitter therefore checks, after the log accepted
// the event, that the event stored at its (origin, seq) is byte-for-byte
// its own, and prepares again otherwise.
package hqevents

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// Log is the replicated log HQ events are proposed to: the Raft cluster.
// AppendEvents retries an unknown outcome itself (events are idempotent
// by origin and seq) and fails on a node that is not the leader.
type Log interface {
	AppendEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error)
}

// ErrSeqTaken is returned when the sequence number an event was prepared
// with went to other events maxAttempts times in a row.
var ErrSeqTaken = errors.New("hqevents: sequence number taken by concurrent events; try again")

const maxAttempts = 8

// Emitter proposes HQ-originated events one at a time.
type Emitter struct {
	node *node.Node
	log  Log
	lg   *slog.Logger
	mu   sync.Mutex // one proposal at a time: concurrent ones would race for seq
}

// NewEmitter returns an Emitter preparing events on n and proposing them
// to log.
func NewEmitter(n *node.Node, log Log, logger *slog.Logger) *Emitter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Emitter{node: n, log: log, lg: logger}
}

// Emit stamps ev as the next HQ event (see node.PrepareEvent), proposes it
// and returns it as committed.
func (e *Emitter) Emit(ctx context.Context, ev engine.Event) (engine.Event, error) {
	raw, err := e.EmitPrepared(ctx, func(ctx context.Context) (engine.RawEvent, error) {
		return e.node.PrepareEvent(ctx, ev)
	})
	if err != nil {
		return engine.Event{}, err
	}
	return engine.DecodeEvent(raw.Data)
}

// EmitPrepared proposes the event prepare builds, preparing again while
// its sequence number goes to another event, and returns the event that
// committed. prepare must stamp the node's next sequence number each time
// it is called (node.PrepareEvent, node.PrepareProgrammeEvent).
func (e *Emitter) EmitPrepared(ctx context.Context, prepare func(context.Context) (engine.RawEvent, error)) (engine.RawEvent, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for attempt := 1; ; attempt++ {
		raw, err := prepare(ctx)
		if err != nil {
			return engine.RawEvent{}, err
		}
		_, err = e.log.AppendEvents(ctx, []engine.RawEvent{raw})
		switch {
		case errors.Is(err, engine.ErrEventGap), errors.Is(err, engine.ErrEventConflict):
			// This node is behind its own log (a new leader still
			// applying), or another event took the sequence number:
			// prepare again.
		case err != nil:
			return engine.RawEvent{}, fmt.Errorf("hqevents: propose %s/%d: %w", raw.Origin, raw.Seq, err)
		default:
			held, err := e.node.EventsAfter(ctx, raw.Origin, raw.Seq-1, 1, 0)
			if err != nil {
				return engine.RawEvent{}, err
			}
			if len(held) == 1 && bytes.Equal(held[0].Data, raw.Data) {
				return raw, nil
			}
		}
		if attempt == maxAttempts {
			return engine.RawEvent{}, fmt.Errorf("%w (%d attempts)", ErrSeqTaken, attempt)
		}
		e.lg.Info("hq event lost its sequence number; preparing again", "seq", raw.Seq, "attempt", attempt)
	}
}
