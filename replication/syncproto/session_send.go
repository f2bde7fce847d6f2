package syncproto

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/patron/patron/engine"
)

// sender is the main loop's view of the peer and of what is in flight.
// Only the main loop touches it.
type sender struct {
	hello    bool                 // the peer's Hello arrived
	peer     engine.VersionVector // what the peer holds, as it told us
	sent     engine.VersionVector // highest sequence sent, per origin
	inflight []flight             // batches awaiting Ack or Nack, oldest first
	next     uint64               // next batch id
	// resetAt is the first batch sent after the last restart: a Nack of
	// an older batch is already accounted for.
	resetAt uint64
	more    bool      // look for events to send
	paused  time.Time // no sending before this (after Nack unavailable)

	pingNonce uint64
	pingAt    time.Time

	catchUp      bool      // this node was behind the peer
	catchUpStart time.Time // when it began
	catchUpLog   time.Time // last progress line
	own          engine.VersionVector
}

// flight is one unacknowledged batch.
type flight struct {
	batch   uint64
	events  int
	chunked bool // one event sent as EventChunks
}

// chunkedInFlight reports whether a chunked batch awaits its answer: the
// receiver holds at most one chunked event at a time, so the next waits.
func (snd *sender) chunkedInFlight() bool {
	for _, f := range snd.inflight {
		if f.chunked {
			return true
		}
	}
	return false
}

// mainLoop owns the sender: it reacts to the peer's messages, to commits
// of the local log and to the ping ticker, and builds batches while the
// window has room.
func (s *Session) mainLoop(ctx context.Context, commits <-chan struct{}) error {
	snd := &sender{next: 1, peer: engine.VersionVector{}, sent: engine.VersionVector{}}
	ticker := time.NewTicker(s.cfg.PingInterval)
	defer ticker.Stop()
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	for {
		if err := s.drainInbox(ctx, snd); err != nil {
			return err
		}
		if snd.hello && snd.more && len(snd.inflight) < s.cfg.Window && !time.Now().Before(snd.paused) {
			if err := s.fill(ctx, snd); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case item := <-s.inbox:
			if err := s.handle(ctx, snd, item); err != nil {
				return err
			}
		case <-commits:
			snd.more = true
		case <-ticker.C:
			if err := s.tick(snd); err != nil {
				return err
			}
			// A rescan each tick bounds the cost of a commit the log did
			// not signal (one vector read per session per interval).
			snd.more = true
		case <-retry.C:
			snd.more = true
		}
		if !snd.paused.IsZero() && snd.more && time.Now().Before(snd.paused) {
			retry.Reset(time.Until(snd.paused))
		}
	}
}

// drainInbox handles what is already queued, so that a batch the peer
// sent is known to be held by the peer before fill reads the log.
func (s *Session) drainInbox(ctx context.Context, snd *sender) error {
	for {
		select {
		case item := <-s.inbox:
			if err := s.handle(ctx, snd, item); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (s *Session) handle(ctx context.Context, snd *sender, item any) error {
	switch m := item.(type) {
	case Hello:
		snd.hello, snd.more = true, true
		snd.peer, snd.sent = clone(m.Have), clone(m.Have)
		own, err := s.local.Log.VersionVector(ctx)
		if err != nil {
			return fmt.Errorf("syncproto: %w", err)
		}
		snd.own = clone(own)
		s.setUp(m, snd)
		if behind := missing(snd.own, snd.peer); behind > 0 {
			snd.catchUp, snd.catchUpStart, snd.catchUpLog = true, time.Now(), time.Now()
			s.log.Info("catch-up started", "from", m.Origin, "behind", behind)
		}
		if s.onUp != nil {
			s.onUp(s)
		}
	case peerHolds:
		merge(snd.peer, m.have)
		merge(snd.sent, m.have)
	case applied:
		merge(snd.own, m.have)
		s.received(snd, m.n)
	case Ack:
		f, err := s.settle(snd, m.Batch)
		if err != nil {
			return err
		}
		merge(snd.peer, m.Have)
		merge(snd.sent, m.Have)
		snd.more = true
		s.mu.Lock()
		s.state.EventsSent += uint64(f.events)
		s.mu.Unlock()
		s.acked(snd)
	case Nack:
		return s.nacked(snd, m)
	case Want:
		snd.peer, snd.sent = clone(m.Have), clone(m.Have)
		snd.resetAt, snd.more = snd.next, true
	case Pong:
		if m.Nonce == snd.pingNonce && !snd.pingAt.IsZero() {
			rtt := time.Since(snd.pingAt)
			s.mu.Lock()
			s.state.RTT = rtt
			s.mu.Unlock()
		}
	case Redirect:
		return &RedirectError{LeaderID: m.LeaderID, LeaderAddr: m.LeaderAddr}
	default:
		panic(fmt.Sprintf("syncproto: main loop got %T", item))
	}
	return nil
}

// settle removes batch from the window; it must be the oldest in flight.
func (s *Session) settle(snd *sender, batch uint64) (flight, error) {
	if len(snd.inflight) == 0 || snd.inflight[0].batch != batch {
		return flight{}, fmt.Errorf("syncproto: answer for batch %d not the oldest in flight: %w", batch, ErrProtocol)
	}
	f := snd.inflight[0]
	snd.inflight = snd.inflight[1:]
	return f, nil
}

// nacked restarts sending from what the peer holds. A batch the peer
// found malformed ends the session.
func (s *Session) nacked(snd *sender, m Nack) error {
	if _, err := s.settle(snd, m.Batch); err != nil {
		return err
	}
	if m.Reason == NackBad {
		return fmt.Errorf("syncproto: batch %d: %w", m.Batch, ErrPeerRefused)
	}
	// The Nack's vector is the newest word on what the peer holds, even
	// below what it said before (its Hello was wrong, or it lost data).
	snd.peer = clone(m.Have)
	if m.Batch >= snd.resetAt {
		snd.sent = clone(snd.peer)
		snd.resetAt = snd.next
	}
	merge(snd.sent, snd.peer)
	snd.more = true
	if m.Reason == NackUnavailable {
		snd.paused = time.Now().Add(s.cfg.RetryDelay)
	}
	return nil
}

// fill sends batches of what the peer lacks while the window has room.
func (s *Session) fill(ctx context.Context, snd *sender) error {
	own, err := s.local.Log.VersionVector(ctx)
	if err != nil {
		return fmt.Errorf("syncproto: %w", err)
	}
	merge(snd.own, own)
	for len(snd.inflight) < s.cfg.Window {
		events, err := s.batch(ctx, snd, own)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			snd.more = false
			break
		}
		b := Events{Batch: snd.next, Events: events}
		if err := s.out.push(b); err != nil {
			return err
		}
		snd.inflight = append(snd.inflight, flight{batch: snd.next, events: len(events), chunked: chunked(b)})
		snd.next++
	}
	s.acked(snd)
	return nil
}

// batch collects the next events the peer lacks, this node's own origin
// first (its lag is what HQ waits for), then the others in order, up to
// BatchEvents and BatchBytes. An event larger than MaxBatchBytes is a
// batch of its own (sent as EventChunks), and only while no other chunked
// batch is in flight: until then batch returns nothing more.
func (s *Session) batch(ctx context.Context, snd *sender, own engine.VersionVector) ([]engine.RawEvent, error) {
	self := s.local.Log.Origin()
	origins := make([]string, 0, len(own))
	for o, n := range own {
		if n > snd.sent[o] && o != self {
			origins = append(origins, o)
		}
	}
	slices.Sort(origins)
	if own[self] > snd.sent[self] {
		origins = append([]string{self}, origins...)
	}
	var out []engine.RawEvent
	size := 0
	for _, o := range origins {
		for snd.sent[o] < own[o] {
			room, bytes := s.cfg.BatchEvents-len(out), s.cfg.BatchBytes-size
			if room <= 0 || bytes <= 0 {
				return out, nil
			}
			got, err := s.local.Log.EventsAfter(ctx, o, snd.sent[o], room, bytes)
			if err != nil {
				return nil, fmt.Errorf("syncproto: read %s after %d: %w", o, snd.sent[o], err)
			}
			if len(got) == 0 {
				break
			}
			for _, e := range got {
				if e.Origin != o || e.Seq != snd.sent[o]+1 {
					return nil, fmt.Errorf("syncproto: log returned (%s, %d) after (%s, %d)", e.Origin, e.Seq, o, snd.sent[o])
				}
				if len(e.Data) > MaxBatchBytes {
					switch {
					case len(out) > 0:
						return out, nil // it goes alone, next
					case len(e.Data) > MaxChunkedEventBytes:
						return nil, fmt.Errorf("syncproto: (%s, %d) is %d bytes, over the %d bytes (MaxChunkedEventBytes) a session carries: %w",
							o, e.Seq, len(e.Data), MaxChunkedEventBytes, ErrEventTooLarge)
					case snd.chunkedInFlight():
						return nil, nil // it waits for the answer to the one in flight
					}
					snd.sent[o] = e.Seq
					return []engine.RawEvent{e}, nil
				}
				if len(out) > 0 && (size+len(e.Data) > s.cfg.BatchBytes || len(out) >= s.cfg.BatchEvents) {
					return out, nil
				}
				out = append(out, e)
				size += len(e.Data)
				snd.sent[o] = e.Seq
			}
		}
	}
	return out, nil
}

// tick pings the peer and ends a session that has gone silent.
func (s *Session) tick(snd *sender) error {
	if silent := s.silentFor(); silent > s.cfg.DeadAfter {
		return fmt.Errorf("syncproto: nothing from %s for %v: %w", s.conn.Peer(), silent.Round(time.Millisecond), ErrPeerSilent)
	}
	snd.pingNonce++
	snd.pingAt = time.Now()
	return s.out.push(Ping{Nonce: snd.pingNonce})
}

// setUp records the established session.
func (s *Session) setUp(h Hello, snd *sender) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.PeerOrigin, s.state.PeerRole, s.state.PeerHave = h.Origin, h.Role, maps.Clone(h.Have)
	s.state.Connected, s.state.Since = true, s.cfg.Now()
	s.state.Behind = missing(snd.own, snd.peer)
}

// acked updates the lag and the events counted as delivered.
func (s *Session) acked(snd *sender) {
	self := s.local.Log.Origin()
	var lag uint64
	if snd.own[self] > snd.peer[self] {
		lag = snd.own[self] - snd.peer[self]
	}
	s.mu.Lock()
	s.state.Lag = lag
	s.mu.Unlock()
}

// received counts an applied batch and logs catch-up progress.
func (s *Session) received(snd *sender, n int) {
	behind := missing(snd.own, snd.peer)
	s.mu.Lock()
	s.state.EventsReceived += uint64(n)
	s.state.Behind = behind
	s.mu.Unlock()
	if !snd.catchUp {
		return
	}
	switch {
	case behind == 0:
		snd.catchUp = false
		s.log.Info("catch-up done", "took", time.Since(snd.catchUpStart).Round(time.Millisecond))
	case time.Since(snd.catchUpLog) >= CatchUpLogEvery:
		snd.catchUpLog = time.Now()
		s.log.Info("catch-up progress", "behind", behind)
	}
}

// noteError records an operating error the session survived.
func (s *Session) noteError(err error) {
	s.mu.Lock()
	s.state.LastError = err.Error()
	s.mu.Unlock()
}
