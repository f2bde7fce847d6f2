package hq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// testTimings are raft timeouts for loopback on a busy 2-core machine
// under -race: short enough for fast elections, long enough not to flap.
func testTimings(c *Config) {
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.DialTimeout = 2 * time.Second
	c.IOTimeout = 2 * time.Second
}

// testLogger discards unless HQ_TEST_LOG=1.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HQ_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// testClock is a settable clock shared by a cluster's nodes.
type testClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// cluster runs HQ nodes on loopback with mutual TLS from one in-memory CA.
type cluster struct {
	t        testing.TB
	ca       *CA
	clock    *testClock
	balances map[string]engine.Points
	tune     func(*Config)
	boot     []Server // the bootstrap list

	mu     sync.Mutex // guards following
	nodes  map[string]*Node
	stores map[string]*fakeStore
	dirs   map[string]string
	addrs  map[string]string
}

// newCluster starts ids as the bootstrap voters and waits for a leader.
// tune, if set, adjusts every node's Config.
func newCluster(t testing.TB, ids []string, tune func(*Config)) *cluster {
	t.Helper()
	ca, err := NewCA("test cluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, ca: ca, tune: tune,
		clock:    &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		balances: map[string]engine.Points{"M1": 100, "M2": 50},
		nodes:    map[string]*Node{}, stores: map[string]*fakeStore{},
		dirs: map[string]string{}, addrs: map[string]string{},
	}
	t.Cleanup(c.closeAll)
	lns := map[string]net.Listener{}
	var boot []Server
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		c.addrs[id] = ln.Addr().String()
		boot = append(boot, Server{ID: id, Addr: ln.Addr().String()})
	}
	c.boot = boot
	for _, id := range ids {
		c.dirs[id] = t.TempDir()
		c.stores[id] = newFakeStore(c.balances)
		c.open(id, lns[id], boot)
	}
	c.leader()
	return c
}

func (c *cluster) config(id string, ln net.Listener, boot []Server) Config {
	tlsCfg, err := c.ca.NodeTLS(id)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := Config{
		ID: id, Dir: c.dirs[id], RaftListener: ln, TLS: tlsCfg, Bootstrap: boot,
		Store: c.stores[id], Logger: testLogger(c.t), Now: c.clock.Now,
	}
	testTimings(&cfg)
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

// open starts node id on ln (nil: listen again on its address).
func (c *cluster) open(id string, ln net.Listener, boot []Server) *Node {
	c.t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.addrs[id]); err != nil {
			c.t.Fatal(err)
		}
	}
	n, err := Open(context.Background(), c.config(id, ln, boot))
	if err != nil {
		c.t.Fatalf("open %s: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

// addNode starts a new, empty node (no bootstrap) and adds it as a voter.
func (c *cluster) addNode(id string) *Node {
	c.t.Helper()
	leader := c.leader() // before the new node runs: it knows no leader yet
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.dirs[id] = c.t.TempDir()
	c.addrs[id] = ln.Addr().String()
	c.stores[id] = newFakeStore(c.balances)
	c.mu.Unlock()
	n := c.open(id, ln, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.AddVoter(ctx, id, n.Addr()); err != nil {
		c.t.Fatalf("add voter %s: %v", id, err)
	}
	return n
}

func (c *cluster) stop(id string) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Errorf("close %s: %v", id, err)
	}
}

func (c *cluster) closeAll() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = map[string]*Node{}
	c.mu.Unlock()
	for id, n := range nodes {
		if err := n.Close(); err != nil {
			c.t.Errorf("close %s: %v", id, err)
		}
	}
}

func (c *cluster) running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

func (c *cluster) node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func (c *cluster) store(id string) *fakeStore {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[id]
}

// leader waits until exactly one running node leads and every running
// node knows it.
func (c *cluster) leader() *Node {
	c.t.Helper()
	var leader *Node
	waitFor(c.t, 15*time.Second, "a leader every node knows", func() bool {
		leader = nil
		nodes := c.running()
		for _, n := range nodes {
			if n.IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range nodes {
			if id, _ := n.Leader(); id != leader.ID() {
				return false
			}
		}
		return true
	})
	return leader
}

// follower returns a running node that is not the leader.
func (c *cluster) follower() *Node {
	l := c.leader()
	for _, n := range c.running() {
		if n != l {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// converged waits until the stores of ids hold the same state.
func (c *cluster) converged(ids ...string) {
	c.t.Helper()
	var got []string
	waitFor(c.t, 15*time.Second, "stores converged", func() bool {
		got = got[:0]
		for _, id := range ids {
			got = append(got, c.store(id).fingerprint())
		}
		for _, g := range got[1:] {
			if g != got[0] {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond every 10 ms until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

// appendRetrying sends events until some node acknowledges them,
// following NotLeaderError and retrying unknown outcomes, as the sync
// layer does. It returns how many unknown outcomes it retried.
func (c *cluster) appendRetrying(ctx context.Context, events []engine.RawEvent) (unknown int, err error) {
	var target *Node
	for ctx.Err() == nil {
		if target == nil {
			for _, n := range c.running() {
				if n.IsLeader() {
					target = n
				}
			}
			if target == nil {
				time.Sleep(5 * time.Millisecond) // no leader yet: poll
				continue
			}
		}
		_, err := target.AppendEvents(ctx, events)
		var nl *NotLeaderError
		switch {
		case err == nil:
			return unknown, nil
		case errors.As(err, &nl):
			target = c.node(nl.LeaderID) // nil if unknown or stopped
		case errors.Is(err, ErrUnknownOutcome):
			unknown++
			target = nil
		case errors.Is(err, ErrClosed):
			target = nil
		default:
			return unknown, err
		}
	}
	return unknown, ctx.Err()
}

func ev(origin string, seq uint64) engine.RawEvent {
	return engine.RawEvent{Origin: origin, Seq: seq, Data: fmt.Appendf(nil, "%s/%d", origin, seq)}
}
