package syncproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// pair runs a store–HQ session between two logs and returns a stop
// function that ends both sessions and returns their errors.
func pair(t *testing.T, store, hq *memLog, cfg SessionConfig) (stop func() (error, error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, b := newPipe(store.origin, hq.origin)
	_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
	_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, cfg)
	return func() (error, error) {
		cancel()
		return <-errA, <-errB
	}
}

func TestSessionConverges(t *testing.T) {
	tests := []struct {
		name          string
		store, hq     map[string]int // origin → events held (seeded)
		storeLocalNew int            // local events appended after start
	}{
		{name: "empty"},
		{name: "disjoint", store: map[string]int{"S1": 700}, hq: map[string]int{"HQ": 300, "S2": 50}},
		{name: "overlapping", store: map[string]int{"S1": 500, "S2": 40, "HQ": 10}, hq: map[string]int{"S1": 200, "S2": 90, "HQ": 60, "S3": 5}},
		{name: "one side empty", hq: map[string]int{"HQ": 1000, "S9": 1}},
		{name: "with live commits", store: map[string]int{"S1": 100}, hq: map[string]int{"HQ": 100}, storeLocalNew: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			store, hq := newMemLog("S1"), newMemLog("HQ")
			for o, n := range tt.store {
				store.seed(o, n)
			}
			for o, n := range tt.hq {
				hq.seed(o, n)
			}
			cfg := testConfig()
			cfg.BatchEvents = 37 // many batches, odd sizes
			stop := pair(t, store, hq, cfg)
			for range tt.storeLocalNew {
				store.append(1, "live")
			}
			waitFor(t, 10*time.Second, "equal version vectors", func() bool {
				return vvEqual(store.vv(), hq.vv()) && store.vv()["S1"] == uint64(tt.store["S1"]+tt.storeLocalNew)
			})
			errA, errB := stop()
			if !errors.Is(errA, context.Canceled) || !errors.Is(errB, context.Canceled) {
				t.Fatalf("sessions ended with %v, %v; want context.Canceled", errA, errB)
			}
			sameEvents(t, store, hq)
			if store.maxApplies() > 1 || hq.maxApplies() > 1 {
				t.Fatalf("an event was applied twice: store %d, hq %d", store.maxApplies(), hq.maxApplies())
			}
		})
	}
}

func TestSessionDoesNotEchoBatches(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	cfg := testConfig()
	a, b := newPipe("S1", "HQ")
	echoed := 0
	b.sendHook = func(m []byte) error {
		if msg, err := Decode(m); err == nil {
			if ev, ok := msg.(Events); ok {
				for _, e := range ev.Events {
					if e.Origin == "S1" {
						echoed++
					}
				}
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
	_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, cfg)
	for range 200 {
		store.append(1, "e")
	}
	waitFor(t, 5*time.Second, "HQ holds the store's events", func() bool { return hq.vv()["S1"] == 200 })
	cancel()
	<-errA
	<-errB
	if echoed > 0 {
		t.Fatalf("HQ sent %d of the store's own events back", echoed)
	}
}

// TestRelayLine: A – HQ – B. A's events reach B through HQ and B's reach A.
func TestRelayLine(t *testing.T) {
	checkNoLeaks(t)
	a, hq, b := newMemLog("A"), newMemLog("HQ"), newMemLog("B")
	a.seed("A", 120)
	b.seed("B", 80)
	hq.seed("HQ", 10)
	cfg := testConfig()
	ctx, cancel := context.WithCancel(context.Background())
	feed := NewFeed(hq)
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Run(ctx) }()
	pa, ha := newPipe("A", "HQ")
	pb, hb := newPipe("B", "HQ")
	var errs []<-chan error
	for _, s := range []struct {
		conn  MsgConn
		local Local
	}{
		{pa, Local{Log: a, Role: RoleStore}},
		{ha, Local{Log: hq, Role: RoleHQ, Feed: feed}},
		{pb, Local{Log: b, Role: RoleStore}},
		{hb, Local{Log: hq, Role: RoleHQ, Feed: feed}},
	} {
		_, e := runSession(t, ctx, s.conn, s.local, cfg)
		errs = append(errs, e)
	}
	want := engine.VersionVector{"A": 120, "B": 80, "HQ": 10}
	waitFor(t, 10*time.Second, "all three converge", func() bool {
		return vvEqual(a.vv(), want) && vvEqual(b.vv(), want) && vvEqual(hq.vv(), want)
	})
	a.append(5, "late") // live events relay too
	want["A"] = 125
	waitFor(t, 10*time.Second, "A's late events reach B", func() bool { return vvEqual(b.vv(), want) })
	cancel()
	for _, e := range errs {
		<-e
	}
	<-feedDone
	sameEvents(t, a, b)
	sameEvents(t, a, hq)
	for _, l := range []*memLog{a, hq, b} {
		if l.maxApplies() > 1 {
			t.Fatalf("%s applied an event twice", l.origin)
		}
	}
}

// TestSessionTornDownResumes cuts the transport mid-stream several times;
// each new session resumes from the vector exchange, losing and doubling
// nothing.
func TestSessionTornDownResumes(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	store.seed("S1", 3000)
	hq.seed("HQ", 1500)
	cfg := testConfig()
	cfg.BatchEvents = 50
	for round := 0; ; round++ {
		if round > 50 {
			t.Fatal("no convergence after 50 sessions")
		}
		a, b := newPipe("S1", "HQ")
		sent := 0
		cut := 7 + round%5 // messages before the cut, either side
		hook := func([]byte) error {
			sent++
			if sent > cut {
				return errors.New("transport torn down")
			}
			return nil
		}
		a.sendHook, b.sendHook = hook, nil
		if round%2 == 1 {
			a.sendHook, b.sendHook = nil, hook
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
		_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, cfg)
		e1, e2 := <-errA, <-errB
		cancel()
		if e1 == nil || e2 == nil {
			t.Fatalf("round %d: sessions ended with %v, %v; want errors", round, e1, e2)
		}
		if vvEqual(store.vv(), hq.vv()) {
			t.Logf("converged after %d torn sessions", round+1)
			break
		}
	}
	sameEvents(t, store, hq)
	if store.maxApplies() > 1 || hq.maxApplies() > 1 {
		t.Fatal("an event was applied twice")
	}
	if hq.applyCount() != 3000 || store.applyCount() != 1500 {
		t.Fatalf("applied %d at HQ, %d at store; want 3000, 1500", hq.applyCount(), store.applyCount())
	}
}

// scripted is a test peer speaking the protocol by hand.
type scripted struct {
	t    *testing.T
	conn *pipeConn
}

func (p scripted) send(m Message) {
	p.t.Helper()
	b, err := Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.conn.Send(context.Background(), b); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next message that is not a Ping or Pong.
func (p scripted) recv() Message {
	p.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := p.conn.Recv(ctx)
		cancel()
		if err != nil {
			p.t.Fatalf("scripted peer: recv: %v", err)
		}
		m, err := Decode(b)
		if err != nil {
			p.t.Fatal(err)
		}
		switch m.(type) {
		case Ping, Pong:
			continue
		}
		return m
	}
}

func TestNackGapRestartsFromReceiverVector(t *testing.T) {
	checkNoLeaks(t)
	store := newMemLog("S1")
	store.seed("S1", 10)
	a, b := newPipe("S1", "HQ")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := testConfig()
	cfg.Window = 1
	_, errc := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
	peer := scripted{t, b}
	if h, ok := peer.recv().(Hello); !ok || h.Origin != "S1" || h.Role != RoleStore {
		t.Fatalf("first message %#v; want the store's Hello", h)
	}
	// HQ claims to hold S1 up to 6, so the store starts at 7.
	peer.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ, Have: engine.VersionVector{"S1": 6}})
	ev := peer.recv().(Events)
	if ev.Events[0].Seq != 7 {
		t.Fatalf("first batch starts at %d; want 7", ev.Events[0].Seq)
	}
	// In truth HQ holds S1 up to 2: the store must restart at 3.
	peer.send(Nack{Batch: ev.Batch, Reason: NackGap, Have: engine.VersionVector{"S1": 2}})
	ev = peer.recv().(Events)
	if got := seqs(ev.Events); !slices.Equal(got, []uint64{3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("after Nack gap the store sent %v; want 3..10", got)
	}
	peer.send(Ack{Batch: ev.Batch, Have: engine.VersionVector{"S1": 10}})
	// Want restates what HQ holds: the store sends from there again.
	peer.send(Want{Have: engine.VersionVector{"S1": 8}})
	ev = peer.recv().(Events)
	if got := seqs(ev.Events); !slices.Equal(got, []uint64{9, 10}) {
		t.Fatalf("after Want the store sent %v; want 9, 10", got)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("session ended with %v", err)
	}
}

func TestNackUnavailableRetries(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	store.seed("S1", 100)
	hq.failNext = []error{errors.New("raft: no leader"), errors.New("raft: no leader")}
	stop := pair(t, store, hq, testConfig())
	waitFor(t, 5*time.Second, "HQ catches up after two failed applies", func() bool { return hq.vv()["S1"] == 100 })
	stop()
	if hq.maxApplies() > 1 {
		t.Fatal("an event was applied twice")
	}
}

func TestReceiverRefusesGapAndGarbage(t *testing.T) {
	tests := []struct {
		name    string
		send    func(p scripted)
		wantErr error
		want    Message // expected reply before the end, if any
	}{
		{
			name:    "garbage bytes",
			send:    func(p scripted) { p.conn.Send(context.Background(), []byte{1, 2, 0xff, 0xff, 0xff}) },
			wantErr: ErrMalformed,
		},
		{
			name:    "unknown wire version",
			send:    func(p scripted) { p.conn.Send(context.Background(), []byte{9, byte(TypePing), 0}) },
			wantErr: ErrVersion,
		},
		{
			name: "malformed event",
			send: func(p scripted) {
				p.send(Events{Batch: 1, Events: []engine.RawEvent{{Origin: "HQ", Seq: 1, Data: []byte("ok")}, {Origin: "HQ", Seq: 2, Data: []byte("bad")}}})
			},
			wantErr: engine.ErrBadEvent,
			want:    Nack{Batch: 1, Reason: NackBad, Have: engine.VersionVector{}},
		},
		{
			name:    "ack for nothing in flight",
			send:    func(p scripted) { p.send(Ack{Batch: 5}) },
			wantErr: ErrProtocol,
		},
		{
			name:    "second hello",
			send:    func(p scripted) { p.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ}) },
			wantErr: ErrProtocol,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			store := newMemLog("S1")
			a, b := newPipe("S1", "HQ")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, errc := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, testConfig())
			peer := scripted{t, b}
			peer.recv() // the store's Hello
			peer.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ})
			tt.send(peer)
			if tt.want != nil {
				if got := peer.recv(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("reply %#v; want %#v", got, tt.want)
				}
			}
			if err := <-errc; !errors.Is(err, tt.wantErr) {
				t.Fatalf("session ended with %v; want %v", err, tt.wantErr)
			}
			if n := store.applyCount(); n != 0 {
				t.Fatalf("%d events applied; want none", n)
			}
		})
	}
}

func TestGapBatchNacked(t *testing.T) {
	checkNoLeaks(t)
	store := newMemLog("S1")
	store.seed("HQ", 3)
	a, b := newPipe("S1", "HQ")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errc := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, testConfig())
	peer := scripted{t, b}
	peer.recv()
	peer.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ, Have: engine.VersionVector{"HQ": 9}})
	peer.send(Events{Batch: 1, Events: []engine.RawEvent{{Origin: "HQ", Seq: 4, Data: []byte("x")}, {Origin: "HQ", Seq: 6, Data: []byte("y")}}})
	got := peer.recv()
	want := Nack{Batch: 1, Reason: NackGap, Have: engine.VersionVector{"HQ": 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %#v; want %#v", got, want)
	}
	if n := store.applyCount(); n != 0 {
		t.Fatalf("%d events applied from a batch with a gap", n)
	}
	peer.send(Events{Batch: 2, Events: []engine.RawEvent{{Origin: "HQ", Seq: 4, Data: []byte("x")}}})
	if got, ok := peer.recv().(Ack); !ok || got.Batch != 2 || got.Have["HQ"] != 4 {
		t.Fatalf("got %#v; want Ack of batch 2 at HQ:4", got)
	}
	cancel()
	<-errc
}

func TestSilentPeerEndsSession(t *testing.T) {
	checkNoLeaks(t)
	store := newMemLog("S1")
	a, b := newPipe("S1", "HQ")
	cfg := testConfig()
	cfg.PingInterval, cfg.DeadAfter = 10*time.Millisecond, 100*time.Millisecond
	start := time.Now()
	_, errc := runSession(t, context.Background(), a, Local{Log: store, Role: RoleStore}, cfg)
	// The peer reads (so sends succeed) but never answers.
	go func() {
		for {
			if _, err := b.Recv(context.Background()); err != nil {
				return
			}
		}
	}()
	if err := <-errc; !errors.Is(err, ErrPeerSilent) {
		t.Fatalf("session ended with %v; want ErrPeerSilent", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("silent peer detected after %v", d)
	}
}

func TestRoleMismatchRefused(t *testing.T) {
	checkNoLeaks(t)
	s1, s2 := newMemLog("S1"), newMemLog("S2")
	a, b := newPipe("S1", "S2")
	_, e1 := runSession(t, context.Background(), a, Local{Log: s1, Role: RoleStore}, testConfig())
	_, e2 := runSession(t, context.Background(), b, Local{Log: s2, Role: RoleStore}, testConfig())
	// Whichever side reads the other's Hello first refuses it; the other
	// may see the connection close first.
	if err1, err2 := <-e1, <-e2; !errors.Is(err1, ErrProtocol) && !errors.Is(err2, ErrProtocol) {
		t.Fatalf("store–store sessions ended with %v, %v; want ErrProtocol", err1, err2)
	}
}

// TestPushLatency measures how long a new local event takes to reach the
// peer's log once both are in sync. It reports figures; it asserts only
// delivery.
func TestPushLatency(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	stop := pair(t, store, hq, testConfig())
	defer stop()
	const n = 300
	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		start := time.Now()
		store.append(1, "push")
		waitFor(t, 5*time.Second, "event reaches HQ", func() bool { return hq.vv()["S1"] == uint64(i) })
		hq.mu.Lock()
		at := hq.appliedAt[fmt.Sprintf("S1/%d", i)]
		hq.mu.Unlock()
		lat = append(lat, at.Sub(start))
	}
	slices.Sort(lat)
	t.Logf("push latency over %d events (in-memory pipe, -race=%v): p50 %v, p99 %v, max %v",
		n, raceEnabled, lat[n/2], lat[n*99/100], lat[n-1])
}

func seqs(evs []engine.RawEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}
