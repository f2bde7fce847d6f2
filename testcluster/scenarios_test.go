package testcluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/replication/faultnet"
)

// The replication issue's "Shown by" scenarios, each on a fresh cluster
// of 3 HQ nodes and 2 stores, each ending with the full checker.

// VisibilityBound is the promise: an earn at one store is visible at
// another within a second.
const VisibilityBound = time.Second

func TestScenarioEarnVisibleAtOtherStoreWithin1s(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 11})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	member := Mobile(11)
	want(t, a.Enroll(ctx, member, 0), Acked)
	var times []time.Duration
	for i := range 5 {
		op := a.Sale(ctx, fmt.Sprint(i+1), member, 1, 0, 0)
		want(t, op, Acked)
		start := time.Now()
		balance := int64(100 * (i + 1))
		err := poll(ctx, 10*time.Second, "earn at S2", func() bool {
			m, err := b.Identify(ctx, member)
			return err == nil && int64(m.Points.Balance) == balance
		})
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	t.Logf("earn at S1 visible at S2: min %v median %v max %v (bound %v)", times[0].Round(time.Microsecond),
		times[len(times)/2].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond), VisibilityBound)
	if times[len(times)-1] > VisibilityBound {
		t.Errorf("visibility %v exceeds %v", times[len(times)-1], VisibilityBound)
	}
	mustCheck(t, ctx, c, rec, Limits{})
}

func TestScenarioPartitionTradeBothSidesHeal(t *testing.T) {
	ctx := testCtx(t)
	const allowance = 100
	c := newCluster(t, ctx, Options{Seed: 12, OfflineAllowance: allowance})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	m1, both := Mobile(21), Mobile(22)
	want(t, a.Enroll(ctx, m1, 0), Acked)
	want(t, a.Sale(ctx, "1", m1, 3, 0, 0), Acked) // 300 points
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}

	c.Partition("S1", BothWays)
	// S1, cut off: earns, redeems within the allowance, enrols.
	want(t, a.Sale(ctx, "2", m1, 1, 0, 0), Acked)
	off := a.SaleAt(ctx, "3", m1, 1, 100, 80, 0)
	want(t, off, Acked)
	want(t, a.Enroll(ctx, both, 0), Acked)
	// Over the allowance is refused offline.
	if op := a.SaleAt(ctx, "4", m1, 1, 200, allowance+1, 0); op.Outcome != Refused || op.Refusal != "offline_limit" {
		t.Errorf("offline redemption above the allowance: %v %s", op.Outcome, op.Refusal)
	}
	// S2, online: earns, redeems, enrols the same mobile.
	want(t, b.Sale(ctx, "1", m1, 1, 0, 0), Acked)
	want(t, b.SaleAt(ctx, "2", m1, 1, 300, 200, 0), Acked)
	want(t, b.Enroll(ctx, both, 0), Acked)
	m, err := a.Identify(ctx, m1)
	if err != nil || !m.Stale {
		t.Errorf("identify at the partitioned store: %+v %v, want stale", m, err)
	}

	d := mustCheck(t, ctx, c, rec, Limits{OfflineAllowance: allowance, MaxPartitionedStores: 1})
	// One member for the mobile enrolled on both sides, on every node.
	views, err := c.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if _, ok := v.Members[both]; !ok {
			t.Errorf("%s: no member %s", v.Name, both)
		}
	}
	t.Logf("partition healed: identical state on %d nodes %v after heal", len(views), d.Round(time.Millisecond))
}

func TestScenarioKillHQLeaderDuringSync(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 13})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	member := Mobile(31)
	want(t, a.Enroll(ctx, member, 0), Acked)
	// A backlog at S1 while it is cut off.
	c.Partition("S1", BothWays)
	for i := range 60 {
		want(t, a.Sale(ctx, fmt.Sprint(i+1), member, 1, 0, 0), Acked)
	}
	// Heal and kill the leader while S1 catches up and S2 trades.
	c.Heal("S1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.Sale(ctx, fmt.Sprint(i+1), member, 1, 0, 0)
		}
	}()
	if err := poll(ctx, 10*time.Second, "S1's catch-up to start", func() bool {
		n := c.HQs[0].Node()
		vv, err := n.VersionVector(ctx)
		return err == nil && StoreEvents(vv, "S1") > 1
	}); err != nil {
		t.Fatal(err)
	}
	killed, err := c.KillLeader()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed HQ%d during sync", killed+1)
	if err := poll(ctx, 10*time.Second, "a new leader", func() bool { return c.Leader() >= 0 }); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	mustCheck(t, ctx, c, rec, Limits{})
}

func TestScenarioRedemptionRace(t *testing.T) {
	tests := []struct {
		name      string
		allowance int64
		partition []string
		// Wins is how many of the two redemptions may be acknowledged.
		wins int
	}{
		{"online exactly one wins", 0, nil, 1},
		{"offline with allowance 0 neither redeems", 0, []string{"S1", "S2"}, 0},
		{"offline with allowance: overdraft bounded and reported", 50, []string{"S1", "S2"}, 2},
		{"one store offline with allowance", 50, []string{"S1"}, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newCluster(t, ctx, Options{Seed: uint64(40 + i), OfflineAllowance: tt.allowance})
			rec := &Recorder{}
			a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
			member := Mobile(40 + i)
			want(t, a.Enroll(ctx, member, 0), Acked)
			// 60 points, known at both stores.
			want(t, a.SaleAt(ctx, "1", member, 1, 6000, 0, 0), Acked)
			if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.partition {
				c.Partition(s, BothWays)
			}
			redeem := int64(60)
			if tt.allowance > 0 {
				redeem = tt.allowance // all either may take offline
			}
			ops := make([]TillOp, 2)
			var wg sync.WaitGroup
			for j, tl := range []*Till{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ops[j] = tl.SaleAt(ctx, "race", member, 1, redeem+50, redeem, 0)
				}()
			}
			wg.Wait()
			wins := 0
			for _, op := range ops {
				if op.Outcome == Acked {
					wins++
				}
				t.Logf("%s: %v %s %+d", op.Store, op.Outcome, op.Refusal, op.Delta)
			}
			if wins != tt.wins {
				t.Errorf("%d redemptions acknowledged, want %d", wins, tt.wins)
			}
			lim := Limits{OfflineAllowance: tt.allowance, MaxPartitionedStores: len(tt.partition)}
			mustCheck(t, ctx, c, rec, lim)
			views, err := c.Views(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range views {
				if bal := v.Members[member].Balance; bal < 0 {
					t.Logf("%s: balance %d, overdraft recorded %d (bound %d)", v.Name, bal, v.Overdrafts[member],
						tt.allowance*int64(len(tt.partition)))
				}
			}
		})
	}
}

func TestScenarioLossyLinkNoResidualLoss(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 14, OfflineAllowance: 50})
	rec := &Recorder{}
	a := till(t, c, rec, "S1", "T1")
	member := Mobile(51)
	want(t, a.Enroll(ctx, member, 0), Acked)
	lossy := faultnet.Faults{Drop: 0.3, Duplicate: 0.5, Reorder: 0.3, ReorderAfter: 2}
	if err := c.SetLinkFaults("S1", BothWays, lossy); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		redeem := int64(0)
		if i%4 == 3 {
			redeem = 30
		}
		a.SaleAt(ctx, fmt.Sprint(i+1), member, 1, 10000, redeem, 0)
	}
	// Everything S1 holds reaches S2 through HQ while the faults stay.
	start := time.Now()
	err := poll(ctx, ConvergeBound, "S1's events at S2 through the lossy link", func() bool {
		want, err1 := c.Store("S1").Node().VersionVector(ctx)
		got, err2 := c.Store("S2").Node().VersionVector(ctx)
		return err1 == nil && err2 == nil && StoreEvents(got, "S1") == StoreEvents(want, "S1")
	})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Faults().Datagrams
	t.Logf("S1's log at S2 %v after the last sale, through %v", time.Since(start).Round(time.Millisecond), f)
	if f.Dropped == 0 || f.Duplicated == 0 || f.Reordered == 0 {
		t.Errorf("faults not injected: %v", f)
	}
	mustCheck(t, ctx, c, rec, Limits{OfflineAllowance: 50, MaxPartitionedStores: 1})
}

func TestScenarioWrongKeyRefused(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 15, OfflineAllowance: 50, WrongKey: []string{"S2"}})
	rec := &Recorder{}
	b := till(t, c, rec, "S2", "T1")
	member := Mobile(61)
	// S2 trades offline: enrols, earns, redeems within the allowance.
	want(t, b.Enroll(ctx, member, 0), Acked)
	want(t, b.Sale(ctx, "1", member, 1, 0, 0), Acked)
	want(t, b.SaleAt(ctx, "2", member, 1, 100, 40, 0), Acked)
	if m, err := b.Identify(ctx, member); err != nil || !m.Stale {
		t.Errorf("identify at the refused store: %+v %v, want stale", m, err)
	}
	var refused uint64
	err := poll(ctx, 10*time.Second, "HQ to count the refused handshake", func() bool {
		refused = 0
		for _, m := range c.HQs {
			refused += m.HQ().ListenerStats().Refused()
		}
		return refused > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store("S2").Link().State().HQ.Connected {
		t.Error("the store with a wrong key is connected to HQ")
	}
	vv, err := c.HQs[0].Node().VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if StoreEvents(vv, "S2") != 0 {
		t.Errorf("HQ holds %d events of the refused store", StoreEvents(vv, "S2"))
	}
	t.Logf("refused handshakes counted by HQ: %d", refused)
	// The rest of the chain converges without S2; S2's own files hold
	// what its tills were told.
	mustCheck(t, ctx, c, rec, Limits{}, "S2")
	views, err := c.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Name == "S2" {
			for _, x := range Check(rec.Ops(), []NodeView{v}, Limits{OfflineAllowance: 50, MaxPartitionedStores: 1}) {
				t.Error(x)
			}
		}
	}
}

// TestScenarioRaftLeaderIsolated: the Raft leader loses its links to the
// other two HQ nodes while both stores trade through it. The other two
// elect a leader, the old one steps down, the stores are redirected to
// the new leader and their online redemptions commit there; after the
// heal the old leader rejoins as a follower, every node converges and
// nothing acknowledged is lost.
func TestScenarioRaftLeaderIsolated(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 17})
	rec := &Recorder{}
	tills := []*Till{till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")}
	member := Mobile(71)
	want(t, tills[0].Enroll(ctx, member, 0), Acked)
	want(t, tills[0].Sale(ctx, "0", member, 5, 0, 0), Acked) // 500 points
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}
	// A store stays with the HQ node that admitted it until that node
	// redirects it, which happens when the store sends: trading at both
	// brings both to the leader, and after the cut away from it.
	tr := startTrading(ctx, tills, member)
	defer tr.stop()
	old := c.Leader()
	oldID := c.HQs[old].ID
	waitStoresOn(t, ctx, c, oldID)
	c.IsolateRaft(oldID)
	cut := time.Now()
	elected, steppedDown := time.Duration(0), time.Duration(0)
	newLeader := -1
	err := poll(ctx, 10*time.Second, "a new leader and the old one stepped down", func() bool {
		for i, m := range c.HQs {
			if i != old && m.HQ().Raft().IsLeader() && elected == 0 {
				elected, newLeader = time.Since(cut), i
			}
		}
		if steppedDown == 0 && !c.HQs[old].HQ().Raft().IsLeader() {
			steppedDown = time.Since(cut)
		}
		return elected > 0 && steppedDown > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	newID := c.HQs[newLeader].ID
	waitStoresOn(t, ctx, c, newID)
	redirected := time.Since(cut)
	// Trading goes on online: each store gets redemptions decided by the
	// new leader.
	base := tr.redeemed()
	err = poll(ctx, 10*time.Second, "online redemptions at both stores after the redirect", func() bool {
		now := tr.redeemed()
		return now[0] >= base[0]+3 && now[1] >= base[1]+3
	})
	if err != nil {
		t.Fatal(err)
	}
	continued := time.Since(cut)
	if c.HQs[old].HQ().Raft().IsLeader() {
		t.Errorf("%s leads again while isolated", oldID)
	}
	tr.stop()
	closed, held := c.RaftCutEffects()
	d := mustCheck(t, ctx, c, rec, Limits{})
	if l := c.Leader(); l == old {
		t.Errorf("%s took the lead back after the heal", oldID)
	}
	t.Logf("isolated raft leader %s: %s elected after %v, %s stepped down after %v, stores redirected after %v, "+
		"3 more online redemptions at each store after %v; %d raft conns closed, %d dials held; "+
		"converged %v after heal; %d till ops, redemptions acked %v",
		oldID, newID, elected.Round(time.Millisecond), oldID, steppedDown.Round(time.Millisecond),
		redirected.Round(time.Millisecond), continued.Round(time.Millisecond), closed, held,
		d.Round(time.Millisecond), len(rec.Ops()), tr.redeemed())
}

// TestScenarioRaftMinorityIsolated: a follower cut from the other two HQ
// nodes changes nothing for the stores: the leader stays, every online
// redemption commits and each store's sale is visible at the other within
// VisibilityBound; the follower falls behind and catches up after the
// heal without disturbing the leader.
func TestScenarioRaftMinorityIsolated(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 18})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	member := Mobile(81)
	want(t, a.Enroll(ctx, member, 0), Acked)
	want(t, a.Sale(ctx, "0", member, 5, 0, 0), Acked) // 500 points
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader()
	follower := c.HQs[(leader+1)%len(c.HQs)]
	c.IsolateRaft(follower.ID)

	var worst time.Duration
	for i := range 8 {
		for _, tl := range []*Till{a, b} {
			op := tl.SaleAt(ctx, fmt.Sprint("m", i), member, 1, unitPrice, 10, 0)
			want(t, op, Acked)
			if op.Delta >= 100 {
				t.Errorf("%s: points %+d, want an online redemption of 10", op.Ref, op.Delta)
			}
		}
		start := time.Now()
		err := poll(ctx, 10*time.Second, "one balance at S1 and S2", func() bool {
			m1, err1 := a.Identify(ctx, member)
			m2, err2 := b.Identify(ctx, member)
			return err1 == nil && err2 == nil && m1.Points.Balance == m2.Points.Balance
		})
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(start))
	}
	if l := c.Leader(); l != leader {
		t.Errorf("leader changed from HQ%d to HQ%d while a follower was isolated", leader+1, l+1)
	}
	if worst > VisibilityBound {
		t.Errorf("visibility %v exceeds %v with a follower isolated", worst, VisibilityBound)
	}
	lead, err := c.HQs[leader].Node().VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	behind, err := follower.Node().VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if StoreEvents(behind, "S2") >= StoreEvents(lead, "S2") {
		t.Errorf("isolated %s holds S2's events %d of %d: the cut let Raft through", follower.ID, StoreEvents(behind, "S2"), StoreEvents(lead, "S2"))
	}
	d := mustCheck(t, ctx, c, rec, Limits{})
	if l := c.Leader(); l != leader {
		t.Errorf("leader changed from HQ%d to HQ%d when the follower rejoined", leader+1, l+1)
	}
	t.Logf("isolated follower %s: 16 online redemptions acked, leader HQ%d unchanged, visibility both ways max %v; "+
		"follower at S2 %d of %d while cut, converged %v after heal",
		follower.ID, leader+1, worst.Round(time.Millisecond), StoreEvents(behind, "S2"), StoreEvents(lead, "S2"), d.Round(time.Millisecond))
}

// waitStoresOn waits until every store's HQ session is with HQ node id.
func waitStoresOn(t *testing.T, ctx context.Context, c *Cluster, id string) {
	t.Helper()
	err := poll(ctx, 15*time.Second, "every store's session with "+id, func() bool {
		for _, s := range c.Stores {
			st := s.Link().State().HQ
			if !st.Connected || st.PeerOrigin != id {
				return false
			}
		}
		return true
	})
	if err != nil {
		for _, s := range c.Stores {
			vv, _ := s.Node().VersionVector(ctx)
			t.Logf("%s: %v %+v", s.ID, vv, s.Link().State().HQ)
		}
		for _, m := range c.HQs {
			vv, _ := m.Node().VersionVector(ctx)
			t.Logf("%s: %v %+v %+v", m.ID, vv, m.HQ().Raft().Stats(), m.HQ().Sessions())
		}
		t.Fatal(err)
	}
}

// trading is tills selling to one member in a loop until stopped: one
// earn, then one online redemption of 10 points, and so on.
type trading struct {
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex // guards redeems
	redeems  []int      // acknowledged redemptions, by till
	stopOnce sync.Once
}

func startTrading(ctx context.Context, tills []*Till, member string) *trading {
	tr := &trading{done: make(chan struct{}), redeems: make([]int, len(tills))}
	for i, tl := range tills {
		tr.wg.Go(func() {
			for n := 1; ; n++ {
				select {
				case <-tr.done:
					return
				case <-ctx.Done():
					return
				default:
				}
				redeem := int64(0)
				if n%2 == 0 {
					redeem = 10
				}
				op := tl.Sale(ctx, fmt.Sprint("t", n), member, 1, redeem, 0)
				if redeem > 0 && op.Outcome == Acked && op.Delta < 100 {
					tr.mu.Lock()
					tr.redeems[i]++
					tr.mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond) // pacing: a busy till, not a flood on 2 shared cores
			}
		})
	}
	return tr
}

// redeemed returns the acknowledged redemptions by till.
func (tr *trading) redeemed() []int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.redeems)
}

// stop ends the loops and waits for them.
func (tr *trading) stop() {
	tr.stopOnce.Do(func() { close(tr.done) })
	tr.wg.Wait()
}

// TestScenarioIdleStoresFollowTheLeader: stores with nothing to send must
// still leave an HQ node that lost the lead (chain ends its sessions), or
// a store on a cut-off old leader would hear nothing new. With the old
// leader isolated and no trading, both stores reach the new leader, and an
// earn at one store is then seen at the other.
func TestScenarioIdleStoresFollowTheLeader(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 23})
	rec := &Recorder{}
	a := till(t, c, rec, "S1", "T1")
	member := Mobile(23)
	want(t, a.Enroll(ctx, member, 0), Acked)
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}
	old := c.Leader()
	oldID := c.HQs[old].ID
	waitStoresOn(t, ctx, c, oldID)
	c.IsolateRaft(oldID)
	cut := time.Now()
	newID := ""
	err := poll(ctx, 10*time.Second, "a new leader", func() bool {
		for i, m := range c.HQs {
			if i != old && m.HQ().Raft().IsLeader() {
				newID = m.ID
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStoresOn(t, ctx, c, newID) // no till sent anything since the cut
	moved := time.Since(cut)
	want(t, a.Sale(ctx, "1", member, 1, 0, 0), Acked)
	seen := time.Now()
	err = poll(ctx, 5*time.Second, "S1's earn at S2 while the old leader is cut off", func() bool {
		m, err := c.Stores[1].Node().Identify(ctx, "T1", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: member}})
		return err == nil && m.Points.Balance > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old leader %s isolated: idle stores on %s after %v; S1's earn at S2 %v later", oldID, newID, moved, time.Since(seen))
	c.HealRaft()
	mustCheck(t, ctx, c, rec, Limits{})
}
