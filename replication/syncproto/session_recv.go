package syncproto

import (
	"context"
	"errors"
	"fmt"

	"github.com/patron/patron/engine"
)

// peerHolds tells the main loop the peer holds at least these events: it
// sent them. The reader queues it before the batch goes to the applier,
// so the main loop never echoes a batch back to its sender.
type peerHolds struct{ have engine.VersionVector }

// applied tells the main loop a received batch is committed.
type applied struct {
	have engine.VersionVector
	n    int
}

// readLoop decodes every message, checks it may come now, and routes it:
// batches to the applier, requests to handlers, replies to waiters, the
// rest to the main loop.
func (s *Session) readLoop(ctx context.Context) error {
	hello := false
	for {
		b, err := s.conn.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("syncproto: recv: %w", err)
		}
		s.touch()
		m, err := Decode(b)
		if err != nil {
			return err
		}
		if !hello {
			if err := s.admit(ctx, m); err != nil {
				return err
			}
			hello = true
			if err := s.deliver(ctx, m); err != nil {
				return err
			}
			continue
		}
		if err := s.route(ctx, m); err != nil {
			return err
		}
	}
}

// admit checks the peer's first message: a Hello of our protocol, a role
// that pairs with ours, and the Admit hook's consent.
func (s *Session) admit(ctx context.Context, m Message) error {
	switch m := m.(type) {
	case Redirect:
		return &RedirectError{LeaderID: m.LeaderID, LeaderAddr: m.LeaderAddr}
	case Hello:
		if m.Protocol != ProtocolVersion {
			return fmt.Errorf("syncproto: peer speaks protocol %d, we %d: %w", m.Protocol, ProtocolVersion, ErrVersion)
		}
		if m.Role != s.local.Role.counterpart() {
			return fmt.Errorf("syncproto: peer role %s does not pair with %s: %w", m.Role, s.local.Role, ErrProtocol)
		}
		if s.local.Admit == nil {
			return nil
		}
		err := s.local.Admit(ctx, s.conn.Peer(), m)
		var re *RedirectError
		if errors.As(err, &re) {
			s.redirect(ctx, re)
		}
		if err != nil {
			return fmt.Errorf("syncproto: %s (%s) not admitted: %w", m.Origin, s.conn.Peer(), err)
		}
		return s.sayHello(ctx)
	}
	return fmt.Errorf("syncproto: first message is %s, not hello: %w", m.Type(), ErrProtocol)
}

func (s *Session) route(ctx context.Context, m Message) error {
	switch m := m.(type) {
	case Hello:
		return fmt.Errorf("syncproto: second hello: %w", ErrProtocol)
	case Events:
		if a := s.asm; a != nil {
			return fmt.Errorf("syncproto: batch %d while (%s, %d) of batch %d is half received: %w",
				m.Batch, a.origin, a.seq, a.batch, ErrProtocol)
		}
		return s.enqueue(ctx, m)
	case EventChunk:
		return s.chunk(ctx, m)
	case Ping:
		return s.out.push(Pong(m))
	case HoldRequest:
		return s.serve(ctx, HoldReply{ID: m.ID, Reason: ReplyUnavailable}, func(ctx context.Context) Message {
			d, err := s.placeHold(ctx, m.Hold)
			r := HoldReply{ID: m.ID, Reason: s.replyReason(ctx, err)}
			if r.Reason == ReplyOK {
				r.Decision = d
			}
			return r
		})
	case VoidRequest:
		return s.serve(ctx, VoidReply{ID: m.ID, Reason: ReplyUnavailable}, func(ctx context.Context) Message {
			return VoidReply{ID: m.ID, Reason: s.replyReason(ctx, s.voidHold(ctx, m.ID))}
		})
	case HoldReply:
		s.answer("h:"+m.ID, m)
		return nil
	case VoidReply:
		s.answer("v:"+m.ID, m)
		return nil
	}
	return s.deliver(ctx, m) // Ack, Nack, Want, Pong, Redirect
}

// enqueue hands a received batch to the applier, first telling the main
// loop the peer holds its events.
func (s *Session) enqueue(ctx context.Context, m Events) error {
	have := make(engine.VersionVector)
	for _, e := range m.Events {
		if e.Seq > have[e.Origin] {
			have[e.Origin] = e.Seq
		}
	}
	if err := s.deliver(ctx, peerHolds{have: have}); err != nil {
		return err
	}
	select {
	case s.applyCh <- m:
		return nil
	default:
		return fmt.Errorf("syncproto: more than %d batches in flight: %w", MaxInFlightBatches, ErrProtocol)
	}
}

// assembly is the chunked event the reader is reassembling.
type assembly struct {
	batch     uint64
	origin    string
	seq, size uint64
	data      []byte // len is the next offset; cap is size
}

// chunk adds a chunk to the event under reassembly, or starts one, and
// hands the event to the applier as a batch of its own once complete.
// Decode has checked each chunk alone (size within MaxChunkedEventBytes,
// canonical offset and length); here the chunks must continue one
// another. A chunk that starts an event while another chunked batch is
// unanswered breaks the protocol, so a session holds at most one event
// of up to MaxChunkedEventBytes, reassembling or queued to apply.
func (s *Session) chunk(ctx context.Context, c EventChunk) error {
	a := s.asm
	if a == nil {
		if c.Offset != 0 {
			return fmt.Errorf("syncproto: chunk of (%s, %d) batch %d at offset %d starts no event: %w",
				c.Origin, c.Seq, c.Batch, c.Offset, ErrProtocol)
		}
		if !s.chunkBusy.CompareAndSwap(false, true) {
			return fmt.Errorf("syncproto: chunked (%s, %d) batch %d before the last chunked batch was answered: %w",
				c.Origin, c.Seq, c.Batch, ErrProtocol)
		}
		a = &assembly{batch: c.Batch, origin: c.Origin, seq: c.Seq, size: c.Size, data: make([]byte, 0, c.Size)}
		s.asm = a
	} else if c.Batch != a.batch || c.Origin != a.origin || c.Seq != a.seq || c.Size != a.size || c.Offset != uint64(len(a.data)) {
		return fmt.Errorf("syncproto: chunk (batch %d, %s, %d, offset %d of %d) does not continue (batch %d, %s, %d, offset %d of %d): %w",
			c.Batch, c.Origin, c.Seq, c.Offset, c.Size, a.batch, a.origin, a.seq, len(a.data), a.size, ErrProtocol)
	}
	a.data = append(a.data, c.Data...)
	if uint64(len(a.data)) < a.size {
		return nil
	}
	s.asm = nil
	return s.enqueue(ctx, Events{Batch: a.batch, Events: []engine.RawEvent{{Origin: a.origin, Seq: a.seq, Data: a.data}}})
}

// applyLoop commits received batches in order and answers each with Ack
// or Nack. A batch refused as malformed, or a redirect, ends the session.
func (s *Session) applyLoop(ctx context.Context, feed *Feed) error {
	for {
		var b Events
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case b = <-s.applyCh:
		}
		have, err := s.local.Applier.Apply(ctx, b.Events)
		if chunked(b) {
			// Answered below: the peer may start its next chunked
			// batch once it has our answer, so free the slot first.
			s.chunkBusy.Store(false)
		}
		if err == nil {
			feed.Notify()
			if err := s.deliver(ctx, applied{have: have, n: len(b.Events)}); err != nil {
				return err
			}
			if err := s.out.push(Ack{Batch: b.Batch, Have: canonical(have)}); err != nil {
				return err
			}
			continue
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var re *RedirectError
		if errors.As(err, &re) {
			s.redirect(ctx, re)
			return re
		}
		if err := s.nack(ctx, b.Batch, err); err != nil {
			return err
		}
	}
}

// nack answers a refused batch. Only a malformed event ends the session:
// the same bytes would be refused again.
func (s *Session) nack(ctx context.Context, batch uint64, cause error) error {
	have, err := s.local.Log.VersionVector(ctx)
	if err != nil {
		return fmt.Errorf("syncproto: nack: %w", err)
	}
	reason := NackUnavailable
	switch {
	case errors.Is(cause, engine.ErrEventGap):
		reason = NackGap
	case errors.Is(cause, engine.ErrBadEvent):
		reason = NackBad
	}
	s.noteError(cause)
	if err := s.out.push(Nack{Batch: batch, Reason: reason, Have: canonical(have)}); err != nil {
		return err
	}
	if reason == NackBad {
		s.out.flush(ctx, s.cfg.DeadAfter)
		return fmt.Errorf("syncproto: batch %d from %s: %w", batch, s.conn.Peer(), cause)
	}
	return nil
}

// redirect sends the peer Redirect and waits until it left.
func (s *Session) redirect(ctx context.Context, re *RedirectError) {
	if s.out.push(Redirect{LeaderID: re.LeaderID, LeaderAddr: re.LeaderAddr}) == nil {
		s.out.flush(ctx, s.cfg.DeadAfter)
	}
}

// serve runs one hold or void request in its own goroutine, at most
// MaxPendingRequests at once; beyond that the request is answered busy
// (ReplyUnavailable) at once.
func (s *Session) serve(ctx context.Context, busy Message, handle func(context.Context) Message) error {
	select {
	case s.reqSem <- struct{}{}:
	default:
		return s.out.push(busy)
	}
	s.handlers.Go(func() {
		defer func() { <-s.reqSem }()
		hctx, cancel := context.WithTimeout(ctx, s.cfg.HoldServerTimeout)
		defer cancel()
		if err := s.out.push(handle(hctx)); err != nil {
			s.noteError(err)
		}
	})
	return nil
}

func (s *Session) placeHold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	if s.local.Holds == nil {
		return engine.HoldDecision{}, engine.ErrHQUnreachable
	}
	return s.local.Holds.PlaceHold(ctx, h)
}

func (s *Session) voidHold(ctx context.Context, id string) error {
	if s.local.Holds == nil {
		return engine.ErrHQUnreachable
	}
	return s.local.Holds.VoidHold(ctx, id)
}

// replyReason maps a HoldServer error to its wire reason: the one place
// this boundary maps errors. A redirect also sends Redirect, which ends
// the store's session.
func (s *Session) replyReason(ctx context.Context, err error) ReplyReason {
	var re *RedirectError
	switch {
	case err == nil:
		return ReplyOK
	case errors.Is(err, ErrInvalidHold):
		return ReplyInvalid
	case errors.As(err, &re):
		_ = s.out.push(Redirect{LeaderID: re.LeaderID, LeaderAddr: re.LeaderAddr})
		return ReplyNotLeader
	}
	return ReplyUnavailable
}
