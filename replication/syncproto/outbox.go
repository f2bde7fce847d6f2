package syncproto

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// outbox queues the messages of one session for its writer goroutine.
// Pushing never blocks, so no goroutine of a session ever waits on the
// peer reading (two sessions each blocked on sending to the other would
// deadlock). What may be queued is bounded by the protocol: Events by the
// send window, Acks and Nacks by the receive window, replies and requests
// by MaxPendingRequests, pings and pongs by time; the hard limit turns a
// peer that stopped reading while it goes on sending into an error.
type outbox struct {
	limit  int
	signal chan struct{} // capacity one: something was queued

	mu      sync.Mutex // guards following
	control []any      // Message or flushMark, FIFO, sent before events
	events  []Message  // Events, FIFO
	// chunkOff is how much of events[0], when it is chunked, has left as
	// EventChunks: a chunked batch is one item, popped a chunk at a time
	// so control messages (Acks, Pongs, replies) go out between chunks.
	chunkOff int
}

// flushMark is queued behind messages that must leave before the session
// ends; the writer closes done when it reaches it.
type flushMark struct{ done chan struct{} }

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, signal: make(chan struct{}, 1)}
}

// push queues m. It fails when the queue is at its limit.
func (o *outbox) push(m any) error {
	o.mu.Lock()
	if len(o.control)+len(o.events) >= o.limit {
		o.mu.Unlock()
		return fmt.Errorf("syncproto: %d messages queued, peer not reading: %w", o.limit, ErrProtocol)
	}
	if ev, ok := m.(Events); ok {
		o.events = append(o.events, ev)
	} else {
		o.control = append(o.control, m)
	}
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
	return nil
}

// pop returns the next item, control first, or nil.
func (o *outbox) pop() any {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.control) > 0 {
		m := o.control[0]
		o.control[0] = nil
		o.control = o.control[1:]
		return m
	}
	if len(o.events) > 0 {
		m := o.events[0]
		if ev, ok := m.(Events); ok && chunked(ev) {
			c := chunkAt(ev.Batch, ev.Events[0], o.chunkOff)
			o.chunkOff += len(c.Data)
			if o.chunkOff < len(ev.Events[0].Data) {
				return c
			}
			o.chunkOff = 0
			m = c
		}
		o.events[0] = nil
		o.events = o.events[1:]
		return m
	}
	return nil
}

// flush waits until everything queued before it has been sent, ctx is
// done or max has passed (a peer that stopped reading).
func (o *outbox) flush(ctx context.Context, max time.Duration) {
	mark := flushMark{done: make(chan struct{})}
	if o.push(mark) != nil {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-mark.done:
	case <-ctx.Done():
	case <-t.C:
	}
}
