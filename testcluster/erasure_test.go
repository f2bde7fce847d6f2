package testcluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
	"github.com/patron/patron/posbridge"
	"github.com/patron/patron/replication/hq"
)

// TestScenarioErasedMemberStaysErasedOnOfflineStore is ISSUE 5's
// partition test: a store is cut off from HQ; HQ erases a member; the
// store, not knowing, sells to that member offline; healed, the store
// forgets the member, the offline sale's points are on the pseudonymous
// ledger on every node, and the checker's invariants hold with the
// member's operations counted under the pseudonym.
func TestScenarioErasedMemberStaysErasedOnOfflineStore(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 51})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	member, other := Mobile(51), Mobile(52)
	want(t, a.Enroll(ctx, member, 0), Acked)
	want(t, a.Sale(ctx, "1", member, 2, 0, 0), Acked)
	want(t, b.Enroll(ctx, other, 0), Acked)
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}

	c.Partition("S1", BothWays)
	pseudonym := eraseAtHQ(t, ctx, c, member)
	// The online store forgets the member.
	if err := poll(ctx, 10*time.Second, "erasure at S2", func() bool {
		_, err := b.Identify(ctx, member)
		return isReason(err, node.ReasonMemberNotFound)
	}); err != nil {
		t.Fatal(err)
	}
	// The offline store has not heard: it still finds the member (once
	// it notices it is cut off, it says its answer is stale) and sells
	// to it.
	if err := poll(ctx, 10*time.Second, "S1 noticing the partition", func() bool {
		m, err := a.Identify(ctx, member)
		return err == nil && m.MemberID == member && m.Stale
	}); err != nil {
		t.Fatal(err)
	}
	late := a.Sale(ctx, "2", member, 3, 0, 0)
	want(t, late, Acked)
	want(t, b.Sale(ctx, "1", other, 1, 0, 0), Acked)

	v, d := convergeErased(t, ctx, c, rec, map[string]string{member: pseudonym})
	for _, x := range v {
		t.Error(x)
	}
	for _, tl := range []*Till{a, b} {
		if _, err := tl.Identify(ctx, member); !isReason(err, node.ReasonMemberNotFound) {
			t.Errorf("%s: identify the erased member after heal: %v, want member_not_found", tl.Store.ID, err)
		}
	}
	views, err := c.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, view := range views {
		if _, ok := view.Members[member]; ok {
			t.Errorf("%s still holds the member id", view.Name)
		}
		anon, ok := view.Members[pseudonym]
		if !ok || !hasRef(anon, late.Ref) {
			t.Errorf("%s: the offline sale %s is not on the pseudonymous ledger %+v", view.Name, late.Ref, anon)
		}
	}
	t.Logf("erased member stayed erased on the store that was offline; converged %v after heal", d.Round(time.Millisecond))
}

// eraseAtHQ erases member through the Raft leader, as HQ's admin API
// does, and returns the pseudonym.
func eraseAtHQ(t *testing.T, ctx context.Context, c *Cluster, member string) string {
	t.Helper()
	var pseudonym string
	err := poll(ctx, 10*time.Second, "erasure through the leader", func() bool {
		i := c.Leader()
		if i < 0 {
			return false
		}
		m := c.HQs[i]
		n, h := m.Node(), m.HQ()
		if n == nil || h == nil {
			return false
		}
		random := make([]byte, engine.PseudonymRandLen)
		random[0] = 0x51
		em := hqevents.NewEmitter(n, raftAppender{h.Raft()}, nil)
		var p string
		_, err := em.EmitPrepared(ctx, func(ctx context.Context) (engine.RawEvent, error) {
			ev, got, err := n.ErasureEvent(ctx, member, "dpo", random)
			if err != nil || ev == nil {
				p = got
				return engine.RawEvent{}, errors.Join(err, errors.New("testcluster: erased already"))
			}
			p = got
			return n.PrepareEvent(ctx, *ev)
		})
		if err != nil {
			t.Logf("erasure at %s: %v (retrying)", m.ID, err)
			return false
		}
		pseudonym = p
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return pseudonym
}

// raftAppender proposes events through HQ's Raft log, retrying an
// unknown outcome (events are idempotent by identity).
type raftAppender struct{ raft *hq.Node }

func (r raftAppender) AppendEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	for {
		vv, err := r.raft.AppendEvents(ctx, events)
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue
		}
		return vv, err
	}
}

// convergeErased is converge for a run with erasures: the operations of
// an erased member are checked under its pseudonym, where their effects
// live once the erasure has reached every node.
func convergeErased(t *testing.T, ctx context.Context, c *Cluster, rec *Recorder, pseudonyms map[string]string) ([]Violation, time.Duration) {
	t.Helper()
	c.HealAll()
	if err := c.RestartAll(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.WaitConverged(ctx, ConvergeBound)
	if err != nil {
		t.Fatalf("after %v: %v", d, err)
	}
	views, err := c.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops()
	for i, op := range ops {
		if p, ok := pseudonyms[op.Member]; ok {
			ops[i].Member = p
		}
	}
	return Check(ops, views, Limits{}), d
}

func isReason(err error, reason string) bool {
	var re *posbridge.RPCError
	return errors.As(err, &re) && re.Reason() == reason
}

func hasRef(m MemberView, ref string) bool {
	for _, e := range m.Entries {
		if e.Ref == ref {
			return true
		}
	}
	return false
}
