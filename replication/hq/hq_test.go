package hq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var three = []string{"HQ1", "HQ2", "HQ3"}

func TestElectionAndMembership(t *testing.T) {
	c := newCluster(t, three, nil)
	l := c.leader()
	servers, err := l.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	leaders := 0
	for _, s := range servers {
		ids = append(ids, s.ID)
		if !s.Voter {
			t.Errorf("%s is not a voter", s.ID)
		}
		if s.Leader {
			leaders++
		}
	}
	slices.Sort(ids)
	if got, want := strings.Join(ids, ","), "HQ1,HQ2,HQ3"; got != want {
		t.Errorf("servers = %s, want %s", got, want)
	}
	if leaders != 1 {
		t.Errorf("%d servers marked leader, want 1", leaders)
	}
	st := l.Stats()
	if st.State != "Leader" || st.LeaderID != l.ID() || st.Term == 0 {
		t.Errorf("leader stats = %+v", st)
	}
	for _, n := range c.running() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		id, addr, err := n.WaitForLeader(ctx)
		cancel()
		if err != nil || id != l.ID() || addr != l.Addr() {
			t.Errorf("%s: WaitForLeader = %s %s %v, want %s %s", n.ID(), id, addr, err, l.ID(), l.Addr())
		}
	}
}

func TestFollowerReturnsNotLeader(t *testing.T) {
	c := newCluster(t, three, nil)
	l, f := c.leader(), c.follower()
	ctx := context.Background()
	check := func(what string, err error) {
		t.Helper()
		var nl *NotLeaderError
		if !errors.As(err, &nl) {
			t.Fatalf("%s on follower: err = %v, want *NotLeaderError", what, err)
		}
		if nl.LeaderID != l.ID() || nl.LeaderAddr != l.Addr() {
			t.Errorf("%s: NotLeaderError names %s at %s, want %s at %s", what, nl.LeaderID, nl.LeaderAddr, l.ID(), l.Addr())
		}
	}
	_, err := f.AppendEvents(ctx, []engine.RawEvent{ev("S001", 1)})
	check("AppendEvents", err)
	_, err = f.PlaceHold(ctx, engine.Hold{ID: "h", Store: "S001", Member: "M1", Points: 1})
	check("PlaceHold", err)
	check("VoidHold", f.VoidHold(ctx, "h"))
	_, err = f.ExpireHolds(ctx)
	check("ExpireHolds", err)
	check("AddVoter", f.AddVoter(ctx, "HQ9", "127.0.0.1:1"))
	check("RemoveServer", f.RemoveServer(ctx, "HQ3"))
}

// TestAppendEventsGroupsConcurrentCallers: many goroutines, few entries,
// the same events on all three FSMs.
func TestAppendEventsGroupsConcurrentCallers(t *testing.T) {
	c := newCluster(t, three, nil)
	l := c.leader()
	const writers, calls = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			origin := fmt.Sprintf("S%03d", w)
			seq := uint64(0)
			for range calls {
				batch := []engine.RawEvent{ev(origin, seq+1), ev(origin, seq+2)}
				seq += 2
				if _, err := l.AppendEvents(context.Background(), batch); err != nil {
					errs <- fmt.Errorf("%s: %w", origin, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.converged(three...)
	_, _, entries := c.store(l.ID()).counters()
	events := writers * calls * 2
	perEntry := float64(events) / float64(entries)
	t.Logf("%d events in %d entries: %.1f events/entry", events, entries, perEntry)
	if perEntry <= 1.5 {
		t.Errorf("%.2f events per entry, want grouping (> 1.5)", perEntry)
	}
	for w := range writers {
		origin := fmt.Sprintf("S%03d", w)
		got := c.store("HQ2").events(origin)
		if len(got) != calls*2 {
			t.Errorf("%s: %d events, want %d", origin, len(got), calls*2)
		}
	}
	if h := testutil.CollectAndCount(l.m.eventsPerEntry); h != 1 {
		t.Errorf("events_per_entry histogram count = %d", h)
	}
}

// TestGroupRefusalIsolatesCaller: a gap refuses only its own caller's
// events, not those grouped with it.
func TestGroupRefusalIsolatesCaller(t *testing.T) {
	c := newCluster(t, three, nil)
	l := c.leader()
	good := &appendReq{events: []engine.RawEvent{ev("S001", 1), ev("S001", 2)}, done: make(chan appendResult, 1)}
	gap := &appendReq{events: []engine.RawEvent{ev("S002", 5)}, done: make(chan appendResult, 1)}
	bad := &appendReq{events: []engine.RawEvent{{Origin: "S003", Seq: 1, Data: []byte("bad")}}, done: make(chan appendResult, 1)}
	l.proposeGroup([]*appendReq{good, gap, bad})
	if r := <-good.done; r.err != nil || r.vv["S001"] != 2 {
		t.Errorf("good caller: vv %v err %v, want S001=2", r.vv, r.err)
	}
	if r := <-gap.done; !errors.Is(r.err, engine.ErrEventGap) {
		t.Errorf("gap caller: err %v, want ErrEventGap", r.err)
	}
	if r := <-bad.done; !errors.Is(r.err, engine.ErrBadEvent) {
		t.Errorf("bad caller: err %v, want ErrBadEvent", r.err)
	}
	c.converged(three...)
	// Two callers with swapped ranges of one origin are healed by the
	// (origin, seq) sort.
	late := &appendReq{events: []engine.RawEvent{ev("S004", 3), ev("S004", 4)}, done: make(chan appendResult, 1)}
	early := &appendReq{events: []engine.RawEvent{ev("S004", 1), ev("S004", 2)}, done: make(chan appendResult, 1)}
	l.proposeGroup([]*appendReq{late, early})
	for _, r := range []*appendReq{late, early} {
		if res := <-r.done; res.err != nil || res.vv["S004"] != 4 {
			t.Errorf("swapped ranges: vv %v err %v", res.vv, res.err)
		}
	}
}

// TestLeaderKilledMidStream: every acknowledged append survives the
// leader's shutdown; unknown outcomes retried land exactly once.
func TestLeaderKilledMidStream(t *testing.T) {
	c := newCluster(t, three, nil)
	old := c.leader()
	const writers, perWriter = 8, 60
	var acked atomic.Int64
	var unknown atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			origin := fmt.Sprintf("S%03d", w)
			for seq := uint64(1); seq <= perWriter; seq++ {
				u, err := c.appendRetrying(ctx, []engine.RawEvent{ev(origin, seq)})
				unknown.Add(int64(u))
				if err != nil {
					errs <- fmt.Errorf("%s/%d: %w", origin, seq, err)
					return
				}
				acked.Add(1)
			}
		})
	}
	waitFor(t, 10*time.Second, "some acknowledged appends", func() bool { return acked.Load() >= writers*10 })
	c.stop(old.ID())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l := c.leader()
	if l.ID() == old.ID() {
		t.Fatal("old leader still leads")
	}
	var survivors []string
	for _, n := range c.running() {
		survivors = append(survivors, n.ID())
	}
	c.converged(survivors...)
	for _, id := range survivors {
		for w := range writers {
			origin := fmt.Sprintf("S%03d", w)
			got := c.store(id).events(origin)
			if len(got) != perWriter {
				t.Errorf("%s %s: %d events, want %d", id, origin, len(got), perWriter)
			}
			for i, e := range got {
				if e.Seq != uint64(i+1) || string(e.Data) != string(ev(origin, e.Seq).Data) {
					t.Errorf("%s %s: event %d is %s/%d %q", id, origin, i, e.Origin, e.Seq, e.Data)
				}
			}
		}
		if d := c.store(id).duplicateEffects(); len(d) > 0 {
			t.Errorf("%s: duplicate effects at %v", id, d)
		}
	}
	t.Logf("acknowledged %d, unknown outcomes retried %d, new leader %s", acked.Load(), unknown.Load(), l.ID())
}

// TestRestartAppliesOnlyNewIndexes: a node restarted on the same Dir and
// store sees raft replay its log, skips what it holds and applies the
// rest once.
func TestRestartAppliesOnlyNewIndexes(t *testing.T) {
	c := newCluster(t, three, nil)
	ctx := context.Background()
	for seq := uint64(1); seq <= 20; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(three...)
	f := c.follower()
	id := f.ID()
	c.stop(id)
	// Entries committed while it is down.
	for seq := uint64(21); seq <= 30; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	skipsBefore, _, _ := c.store(id).counters()
	c.open(id, nil, c.boot) // bootstrap again: a no-op on existing state
	c.converged(three...)
	skips, restores, _ := c.store(id).counters()
	if skips-skipsBefore < 20 {
		t.Errorf("restart skipped %d replayed entries, want ≥ 20 (raft replays, the store skips)", skips-skipsBefore)
	}
	if restores != 0 {
		t.Errorf("%d snapshot restores on restart, want 0 (NoSnapshotRestoreOnStart)", restores)
	}
	for _, n := range three {
		if d := c.store(n).duplicateEffects(); len(d) > 0 {
			t.Errorf("%s: duplicate effects at %v", n, d)
		}
	}
	if got := len(c.store(id).events("S001")); got != 30 {
		t.Errorf("restarted node holds %d events, want 30", got)
	}
}

// TestSnapshotCatchUp: a fourth node joins after the log was compacted
// and catches up from the leader's snapshot; a restarted node whose store
// was lost restores from its own snapshot at Open.
func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, three, func(cfg *Config) {
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 4
	})
	ctx := context.Background()
	for seq := uint64(1); seq <= 30; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.leader().PlaceHold(ctx, engine.Hold{ID: "h1", Store: "S001", Member: "M1", Points: 10}); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.running() {
		if err := n.Snapshot(ctx); err != nil {
			t.Fatalf("%s: snapshot: %v", n.ID(), err)
		}
	}
	// More entries after the snapshot, so the log is compacted past 1.
	for seq := uint64(31); seq <= 40; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	n4 := c.addNode("HQ4")
	c.converged("HQ1", "HQ2", "HQ3", "HQ4")
	if _, restores, _ := c.store("HQ4").counters(); restores != 1 {
		t.Errorf("HQ4 restored %d snapshots, want 1", restores)
	}
	servers, err := c.leader().Servers()
	if err != nil || len(servers) != 4 {
		t.Fatalf("servers = %v, %v; want 4", servers, err)
	}
	if _, ok := c.store("HQ4").hold("h1"); !ok {
		t.Error("HQ4 lacks hold h1 from the snapshot")
	}

	// Store data lost on a follower: Open restores the local snapshot,
	// then raft replays the trailing log on top.
	f := c.follower()
	id := f.ID()
	c.stop(id)
	c.mu.Lock()
	c.stores[id] = newFakeStore(c.balances)
	c.mu.Unlock()
	c.open(id, nil, nil)
	c.converged("HQ1", "HQ2", "HQ3", "HQ4")
	if _, restores, _ := c.store(id).counters(); restores != 1 {
		t.Errorf("%s restored %d snapshots at Open, want 1", id, restores)
	}

	// Remove the fourth node again.
	if err := c.leader().RemoveServer(ctx, n4.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "HQ4 removed", func() bool {
		s, err := c.leader().Servers()
		return err == nil && len(s) == 3
	})
}

// TestHolds: idempotent by id, deterministic on every replica, refusal
// sticks, void and expiry by the leader's clock.
func TestHolds(t *testing.T) {
	c := newCluster(t, three, func(cfg *Config) {
		cfg.HoldTTL = 2 * time.Minute
		cfg.ExpireInterval = time.Hour // the test proposes expiry itself
		cfg.Metrics = prometheus.NewRegistry()
	})
	ctx := context.Background()
	l := c.leader()
	hold := func(id string, points engine.Points) engine.HoldDecision {
		t.Helper()
		d, err := l.PlaceHold(ctx, engine.Hold{ID: id, Store: "S001", Member: "M1", Points: points})
		if err != nil {
			t.Fatalf("hold %s: %v", id, err)
		}
		return d
	}
	if d := hold("h1", 60); !d.Granted || d.Available != 100 || d.Status != engine.HoldPending {
		t.Errorf("h1 = %+v, want granted with 100 available", d)
	}
	c.clock.Advance(time.Second) // a retry later must not change the decision
	if d := hold("h1", 60); !d.Granted || d.Available != 100 {
		t.Errorf("h1 repeated = %+v, want the first decision", d)
	}
	if d := hold("h2", 50); d.Granted || d.Available != 40 || d.Status != engine.HoldRefused {
		t.Errorf("h2 = %+v, want refused with 40 available", d)
	}
	if err := l.VoidHold(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if d := hold("h2", 50); d.Granted || d.Status != engine.HoldRefused {
		t.Errorf("h2 after void = %+v, want still refused", d)
	}
	if d := hold("h3", 50); !d.Granted {
		t.Errorf("h3 = %+v, want granted after h1 voided", d)
	}
	c.converged(three...)
	h1, _ := c.store("HQ1").hold("h1")
	for _, id := range three {
		h, _ := c.store(id).hold("h1")
		if !h.Hold.At.Equal(h1.Hold.At) || h.Status != engine.HoldVoided {
			t.Errorf("%s: h1 = %+v, want voided at %v", id, h, h1.Hold.At)
		}
	}
	c.clock.Advance(3 * time.Minute)
	if n, err := l.ExpireHolds(ctx); err != nil || n != 1 {
		t.Errorf("ExpireHolds = %d, %v; want 1 (h3)", n, err)
	}
	c.converged(three...)
	if h, _ := c.store("HQ3").hold("h3"); h.Status != engine.HoldExpired {
		t.Errorf("h3 status %s, want expired", h.Status)
	}
	if _, err := l.PlaceHold(ctx, engine.Hold{ID: "bad", Store: "S001", Member: "M1", Points: 0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero-point hold: %v, want ErrInvalid", err)
	}
	for outcome, want := range map[string]float64{"granted": 3, "refused": 2, "voided": 1, "expired": 1} {
		if got := testutil.ToFloat64(l.m.holds.WithLabelValues(outcome)); got != want {
			t.Errorf("holds{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
}

// TestExpireLoop: the leader expires unposted holds by itself.
func TestExpireLoop(t *testing.T) {
	c := newCluster(t, three, func(cfg *Config) {
		cfg.HoldTTL = time.Minute
		cfg.ExpireInterval = 20 * time.Millisecond
	})
	ctx := context.Background()
	if _, err := c.leader().PlaceHold(ctx, engine.Hold{ID: "h1", Store: "S001", Member: "M1", Points: 5}); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(2 * time.Minute)
	waitFor(t, 5*time.Second, "h1 expired on every node", func() bool {
		for _, id := range three {
			if h, _ := c.store(id).hold("h1"); h.Status != engine.HoldExpired {
				return false
			}
		}
		return true
	})
}

// TestStoreFailureStopsNode: an I/O failure (not a refusal) in one
// replica's store stops that node; the others go on, and the restarted
// node applies what it missed.
func TestStoreFailureStopsNode(t *testing.T) {
	c := newCluster(t, three, nil)
	ctx := context.Background()
	f := c.follower()
	s := c.store(f.ID())
	s.mu.Lock()
	s.failAt = c.leader().raft.LastIndex() + 2
	s.mu.Unlock()
	for seq := uint64(1); seq <= 5; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-f.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("node with failing store did not stop")
	}
	if !errors.Is(f.Err(), ErrStoreFailed) || !errors.Is(f.Err(), errFakeIO) {
		t.Errorf("Err = %v, want ErrStoreFailed wrapping the store's error", f.Err())
	}
	id := f.ID()
	c.stop(id)
	s.mu.Lock()
	s.failAt = 0
	s.mu.Unlock()
	c.open(id, nil, nil)
	c.converged(three...)
	if got := len(c.store(id).events("S001")); got != 5 {
		t.Errorf("restarted node holds %d events, want 5", got)
	}
}

func TestAppendEventsValidation(t *testing.T) {
	c := newCluster(t, []string{"HQ1"}, func(cfg *Config) { cfg.MaxBatchEvents = 3 })
	l := c.leader()
	ctx := context.Background()
	for name, evs := range map[string][]engine.RawEvent{
		"none":       nil,
		"seq 0":      {{Origin: "S001", Seq: 0}},
		"no origin":  {{Seq: 1}},
		"long event": {{Origin: "S001", Seq: 1, Data: make([]byte, MaxEventBytes+1)}},
	} {
		if _, err := l.AppendEvents(ctx, evs); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	// A call larger than one entry is split, in order.
	var big []engine.RawEvent
	for seq := uint64(1); seq <= 10; seq++ {
		big = append(big, ev("S009", seq))
	}
	vv, err := l.AppendEvents(ctx, big)
	if err != nil || vv["S009"] != 10 {
		t.Fatalf("split call: vv %v err %v", vv, err)
	}
	if _, _, ops := c.store("HQ1").counters(); ops != 4 {
		t.Errorf("%d entries for 10 events at MaxBatchEvents 3, want 4", ops)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEvents(ctx, big); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// TestRecoverFromPeersFile: two of three nodes are lost for good; the
// survivor, given a peers.json that lists only itself, becomes leader of a
// one-node cluster at Open, keeps everything committed, commits again, and
// does not apply the file twice.
func TestRecoverFromPeersFile(t *testing.T) {
	c := newCluster(t, three, nil)
	ctx := context.Background()
	for seq := uint64(1); seq <= 10; seq++ {
		if _, err := c.appendRetrying(ctx, []engine.RawEvent{ev("S001", seq)}); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(three...)
	survivor := three[0]
	c.closeAll()
	peers := fmt.Sprintf(`[{"id": %q, "address": %q, "non_voter": false}]`, survivor, c.addrs[survivor])
	path := filepath.Join(c.dirs[survivor], PeersFile)
	if err := os.WriteFile(path, []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	n := c.open(survivor, nil, c.boot)
	waitFor(t, 10*time.Second, survivor+" leads alone", n.IsLeader)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after recovery: %v", PeersFile, err)
	}
	if _, err := os.Stat(path + ".applied"); err != nil {
		t.Errorf("%s.applied: %v", PeersFile, err)
	}
	if _, err := n.AppendEvents(ctx, []engine.RawEvent{ev("S001", 11)}); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if got := len(c.store(survivor).events("S001")); got != 11 {
		t.Errorf("survivor holds %d events, want 11", got)
	}
	if d := c.store(survivor).duplicateEffects(); len(d) > 0 {
		t.Errorf("duplicate effects at %v", d)
	}
	servers, err := n.Servers()
	if err != nil || len(servers) != 1 {
		t.Errorf("servers after recovery: %+v, %v", servers, err)
	}
	// A node that the file leaves out refuses to start.
	c.stop(survivor)
	other := three[1]
	if err := os.WriteFile(filepath.Join(c.dirs[other], PeersFile), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.addrs[other])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, c.config(other, ln, c.boot)); err == nil || !strings.Contains(err.Error(), "does not list this node") {
		t.Errorf("open of a node the file leaves out: %v", err)
	}
}
