package testcluster

import (
	"fmt"
	"sort"
	"strings"
)

// Outcome is what a till learned of one request.
type Outcome int

// The outcomes a till can see.
const (
	// Acked: the node answered with a result; the effect must exist.
	Acked Outcome = iota + 1
	// Refused: the node answered with a protocol error; no effect.
	Refused
	// Unknown: the connection or the node died before an answer; the
	// effect may or may not exist, but at most once.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Refused:
		return "refused"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// TillOp is one logical till operation as the till saw it. Retries of the
// same request (after a dropped connection) are folded into one TillOp:
// Answers holds every answer received, which must all be equal.
type TillOp struct {
	Store   string
	Till    string
	Method  string // "sale.complete", "sale.return", ...
	Ref     string // receipt id or return id: what ledger entries name
	Member  string
	Outcome Outcome
	// Points the answer reported (Acked only): earned (+), redeemed (−),
	// clawed back (−), refunded (+).
	Delta int64
	// Answers are the raw results of every attempt that got one.
	Answers []string
	// Offline is true for a request made while the store was partitioned
	// from HQ (as the schedule knows it; informational).
	Offline bool
	// Refusal is the reason of a Refused outcome.
	Refusal string
}

// EntryView is a ledger entry as a node holds it.
type EntryView struct {
	ID     string
	Kind   string
	Points int64
	Ref    string
}

// MemberView is one member as a node holds it.
type MemberView struct {
	Balance int64
	Entries []EntryView
}

// NodeView is what the checker reads from one node's files after a run.
type NodeView struct {
	Name    string
	Vector  map[string]uint64
	Digest  map[string]string // per origin, plus "members"
	Members map[string]MemberView
	// Overdrafts are the overdrafts the node recorded, by member.
	Overdrafts map[string]int64
	// OrderViolations are (o, n+1)-before-(o, n) applications a tracing
	// log saw on this node.
	OrderViolations []string
}

// Limits are the bounds a run promises.
type Limits struct {
	// OfflineAllowance is the programme's offline_allowance_points.
	OfflineAllowance int64
	// MaxPartitionedStores is how many stores were cut from HQ at once.
	MaxPartitionedStores int
}

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Check runs every invariant over what the tills were told and what the
// nodes hold once healed and converged. It trusts neither side alone: an
// acknowledged effect must be in every node's files, and every node's files
// must agree with each other and with arithmetic.
func Check(ops []TillOp, nodes []NodeView, lim Limits) []Violation {
	var out []Violation
	add := func(inv, format string, args ...any) {
		out = append(out, Violation{inv, fmt.Sprintf(format, args...)})
	}
	checkRetries(ops, lim, add)
	for _, n := range nodes {
		checkNode(n, add)
		checkAcked(ops, n, add)
	}
	checkConverged(nodes, add)
	checkConservation(ops, nodes, add)
	checkOverdraft(nodes, lim, add)
	return out
}

type addFunc func(invariant, format string, args ...any)

// checkRetries: a till's retried request never changes state twice, and
// every answer it got is the first one.
func checkRetries(ops []TillOp, lim Limits, add addFunc) {
	for _, op := range ops {
		for i := 1; i < len(op.Answers); i++ {
			if op.Answers[i] != op.Answers[0] {
				add("retry-same-answer", "%s %s %s: answer %d was %.160s, the first %.160s",
					op.Store, op.Method, op.Ref, i+1, op.Answers[i], op.Answers[0])
			}
		}
	}
}

// checkNode: entry ids are unique and balances are the fold of entries.
func checkNode(n NodeView, add addFunc) {
	for _, v := range n.OrderViolations {
		add("causal-order", "%s: %s", n.Name, v)
	}
	for _, id := range sortedKeys(n.Members) {
		m := n.Members[id]
		seen := map[string]bool{}
		var sum int64
		for _, e := range m.Entries {
			if seen[e.ID] {
				add("exactly-once", "%s: member %s: entry %s held twice", n.Name, id, e.ID)
			}
			seen[e.ID] = true
			sum += e.Points
		}
		if sum != m.Balance {
			add("balance-is-fold", "%s: member %s: balance %d, entries sum to %d", n.Name, id, m.Balance, sum)
		}
	}
}

// checkAcked: every acknowledged effect is on every node, once; nothing
// refused left a trace.
func checkAcked(ops []TillOp, n NodeView, add addFunc) {
	byRef := refIndex(n)
	for _, op := range ops {
		if op.Method == "member.enroll" && op.Outcome == Acked {
			if _, ok := n.Members[op.Member]; !ok {
				add("no-acked-loss", "%s: enrolment of %s acknowledged at %s but no such member", n.Name, op.Member, op.Store)
			}
			continue
		}
		if op.Ref == "" || op.Member == "" {
			continue
		}
		got := byRef[op.Member+"\x00"+op.Ref]
		switch op.Outcome {
		case Acked:
			if op.Delta != 0 && got.count == 0 {
				add("no-acked-loss", "%s: %s %s acknowledged (%+d points) but absent", n.Name, op.Method, op.Ref, op.Delta)
			} else if got.sum != op.Delta {
				add("no-acked-loss", "%s: %s %s acknowledged %+d points, node holds %+d", n.Name, op.Method, op.Ref, op.Delta, got.sum)
			}
		case Refused:
			if got.count > 0 {
				add("refusal-changes-nothing", "%s: %s %s was refused but left %d entries", n.Name, op.Method, op.Ref, got.count)
			}
		}
	}
}

type refTotal struct {
	count int
	sum   int64
}

// refIndex sums a node's entries by member and the operation they belong
// to: an entry's Ref is the receipt id or return id that caused it.
func refIndex(n NodeView) map[string]refTotal {
	out := map[string]refTotal{}
	for id, m := range n.Members {
		for _, e := range m.Entries {
			k := id + "\x00" + e.Ref
			t := out[k]
			t.count++
			t.sum += e.Points
			out[k] = t
		}
	}
	return out
}

// checkConverged: every node holds the same events and member state.
func checkConverged(nodes []NodeView, add addFunc) {
	if len(nodes) < 2 {
		return
	}
	first := nodes[0]
	for _, n := range nodes[1:] {
		if a, b := vectorString(first.Vector), vectorString(n.Vector); a != b {
			add("converged", "%s holds %s but %s holds %s", first.Name, a, n.Name, b)
		}
		for _, k := range sortedKeys(union(first.Digest, n.Digest)) {
			if first.Digest[k] != n.Digest[k] {
				add("converged", "digest %s: %s has %.12s, %s has %.12s", k, first.Name, first.Digest[k], n.Name, n.Digest[k])
			}
		}
	}
}

// checkConservation: the points the tills were told about, plus those of
// unknown outcomes that did happen, are exactly what the chain holds.
func checkConservation(ops []TillOp, nodes []NodeView, add addFunc) {
	if len(nodes) == 0 {
		return
	}
	n := nodes[0]
	byRef := refIndex(n)
	var told int64
	seen := map[string]bool{}
	for _, op := range ops {
		switch op.Outcome {
		case Acked:
			// A later op on the same receipt or return is a till
			// retrying the request: one effect, told twice.
			k := op.Method + "\x00" + op.Member + "\x00" + op.Ref
			if !seen[k] {
				told += op.Delta
			}
			seen[k] = true
		case Unknown:
			told += byRef[op.Member+"\x00"+op.Ref].sum // it happened or it did not: at most once
		}
	}
	var held int64
	for _, m := range n.Members {
		held += m.Balance
	}
	if told != held {
		add("conservation", "%s: tills were told of %+d points in all, the chain holds %+d", n.Name, told, held)
	}
}

// checkOverdraft: offline redemption overdraws at most the allowance per
// partitioned store, and every overdraft is recorded.
func checkOverdraft(nodes []NodeView, lim Limits, add addFunc) {
	bound := lim.OfflineAllowance * int64(max(lim.MaxPartitionedStores, 1))
	for _, n := range nodes {
		for _, id := range sortedKeys(n.Members) {
			m := n.Members[id]
			if m.Balance >= 0 || hasReturn(m) {
				continue
			}
			if -m.Balance > bound {
				add("overdraft-bound", "%s: member %s overdrawn by %d, bound %d", n.Name, id, -m.Balance, bound)
			}
			if n.Overdrafts[id] == 0 {
				add("overdraft-recorded", "%s: member %s overdrawn by %d but no overdraft recorded", n.Name, id, -m.Balance)
			}
		}
	}
}

// hasReturn: a return may push a balance below zero legitimately
// (pos-protocol-v1, sale.return), so such members are not overdrafts.
func hasReturn(m MemberView) bool {
	for _, e := range m.Entries {
		if e.Kind == "return" {
			return true
		}
	}
	return false
}

func vectorString(v map[string]uint64) string {
	parts := make([]string, 0, len(v))
	for _, k := range sortedKeys(v) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func union(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
