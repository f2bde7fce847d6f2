package testcluster

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// MaxOrderViolations bounds the causal-order violations one tracer keeps:
// one is already a failure, a few show the pattern, thousands would only
// fill memory and the report.
const MaxOrderViolations = 32

// tracer watches every batch a node accepts from replication (ApplyEvents
// on a store, ApplyEventsAt in an HQ node's FSM) and records any event
// (o, n+1) accepted before (o, n). It does not trust the node's own gap
// check: it keeps its own record of what was applied, which lives in the
// Cluster and so survives the node's crashes and restarts (in-process, a
// closed bbolt file keeps everything committed). Only a snapshot restore
// (an HQ follower far behind) replaces state wholesale; the tracer then
// takes the restored node's version vector as its new record.
type tracer struct {
	name string

	mu         sync.Mutex // guards following
	applied    map[string]uint64
	violations []string
	batches    uint64
}

func newTracer(name string) *tracer {
	return &tracer{name: name, applied: map[string]uint64{}}
}

// observe records a batch the node accepted. own is the node's origin,
// whose events it appends itself and never applies from a peer.
func (t *tracer) observe(own string, events []engine.RawEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batches++
	for _, e := range events {
		if e.Origin == own {
			continue
		}
		have := t.applied[e.Origin]
		switch {
		case e.Seq <= have:
			// Already held: the node skips it.
		case e.Seq == have+1:
			t.applied[e.Origin] = e.Seq
		default:
			if len(t.violations) < MaxOrderViolations {
				t.violations = append(t.violations, fmt.Sprintf("applied %s:%d while holding %s only up to %d",
					e.Origin, e.Seq, e.Origin, have))
			}
			t.applied[e.Origin] = e.Seq
		}
	}
}

// reset takes vv as what the node holds (after a snapshot restore).
func (t *tracer) reset(vv engine.VersionVector) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.applied = map[string]uint64{}
	for o, n := range vv {
		t.applied[o] = n
	}
}

// Violations returns the causal-order violations seen so far.
func (t *tracer) Violations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.violations...)
}

// Batches is how many accepted batches the tracer checked.
func (t *tracer) Batches() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.batches
}

// tracedNode is the node as replication sees it, with every accepted
// batch shown to the tracer. It is both a store's EventLog and an HQ
// node's HoldStore.
type tracedNode struct {
	*node.Node
	t *tracer
}

// ApplyEvents applies a batch from a sync session and traces it.
func (n tracedNode) ApplyEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	vv, err := n.Node.ApplyEvents(ctx, events)
	if err == nil {
		n.t.observe(n.Origin(), events)
	}
	return vv, err
}

// ApplyEventsAt applies a batch in the HQ FSM and traces it.
func (n tracedNode) ApplyEventsAt(ctx context.Context, index uint64, events []engine.RawEvent) (engine.VersionVector, error) {
	vv, err := n.Node.ApplyEventsAt(ctx, index, events)
	if err == nil {
		n.t.observe(n.Origin(), events)
	}
	return vv, err
}

// RestoreSnapshot replaces the node's state and the tracer's record.
func (n tracedNode) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	if err := n.Node.RestoreSnapshot(ctx, r); err != nil {
		return err
	}
	vv, err := n.Node.VersionVector(ctx)
	if err != nil {
		return err
	}
	n.t.reset(vv)
	return nil
}
