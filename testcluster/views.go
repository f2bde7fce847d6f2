package testcluster

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/patron/patron/node"
)

// ConvergeBound is how long after healing every node must hold the same
// events and state. On loopback a healed link redials within the client's
// backoff (≤ 0.5 s), a dead session is noticed within 1.5 s and catch-up
// of a schedule's few thousand events takes well under a second; 15 s
// leaves room for a Raft election and the race detector on 2 shared
// cores.
const ConvergeBound = 15 * time.Second

// nodes lists every node that is up, HQ first.
func (c *Cluster) nodes() []namedNode {
	var out []namedNode
	for _, m := range c.HQs {
		if n := m.Node(); n != nil {
			out = append(out, namedNode{m.ID, n, m.trace})
		}
	}
	for _, s := range c.Stores {
		if n := s.Node(); n != nil {
			out = append(out, namedNode{s.ID, n, s.trace})
		}
	}
	return out
}

type namedNode struct {
	name  string
	node  *node.Node
	trace *tracer
}

// WaitConverged polls every node's version vector and state digest until
// all are equal, and returns how long that took. Stores in except (a
// store with a wrong key, say) are left out.
func (c *Cluster) WaitConverged(ctx context.Context, within time.Duration, except ...string) (time.Duration, error) {
	start := time.Now()
	var last string
	err := poll(ctx, within, "convergence", func() bool {
		var first map[string]string
		for _, nn := range c.nodes() {
			if contains(except, nn.name) {
				continue
			}
			d, err := digestWithVector(ctx, nn.node)
			if err != nil {
				last = fmt.Sprintf("%s: %v", nn.name, err)
				return false
			}
			if first == nil {
				first = d
			} else if !maps.Equal(first, d) {
				last = nn.name + " differs"
				return false
			}
		}
		return true
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("%w (%s)", err, last)
	}
	return time.Since(start), nil
}

// digestWithVector is a node's state digest with its vector folded in.
func digestWithVector(ctx context.Context, n *node.Node) (map[string]string, error) {
	d, err := n.StateDigest(ctx)
	if err != nil {
		return nil, err
	}
	vv, err := n.VersionVector(ctx)
	if err != nil {
		return nil, err
	}
	d["#vector"] = vectorString(vv)
	return d, nil
}

// Views reads what every node that is up holds, for Check.
func (c *Cluster) Views(ctx context.Context, except ...string) ([]NodeView, error) {
	var out []NodeView
	for _, nn := range c.nodes() {
		if contains(except, nn.name) {
			continue
		}
		v, err := view(ctx, nn)
		if err != nil {
			return nil, fmt.Errorf("testcluster: view of %s: %w", nn.name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func view(ctx context.Context, nn namedNode) (NodeView, error) {
	v := NodeView{Name: nn.name, Members: map[string]MemberView{}, Overdrafts: map[string]int64{},
		OrderViolations: nn.trace.Violations()}
	vv, err := nn.node.VersionVector(ctx)
	if err != nil {
		return v, err
	}
	v.Vector = map[string]uint64(vv)
	if v.Digest, err = nn.node.StateDigest(ctx); err != nil {
		return v, err
	}
	ids, err := nn.node.MemberIDs(ctx)
	if err != nil {
		return v, err
	}
	for _, id := range ids {
		entries, bal, err := nn.node.Entries(ctx, id)
		if err != nil {
			return v, err
		}
		m := MemberView{Balance: int64(bal)}
		for _, e := range entries {
			m.Entries = append(m.Entries, EntryView{ID: e.ID, Kind: string(e.Kind), Points: int64(e.Points), Ref: e.Ref})
		}
		v.Members[id] = m
	}
	ods, err := nn.node.Overdrafts(ctx)
	if err != nil {
		return v, err
	}
	for _, o := range ods {
		v.Overdrafts[o.Member] += int64(o.Points)
	}
	return v, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
