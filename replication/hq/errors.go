package hq

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/patron/patron/engine"
)

// Errors of the HQ node.
var (
	// ErrClosed is returned by calls on a node after Close, and by calls
	// that were queued but never proposed when it closed (nothing of them
	// happened).
	ErrClosed = errors.New("hq: node closed")
	// ErrUnknownOutcome means a proposal reached raft but its fate is not
	// known: leadership was lost, the node shut down, or the caller's ctx
	// ended while it was in flight. It may yet commit. Retry the same
	// events or hold id (they are idempotent by id) — at this node or the
	// new leader — and never assume failure. The cause is wrapped too.
	ErrUnknownOutcome = errors.New("hq: outcome unknown, retry by id")
	// ErrInvalid refuses a request before it is proposed: an event or
	// hold that the command encoding would not carry (empty or long ids,
	// non-positive points, oversized events).
	ErrInvalid = errors.New("hq: invalid request")
	// ErrStoreFailed means the HoldStore failed to apply a committed
	// entry for a reason other than a deterministic refusal. The node
	// stops itself (fail-stop, see DESIGN.md): a replica that skipped a
	// committed entry would diverge. Restarting re-applies from the
	// store's AppliedIndex.
	ErrStoreFailed = errors.New("hq: hold store failed, node stopped")
	// ErrBadCommand refuses a Raft entry that does not decode.
	ErrBadCommand = errors.New("hq: malformed command")
)

// NotLeaderError is returned by leader-only calls on a follower (or a
// node that lost leadership before proposing): nothing was proposed.
// LeaderID and LeaderAddr name the leader this node knows, empty when it
// knows none; the caller forwards there or redirects its client.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "hq: not the leader, no leader known"
	}
	return fmt.Sprintf("hq: not the leader, leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// deterministicRefusal reports whether a HoldStore error is a refusal
// every replica makes identically for the same entry on the same state
// (so the FSM returns it as the entry's result), as opposed to a failure
// of this replica (which stops the node).
func deterministicRefusal(err error) bool {
	return errors.Is(err, engine.ErrEventGap) || errors.Is(err, engine.ErrBadEvent) ||
		errors.Is(err, ErrBadCommand)
}

// proposeError maps an error of raft.Apply's future to this package's
// contract. It is the one place that decides what a raft error means to
// a caller.
func (n *Node) proposeError(err error) error {
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		return err
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Refused before it entered the log: a definite failure.
		id, addr := n.Leader()
		return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("hq: raft apply queue full: %w", err)
	default:
		// ErrLeadershipLost, ErrRaftShutdown and log-store failures after
		// dispatch: the entry may be in some logs and may commit.
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
}
