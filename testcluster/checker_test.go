package testcluster

import (
	"reflect"
	"testing"
)

// healthy is a converged two-node chain: member M earned 30 on R1 and
// redeemed 10 on R2.
func healthy() ([]TillOp, []NodeView) {
	ops := []TillOp{
		{Store: "S1", Method: "sale.complete", Ref: "S1-T1-1", Member: "M", Outcome: Acked, Delta: 30, Answers: []string{"a"}},
		{Store: "S2", Method: "sale.complete", Ref: "S2-T1-1", Member: "M", Outcome: Acked, Delta: -10, Answers: []string{"b", "b"}},
		{Store: "S2", Method: "sale.complete", Ref: "S2-T1-2", Member: "M", Outcome: Refused},
	}
	view := func(name string) NodeView {
		return NodeView{
			Name:   name,
			Vector: map[string]uint64{"S1": 1, "S2": 1},
			Digest: map[string]string{"S1": "aa", "S2": "bb", "members": "cc"},
			Members: map[string]MemberView{"M": {Balance: 20, Entries: []EntryView{
				{ID: "S1-T1-1/earn", Kind: "earn", Points: 30, Ref: "S1-T1-1"},
				{ID: "S2-T1-1/redeem", Kind: "redeem", Points: -10, Ref: "S2-T1-1"},
			}}},
		}
	}
	return ops, []NodeView{view("HQ1"), view("S1")}
}

func TestCheckerAcceptsAHealthyRun(t *testing.T) {
	ops, nodes := healthy()
	if v := Check(ops, nodes, Limits{}); len(v) != 0 {
		t.Fatalf("violations in a healthy run: %v", v)
	}
}

// TestCheckerCatchesEachViolation breaks a healthy run one way at a time:
// the checker must name exactly the broken invariant, so it can never pass
// everything silently.
func TestCheckerCatchesEachViolation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ops []TillOp, nodes []NodeView) ([]TillOp, []NodeView)
		want   []string
	}{
		{"acked sale lost on one node", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			m := n[1].Members["M"]
			m.Entries = m.Entries[1:]
			m.Balance = -10
			n[1].Members = map[string]MemberView{"M": m}
			n[1].Digest = map[string]string{"S1": "xx", "S2": "bb", "members": "yy"}
			return ops, n
		}, []string{"no-acked-loss", "converged", "converged", "overdraft-recorded"}},
		{"entry applied twice", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			for i := range n {
				m := n[i].Members["M"]
				m.Entries = append(m.Entries, m.Entries[0])
				m.Balance += 30
				n[i].Members = map[string]MemberView{"M": m}
			}
			return ops, n
		}, []string{"exactly-once", "no-acked-loss", "exactly-once", "no-acked-loss", "conservation"}},
		{"retry got another answer", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			ops[1].Answers = []string{"b", "c"}
			return ops, n
		}, []string{"retry-same-answer"}},
		{"balance is not the fold", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			m := n[0].Members["M"]
			m.Balance = 25
			n[0].Members = map[string]MemberView{"M": m}
			return ops, n
		}, []string{"balance-is-fold", "conservation"}},
		{"refused sale left an entry", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			ops[2].Delta = 0
			for i := range n {
				m := n[i].Members["M"]
				m.Entries = append(m.Entries, EntryView{ID: "S2-T1-2/earn", Kind: "earn", Points: 5, Ref: "S2-T1-2"})
				m.Balance += 5
				n[i].Members = map[string]MemberView{"M": m}
			}
			return ops, n
		}, []string{"refusal-changes-nothing", "refusal-changes-nothing", "conservation"}},
		{"vectors differ", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			n[1].Vector = map[string]uint64{"S1": 1, "S2": 2}
			return ops, n
		}, []string{"converged"}},
		{"applied out of order", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			n[0].OrderViolations = []string{"S1:3 before S1:2"}
			return ops, n
		}, []string{"causal-order"}},
		{"unknown outcome that happened counts once", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			ops = append(ops, TillOp{Store: "S1", Method: "sale.complete", Ref: "S1-T1-9", Member: "M", Outcome: Unknown})
			for i := range n {
				m := n[i].Members["M"]
				m.Entries = append(m.Entries, EntryView{ID: "S1-T1-9/earn", Kind: "earn", Points: 7, Ref: "S1-T1-9"})
				m.Balance += 7
				n[i].Members = map[string]MemberView{"M": m}
			}
			return ops, n
		}, nil},
		{"acked enrolment lost", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			ops = append(ops, TillOp{Store: "S1", Method: "member.enroll", Member: "N", Outcome: Acked, Answers: []string{"e"}})
			return ops, n
		}, []string{"no-acked-loss", "no-acked-loss"}},
		{"overdraft beyond the allowance and unrecorded", func(ops []TillOp, n []NodeView) ([]TillOp, []NodeView) {
			for i := range n {
				m := n[i].Members["M"]
				m.Entries = append(m.Entries, EntryView{ID: "S2-T1-3/redeem", Kind: "redeem", Points: -50, Ref: "S2-T1-3"})
				m.Balance -= 50
				n[i].Members = map[string]MemberView{"M": m}
			}
			ops = append(ops, TillOp{Store: "S2", Method: "sale.complete", Ref: "S2-T1-3", Member: "M", Outcome: Acked, Delta: -50, Offline: true})
			return ops, n
		}, []string{"overdraft-bound", "overdraft-recorded", "overdraft-bound", "overdraft-recorded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, nodes := healthy()
			ops, nodes = tt.mutate(ops, nodes)
			var got []string
			for _, v := range Check(ops, nodes, Limits{OfflineAllowance: 20, MaxPartitionedStores: 1}) {
				got = append(got, v.Invariant)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations %v, want %v\n%v", got, tt.want, Check(ops, nodes, Limits{OfflineAllowance: 20, MaxPartitionedStores: 1}))
			}
		})
	}
}
