package syncproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// memLog is an in-memory replication.EventLog that keeps the contract:
// per-origin contiguous sequences, gap refusal of a whole batch, bad
// event refusal, skip of held events, a capacity-one commit signal. It
// counts how often each event was applied.
type memLog struct {
	origin    string
	committed chan struct{}

	mu        sync.Mutex // guards following
	events    map[string][]engine.RawEvent
	applies   map[string]int // "origin/seq" → times applied
	appliedAt map[string]time.Time
	failNext  []error // ApplyEvents fails with these first
}

func newMemLog(origin string) *memLog {
	return &memLog{
		origin: origin, committed: make(chan struct{}, 1),
		events: make(map[string][]engine.RawEvent), applies: make(map[string]int),
		appliedAt: make(map[string]time.Time),
	}
}

func (l *memLog) Origin() string { return l.origin }

func (l *memLog) Committed() <-chan struct{} { return l.committed }

func (l *memLog) VersionVector(ctx context.Context) (engine.VersionVector, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vvLocked(), nil
}

func (l *memLog) vvLocked() engine.VersionVector {
	vv := make(engine.VersionVector)
	for o, evs := range l.events {
		if len(evs) > 0 {
			vv[o] = uint64(len(evs))
		}
	}
	return vv
}

func (l *memLog) EventsAfter(ctx context.Context, origin string, after uint64, limit, maxBytes int) ([]engine.RawEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events[origin]
	var out []engine.RawEvent
	size := 0
	for i := after; i < uint64(len(evs)) && len(out) < limit; i++ {
		e := evs[i]
		if len(out) > 0 && size+len(e.Data) > maxBytes {
			break
		}
		out = append(out, engine.RawEvent{Origin: e.Origin, Seq: e.Seq, Data: slices.Clone(e.Data)})
		size += len(e.Data)
	}
	return out, nil
}

func (l *memLog) ApplyEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failNext) > 0 {
		err := l.failNext[0]
		l.failNext = l.failNext[1:]
		return nil, err
	}
	next := l.vvLocked()
	var fresh []engine.RawEvent
	for _, e := range events {
		if string(e.Data) == "bad" {
			return nil, fmt.Errorf("memlog: (%s, %d): %w", e.Origin, e.Seq, engine.ErrBadEvent)
		}
		switch {
		case e.Seq <= next[e.Origin]:
			continue // held
		case e.Seq == next[e.Origin]+1:
			next[e.Origin] = e.Seq
			fresh = append(fresh, e)
		default:
			return nil, fmt.Errorf("memlog: (%s, %d) after %d: %w", e.Origin, e.Seq, next[e.Origin], engine.ErrEventGap)
		}
	}
	now := time.Now()
	for _, e := range fresh {
		l.events[e.Origin] = append(l.events[e.Origin], engine.RawEvent{Origin: e.Origin, Seq: e.Seq, Data: slices.Clone(e.Data)})
		k := key(e)
		l.applies[k]++
		l.appliedAt[k] = now
	}
	return l.vvLocked(), nil
}

// append commits n local events and signals Committed.
func (l *memLog) append(n int, data string) {
	l.mu.Lock()
	for range n {
		seq := uint64(len(l.events[l.origin]) + 1)
		l.events[l.origin] = append(l.events[l.origin], engine.RawEvent{Origin: l.origin, Seq: seq, Data: []byte(fmt.Sprintf("%s-%d", data, seq))})
	}
	l.mu.Unlock()
	select {
	case l.committed <- struct{}{}:
	default:
	}
}

// seed holds events of origin 1..n without counting them as applies (as
// if received long ago).
func (l *memLog) seed(origin string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for seq := len(l.events[origin]) + 1; seq <= n; seq++ {
		l.events[origin] = append(l.events[origin], engine.RawEvent{Origin: origin, Seq: uint64(seq), Data: []byte(fmt.Sprintf("%s-%d", origin, seq))})
	}
}

func (l *memLog) vv() engine.VersionVector {
	vv, _ := l.VersionVector(context.Background())
	return vv
}

// all returns every event held, in (origin, seq) order.
func (l *memLog) all() []engine.RawEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []engine.RawEvent
	origins := make([]string, 0, len(l.events))
	for o := range l.events {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	for _, o := range origins {
		out = append(out, l.events[o]...)
	}
	return out
}

// maxApplies is the most times any one event was applied.
func (l *memLog) maxApplies() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := 0
	for _, n := range l.applies {
		m = max(m, n)
	}
	return m
}

func (l *memLog) applyCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.applies)
}

func key(e engine.RawEvent) string { return fmt.Sprintf("%s/%d", e.Origin, e.Seq) }

// pipeConn is one end of an in-memory MsgConn pair.
type pipeConn struct {
	peer string
	in   <-chan []byte
	out  chan<- []byte
	done chan struct{} // shared by both ends: closed by either Close
	once *sync.Once

	// sendHook, when set, sees every message sent and may fail the send
	// (a torn-down transport).
	sendHook func(b []byte) error
}

var errPipeClosed = errors.New("pipe closed")

// newPipe returns two connected ends; aName is what b sees as Peer and
// vice versa.
func newPipe(aName, bName string) (*pipeConn, *pipeConn) {
	ab, ba := make(chan []byte, 16), make(chan []byte, 16)
	done, once := make(chan struct{}), &sync.Once{}
	return &pipeConn{peer: bName, in: ba, out: ab, done: done, once: once},
		&pipeConn{peer: aName, in: ab, out: ba, done: done, once: once}
}

func (p *pipeConn) Send(ctx context.Context, b []byte) error {
	if p.sendHook != nil {
		if err := p.sendHook(b); err != nil {
			p.Close()
			return err
		}
	}
	select {
	case <-p.done:
		return errPipeClosed
	default:
	}
	select {
	case p.out <- slices.Clone(b):
		return nil
	case <-p.done:
		return errPipeClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.in:
		return b, nil
	case <-p.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeConn) Peer() string { return p.peer }

func (p *pipeConn) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// testConfig is a fast session configuration for tests.
func testConfig() SessionConfig {
	c := DefaultSessionConfig()
	c.PingInterval = 50 * time.Millisecond
	c.DeadAfter = 2 * time.Second
	c.RetryDelay = 20 * time.Millisecond
	c.Logger = discardLogger()
	return c
}

// runSession starts a session in a goroutine; the returned channel gets
// Run's result.
func runSession(t *testing.T, ctx context.Context, conn MsgConn, local Local, cfg SessionConfig) (*Session, <-chan error) {
	t.Helper()
	s, err := NewSession(conn, local, cfg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	return s, errc
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkNoLeaks fails the test if goroutines started during it are still
// running at its end (polled, as they may be finishing).
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d at start, %d at end\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func sameEvents(t *testing.T, a, b *memLog) {
	t.Helper()
	ea, eb := a.all(), b.all()
	if len(ea) != len(eb) {
		t.Fatalf("%s holds %d events, %s %d", a.origin, len(ea), b.origin, len(eb))
	}
	for i := range ea {
		if ea[i].Origin != eb[i].Origin || ea[i].Seq != eb[i].Seq || string(ea[i].Data) != string(eb[i].Data) {
			t.Fatalf("event %d: %s has (%s,%d,%q), %s has (%s,%d,%q)", i, a.origin, ea[i].Origin, ea[i].Seq, ea[i].Data, b.origin, eb[i].Origin, eb[i].Seq, eb[i].Data)
		}
	}
}

func vvEqual(a, b engine.VersionVector) bool {
	a, b = canonical(a), canonical(b)
	if len(a) != len(b) {
		return false
	}
	for o, n := range a {
		if b[o] != n {
			return false
		}
	}
	return true
}
