package syncproto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// network is an in-memory set of listening addresses: Dial makes a pipe
// and hands the far end to the address's accept queue.
type network struct {
	mu    sync.Mutex // guards following
	addrs map[string]chan MsgConn
	down  map[string]bool
	dials map[string]int
}

func newNetwork() *network {
	return &network{addrs: make(map[string]chan MsgConn), down: make(map[string]bool), dials: make(map[string]int)}
}

func (n *network) listen(addr string) AcceptFunc {
	ch := make(chan MsgConn, 4)
	n.mu.Lock()
	n.addrs[addr] = ch
	n.mu.Unlock()
	return func(ctx context.Context) (MsgConn, error) {
		select {
		case c := <-ch:
			return c, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (n *network) setDown(addr string, down bool) {
	n.mu.Lock()
	n.down[addr] = down
	n.mu.Unlock()
}

func (n *network) dialer(from string) DialFunc {
	return func(ctx context.Context, addr string) (MsgConn, error) {
		n.mu.Lock()
		ch, ok := n.addrs[addr]
		down := n.down[addr]
		n.dials[addr]++
		n.mu.Unlock()
		if !ok || down {
			return nil, fmt.Errorf("dial %s: connection refused", addr)
		}
		a, b := newPipe(from, addr)
		select {
		case ch <- b:
			return a, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (n *network) dialCount(addr string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials[addr]
}

// fakeHolds is an HQ hold authority: each id decided once, a balance that
// never goes below zero, an optional gate that blocks decisions.
type fakeHolds struct {
	mu        sync.Mutex // guards following
	balance   engine.Points
	decisions map[string]engine.HoldDecision
	calls     int
	block     chan struct{} // when set, PlaceHold waits on it
	err       error         // when set, PlaceHold fails with it
}

func (h *fakeHolds) PlaceHold(ctx context.Context, hold engine.Hold) (engine.HoldDecision, error) {
	h.mu.Lock()
	block, err := h.block, h.err
	h.calls++
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return engine.HoldDecision{}, ctx.Err()
		}
	}
	if err != nil {
		return engine.HoldDecision{}, err
	}
	if hold.Points <= 0 {
		return engine.HoldDecision{}, fmt.Errorf("hq: %d points: %w", hold.Points, ErrInvalidHold)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.decisions[hold.ID]; ok {
		return d, nil
	}
	d := engine.HoldDecision{Available: h.balance, Status: engine.HoldRefused}
	if hold.Points <= h.balance {
		h.balance -= hold.Points
		d.Granted, d.Status = true, engine.HoldPending
	}
	h.decisions[hold.ID] = d
	return d, nil
}

func (h *fakeHolds) VoidHold(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.decisions[id]; ok && d.Status == engine.HoldPending {
		d.Status = engine.HoldVoided
		h.decisions[id] = d
	}
	return nil
}

// hqNode runs a Server on addr until the test ends.
func hqNode(t *testing.T, net *network, addr string, cfg ServerConfig) (*Server, func()) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	accept := net.listen(addr)
	go func() { done <- srv.Serve(context.Background(), accept) }()
	stop := func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v; want ErrServerClosed", err)
		}
	}
	return srv, stop
}

// storeClient runs a Client until the returned stop is called.
func storeClient(t *testing.T, cfg ClientConfig) (*Client, func()) {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Client.Run: %v", err)
		}
	}
}

func clientConfig(log *memLog, net *network, hq ...string) ClientConfig {
	return ClientConfig{
		Log: log, HQ: hq, Dial: net.dialer(log.origin), Session: testConfig(),
		HoldTimeout: 300 * time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	}
}

func TestClientHolds(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	hqLog, store := newMemLog("HQ"), newMemLog("S1")
	holds := &fakeHolds{balance: 1000, decisions: make(map[string]engine.HoldDecision)}
	_, stopHQ := hqNode(t, net, "hq1", ServerConfig{Log: hqLog, Holds: holds, Session: testConfig()})
	defer stopHQ()
	c, stopClient := storeClient(t, clientConfig(store, net, "hq1"))
	defer stopClient()
	hc := c.Holds()
	ctx := context.Background()

	waitFor(t, 5*time.Second, "HQ reachable", hc.Reachable)
	hold := engine.Hold{ID: "S1-T1-R1", Store: "S1", Member: "m1", Points: 600}
	d, err := hc.Hold(ctx, hold)
	if err != nil || !d.Granted || d.Available != 1000 || d.Status != engine.HoldPending {
		t.Fatalf("Hold = %+v, %v; want granted, 1000 available", d, err)
	}
	// A retry of the same id gets the same decision, not a second debit.
	d2, err := hc.Hold(ctx, hold)
	if err != nil || d2 != d {
		t.Fatalf("retried Hold = %+v, %v; want %+v", d2, err, d)
	}
	// A second hold that would overdraw is refused, and stays refused.
	over := engine.Hold{ID: "S1-T1-R2", Store: "S1", Member: "m1", Points: 600}
	for range 2 {
		if d, err := hc.Hold(ctx, over); err != nil || d.Granted || d.Status != engine.HoldRefused || d.Available != 400 {
			t.Fatalf("overdrawing Hold = %+v, %v; want refused with 400 available", d, err)
		}
	}
	if err := hc.Void(ctx, hold.ID); err != nil {
		t.Fatalf("Void: %v", err)
	}
	if _, err := hc.Hold(ctx, engine.Hold{ID: "S1-T1-R3", Points: -5}); !errors.Is(err, ErrInvalidHold) {
		t.Fatalf("Hold of negative points: %v; want ErrInvalidHold", err)
	}

	// HQ that does not answer in time: ErrHQUnreachable after HoldTimeout.
	holds.mu.Lock()
	holds.block = make(chan struct{})
	holds.mu.Unlock()
	start := time.Now()
	_, err = hc.Hold(ctx, engine.Hold{ID: "S1-T1-R4", Store: "S1", Member: "m1", Points: 10})
	if !errors.Is(err, engine.ErrHQUnreachable) {
		t.Fatalf("Hold with HQ stuck: %v; want ErrHQUnreachable", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Hold gave up after %v; want about HoldTimeout (300ms)", took)
	}
	// The retry of that id once HQ answers is decided once.
	holds.mu.Lock()
	close(holds.block)
	holds.block = nil
	holds.mu.Unlock()
	d, err = hc.Hold(ctx, engine.Hold{ID: "S1-T1-R4", Store: "S1", Member: "m1", Points: 10})
	if err != nil || !d.Granted {
		t.Fatalf("retried Hold after timeout = %+v, %v; want granted", d, err)
	}
	holds.mu.Lock()
	balance := holds.balance
	holds.mu.Unlock()
	if balance != 390 {
		t.Fatalf("HQ balance %d; want 390 (1000 − 600 − 10: retries debit once)", balance)
	}

	// HQ unable to decide (no leader): retried, then ErrHQUnreachable.
	holds.mu.Lock()
	holds.err = errors.New("raft: no leader")
	holds.mu.Unlock()
	if _, err := hc.Hold(ctx, engine.Hold{ID: "S1-T1-R5", Points: 1}); !errors.Is(err, engine.ErrHQUnreachable) {
		t.Fatalf("Hold with no leader: %v; want ErrHQUnreachable", err)
	}
}

func TestHoldWithoutSession(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork() // nothing listens
	c, stop := storeClient(t, clientConfig(newMemLog("S1"), net, "hq1"))
	defer stop()
	if c.Holds().Reachable() {
		t.Fatal("Reachable with no HQ")
	}
	start := time.Now()
	_, err := c.Holds().Hold(context.Background(), engine.Hold{ID: "S1-T1-R1", Points: 1})
	if !errors.Is(err, engine.ErrHQUnreachable) {
		t.Fatalf("Hold = %v; want ErrHQUnreachable", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("Hold without a session took %v; want an immediate answer", took)
	}
}

func TestClientFollowsRedirect(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	leader, follower, store := newMemLog("HQ"), newMemLog("HQ"), newMemLog("S1")
	leader.seed("HQ", 25)
	_, stop1 := hqNode(t, net, "hq1", ServerConfig{Log: leader, Session: testConfig()})
	defer stop1()
	_, stop2 := hqNode(t, net, "hq2", ServerConfig{Log: follower, Session: testConfig(),
		Admit: func(ctx context.Context, peer string, h Hello) error {
			return &RedirectError{LeaderID: "HQ1", LeaderAddr: "hq1"}
		}})
	defer stop2()
	store.append(10, "sale")
	c, stop := storeClient(t, clientConfig(store, net, "hq2"))
	defer stop()
	waitFor(t, 5*time.Second, "store synced through the leader", func() bool {
		return vvEqual(store.vv(), leader.vv())
	})
	if st := c.State(); !st.HQ.Connected || st.HQ.Addr != "hq1" || st.HQ.PeerOrigin != "HQ" {
		t.Fatalf("HQ link %+v; want connected to hq1", st.HQ)
	}
	if n := follower.applyCount(); n != 0 {
		t.Fatalf("follower applied %d events", n)
	}
}

func TestClientTriesAddressesInTurn(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	hq, store := newMemLog("HQ"), newMemLog("S1")
	_, stopHQ := hqNode(t, net, "hq3", ServerConfig{Log: hq, Session: testConfig()})
	defer stopHQ()
	store.append(3, "sale")
	c, stop := storeClient(t, clientConfig(store, net, "hq1", "hq2", "hq3"))
	defer stop()
	waitFor(t, 5*time.Second, "store reaches the third HQ address", func() bool { return hq.vv()["S1"] == 3 })
	waitFor(t, 5*time.Second, "lag zero", func() bool {
		st := c.State().HQ
		return st.Connected && st.Lag == 0 && st.EventsSent == 3
	})
}

// TestClientReconnectsAndCatchesUp: HQ goes away, the store trades, HQ
// comes back: the backlog arrives, once.
func TestClientReconnectsAndCatchesUp(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	hq, store := newMemLog("HQ"), newMemLog("S1")
	srv, stopHQ := hqNode(t, net, "hq1", ServerConfig{Log: hq, Session: testConfig()})
	c, stop := storeClient(t, clientConfig(store, net, "hq1"))
	defer stop()
	store.append(5, "before")
	waitFor(t, 5*time.Second, "first sync", func() bool { return hq.vv()["S1"] == 5 })
	net.setDown("hq1", true)
	stopHQ()
	waitFor(t, 5*time.Second, "HQ link down", func() bool { return !c.State().HQ.Connected })
	store.append(2000, "offline")
	if st := c.State(); st.HQDownSince.IsZero() {
		t.Fatalf("state %+v: HQDownSince unset while down", st)
	}
	net.setDown("hq1", false)
	_, stopHQ = hqNode(t, net, "hq1", ServerConfig{Log: hq, Session: testConfig()})
	defer stopHQ()
	start := time.Now()
	waitFor(t, 10*time.Second, "catch-up", func() bool { return hq.vv()["S1"] == 2005 })
	t.Logf("2000-event catch-up after reconnect: %v", time.Since(start))
	if hq.maxApplies() > 1 {
		t.Fatal("an event was applied twice")
	}
	_ = srv
}

func TestPeerFallback(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	s1, s2 := newMemLog("S1"), newMemLog("S2")
	s2.seed("S2", 40)
	// S2 accepts peer sessions; nobody serves HQ.
	_, stopPeer := hqNode(t, net, "s2", ServerConfig{Log: s2, Role: RolePeer, Session: testConfig()})
	defer stopPeer()
	cfg := clientConfig(s1, net, "hq1")
	cfg.Peers = []string{"s2"}
	cfg.PeerFallbackAfter = 200 * time.Millisecond
	start := time.Now()
	c, stop := storeClient(t, cfg)
	defer stop()
	s1.append(30, "offline")
	want := engine.VersionVector{"S1": 30, "S2": 40}
	waitFor(t, 5*time.Second, "peers exchange events", func() bool {
		return vvEqual(s1.vv(), want) && vvEqual(s2.vv(), want)
	})
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("peer sync began after %v, before PeerFallbackAfter", took)
	}
	if st := c.State(); len(st.Peers) != 1 || !st.Peers[0].Connected || st.Peers[0].PeerRole != RolePeer {
		t.Fatalf("peer links %+v; want one connected", st.Peers)
	}
	if net.dialCount("hq1") < 2 {
		t.Fatalf("HQ dialled %d times; want retries during the fallback", net.dialCount("hq1"))
	}
}

func TestServerCloseEndsSessions(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	hq := newMemLog("HQ")
	srv, stopHQ := hqNode(t, net, "hq1", ServerConfig{Log: hq, Session: testConfig()})
	var stops []func()
	for i := range 3 {
		_, stop := storeClient(t, clientConfig(newMemLog(fmt.Sprintf("S%d", i)), net, "hq1"))
		stops = append(stops, stop)
	}
	waitFor(t, 5*time.Second, "three sessions", func() bool { return len(srv.Sessions()) == 3 })
	stopHQ() // returns only once every session has ended
	if n := len(srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions after Close", n)
	}
	for _, stop := range stops {
		stop()
	}
}

// redirectingHolds is an HQ follower that can neither decide nor forward.
type redirectingHolds struct{ to string }

func (r redirectingHolds) PlaceHold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	return engine.HoldDecision{}, &RedirectError{LeaderID: "HQ1", LeaderAddr: r.to}
}

func (r redirectingHolds) VoidHold(ctx context.Context, id string) error {
	return &RedirectError{LeaderID: "HQ1", LeaderAddr: r.to}
}

// TestHoldFollowsRedirect: a hold sent to a follower is redirected; the
// client moves to the leader and the same call gets the leader's decision.
func TestHoldFollowsRedirect(t *testing.T) {
	checkNoLeaks(t)
	net := newNetwork()
	holds := &fakeHolds{balance: 50, decisions: make(map[string]engine.HoldDecision)}
	_, stop1 := hqNode(t, net, "hq1", ServerConfig{Log: newMemLog("HQ"), Holds: holds, Session: testConfig()})
	defer stop1()
	_, stop2 := hqNode(t, net, "hq2", ServerConfig{Log: newMemLog("HQ"), Holds: redirectingHolds{to: "hq1"}, Session: testConfig()})
	defer stop2()
	cfg := clientConfig(newMemLog("S1"), net, "hq2")
	cfg.HoldTimeout = 2 * time.Second
	c, stop := storeClient(t, cfg)
	defer stop()
	waitFor(t, 5*time.Second, "session to the follower", c.Holds().Reachable)
	d, err := c.Holds().Hold(context.Background(), engine.Hold{ID: "S1-T1-R1", Store: "S1", Member: "m", Points: 20})
	if err != nil || !d.Granted {
		t.Fatalf("Hold = %+v, %v; want granted by the leader", d, err)
	}
	if st := c.State().HQ; st.Addr != "hq1" {
		t.Fatalf("HQ link at %q; want hq1", st.Addr)
	}
}
