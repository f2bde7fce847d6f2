package syncproto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patron/patron/engine"
)

// request sends m and waits for the reply filed under key ("h:" or "v:"
// and the hold id). Concurrent requests of one key share its reply: ids
// make requests idempotent, so one answer serves them all.
func (s *Session) request(ctx context.Context, key string, m Message) (any, error) {
	ch := make(chan any, 1)
	s.pendMu.Lock()
	if s.ended {
		s.pendMu.Unlock()
		return nil, ErrSessionClosed
	}
	if s.npend >= s.cfg.MaxPendingRequests {
		s.pendMu.Unlock()
		return nil, ErrTooManyRequests
	}
	s.pending[key] = append(s.pending[key], ch)
	s.npend++
	s.pendMu.Unlock()
	defer s.forget(key, ch)
	if err := s.out.push(m); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-s.done:
		return nil, ErrSessionClosed
	}
}

// forget removes a waiter that gave up or was answered.
func (s *Session) forget(key string, ch chan any) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	waiters := s.pending[key]
	for i, w := range waiters {
		if w == ch {
			s.pending[key] = append(waiters[:i:i], waiters[i+1:]...)
			s.npend--
			break
		}
	}
	if len(s.pending[key]) == 0 {
		delete(s.pending, key)
	}
}

// answer hands a reply to every waiter of its key; a reply nobody waits
// for (it came after the waiter's timeout) is dropped.
func (s *Session) answer(key string, m any) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for _, ch := range s.pending[key] {
		select {
		case ch <- m:
		default:
		}
	}
}

// endRequests refuses requests from now on; waiters see done closed.
func (s *Session) endRequests() {
	s.pendMu.Lock()
	s.ended = true
	s.pendMu.Unlock()
}

// HoldClient asks HQ for redemption holds over the current HQ session: a
// store's hold authority. A Client owns one (Client.Holds). Its methods
// are safe for concurrent use.
type HoldClient struct {
	timeout    time.Duration
	retryDelay time.Duration
	fresh      time.Duration // Reachable: last message from HQ within this

	mu      sync.Mutex // guards following
	cur     *Session
	changed chan struct{} // closed and replaced when cur changes
}

func newHoldClient(timeout, retryDelay, fresh time.Duration) *HoldClient {
	return &HoldClient{timeout: timeout, retryDelay: retryDelay, fresh: fresh, changed: make(chan struct{})}
}

// errHoldTimeout is the cause of a hold request's own deadline.
var errHoldTimeout = errors.New("syncproto: no answer from HQ in time")

// Hold asks HQ to place h, waiting at most the HoldTimeout. With no HQ
// session, or no answer in time, it returns an error wrapping
// engine.ErrHQUnreachable: the store then applies its offline rules.
// HQ refusing to decide now (no leader) is retried until the timeout; a
// redirect, or a session lost mid-call, is retried on the next session
// if one comes up in time. Retrying the same hold id is
// safe: HQ decides each id once.
func (c *HoldClient) Hold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	r, err := c.call(ctx, "hold "+h.ID, "h:"+h.ID, HoldRequest{ID: h.ID, Hold: h})
	if err != nil {
		return engine.HoldDecision{}, err
	}
	return r.(HoldReply).Decision, nil
}

// Void asks HQ to void hold id, with Hold's timeout and errors.
func (c *HoldClient) Void(ctx context.Context, id string) error {
	_, err := c.call(ctx, "void "+id, "v:"+id, VoidRequest{ID: id})
	return err
}

// Reachable reports whether a session with HQ is up and HQ was heard from
// within two ping intervals.
func (c *HoldClient) Reachable() bool {
	c.mu.Lock()
	s := c.cur
	c.mu.Unlock()
	return s != nil && s.silentFor() <= c.fresh
}

func (c *HoldClient) call(ctx context.Context, what, key string, m Message) (any, error) {
	if !validID(key[2:]) {
		return nil, fmt.Errorf("syncproto: %s: %w", what, ErrInvalidHold)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errHoldTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		s, changed := c.cur, c.changed
		c.mu.Unlock()
		if s == nil && attempt == 0 {
			// No session: answer at once, the till goes offline.
			return nil, fmt.Errorf("syncproto: %s: no HQ session: %w", what, engine.ErrHQUnreachable)
		}
		var r any
		err := ErrSessionClosed // a session lost mid-call: wait for the next
		if s != nil {
			r, err = s.request(ctx, key, m)
		}
		var wait <-chan time.Time
		switch {
		case err == nil:
			reason := replyReasonOf(r)
			switch reason {
			case ReplyOK:
				return r, nil
			case ReplyInvalid:
				return nil, fmt.Errorf("syncproto: %s: %w", what, ErrInvalidHold)
			case ReplyUnavailable:
				wait = time.After(c.retryDelay)
			}
		case errors.Is(err, errHoldTimeout):
			return nil, fmt.Errorf("syncproto: %s: %w: %w", what, err, engine.ErrHQUnreachable)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("syncproto: %s: %w", what, err)
		case !errors.Is(err, ErrSessionClosed):
			return nil, fmt.Errorf("syncproto: %s: %w: %w", what, err, engine.ErrHQUnreachable)
		}
		select {
		case <-changed:
		case <-wait:
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errHoldTimeout) {
				return nil, fmt.Errorf("syncproto: %s: %w: %w", what, errHoldTimeout, engine.ErrHQUnreachable)
			}
			return nil, fmt.Errorf("syncproto: %s: %w", what, context.Cause(ctx))
		}
	}
}

func replyReasonOf(r any) ReplyReason {
	switch r := r.(type) {
	case HoldReply:
		return r.Reason
	case VoidReply:
		return r.Reason
	}
	panic(fmt.Sprintf("syncproto: reply of type %T", r))
}

// set makes s the current HQ session.
func (c *HoldClient) set(s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// clear forgets s if it is the current session.
func (c *HoldClient) clear(s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == s {
		c.cur = nil
		close(c.changed)
		c.changed = make(chan struct{})
	}
}
