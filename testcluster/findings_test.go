package testcluster

import (
	"testing"

	"github.com/patron/patron/node"
)

// Regressions: behaviour the simulator once found against
// ARCHITECTURE.md or the protocol, kept as tests so it cannot come back.

// TestEnrolRetryGetsTheOriginalAnswer: docs/protocol.md makes every
// mutating method idempotent under retry. A till that lost the answer to
// member.enroll and sends the same params again must get the original
// answer, not member_exists. (The node once answered member_exists.)
func TestEnrolRetryGetsTheOriginalAnswer(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 71, Stores: 1})
	rec := &Recorder{}
	tl := till(t, c, rec, "S1", "T1")
	member := Mobile(71)
	params := node.EnrollRequest{Mobile: member, FirstName: "Sim"}
	first := tl.attempt(ctx, "member.enroll", params, false)
	retry := tl.attempt(ctx, "member.enroll", params, false) // the till never saw the first answer
	if first.result == nil || retry.result == nil {
		t.Fatalf("enrolment %+v, retry %+v: want both answered", first, retry)
	}
	rec.add(TillOp{Store: "S1", Till: "T1", Method: "member.enroll", Member: member, Outcome: Acked,
		Answers: []string{string(first.result), string(retry.result)}})
	if v, _ := converge(t, ctx, c, rec, Limits{}); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	other := tl.attempt(ctx, "member.enroll", node.EnrollRequest{Mobile: member, FirstName: "Someone else"}, false)
	if other.refusal != "member_exists" {
		t.Errorf("a different enrolment of a taken mobile: %+v, want member_exists", other)
	}
}

// TestOfflineAllowanceIsPerMember: ARCHITECTURE.md bounds offline
// redemption "up to offline_allowance_points for that member", so the
// overdraft of a partition is at most the allowance per partitioned store.
// A store cut off must refuse a second offline redemption that would take
// the member past the allowance, even though each alone fits. (This was a
// finding of the simulator: the node once applied the allowance per sale.)
func TestOfflineAllowanceIsPerMember(t *testing.T) {
	ctx := testCtx(t)
	const allowance = 50
	c := newCluster(t, ctx, Options{Seed: 72, OfflineAllowance: allowance})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	member := Mobile(72)
	want(t, a.Enroll(ctx, member, 0), Acked)
	want(t, a.SaleAt(ctx, "1", member, 1, 10000, 0, 0), Acked) // 100 points
	if _, err := c.WaitConverged(ctx, ConvergeBound); err != nil {
		t.Fatal(err)
	}
	c.Partition("S1", BothWays)
	first := a.SaleAt(ctx, "2", member, 1, 100, allowance, 0)
	second := a.SaleAt(ctx, "3", member, 1, 100, allowance, 0)
	want(t, b.SaleAt(ctx, "1", member, 1, 200, 100, 0), Acked) // online, the whole balance
	if first.Outcome != Acked {
		t.Fatalf("first offline redemption: %v %s", first.Outcome, first.Refusal)
	}
	if second.Outcome != Refused || second.Refusal != "offline_limit" {
		t.Fatalf("second offline redemption past the allowance: %v %s, want refused offline_limit", second.Outcome, second.Refusal)
	}
	v, _ := converge(t, ctx, c, rec, Limits{OfflineAllowance: allowance, MaxPartitionedStores: 1})
	if len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
