package node

import (
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Tier changes (docs/tiers-and-greetings.md). A member's tier is always
// computed from the spend window; tier.changed records that the member
// was told of a move. A store appends it in the transaction of the sale
// or return that crossed a threshold, with the text to the member; the
// HQ leader's daily review (RunTierReview) appends it for members whose
// window moved without a sale. Each decides from the folded state alone
// — the recorded tier against the computed one — so a retried sale, a
// rerun of the review or a new leader appends nothing twice.

// TierReviewEvery is how often the HQ leader reviews every member's tier:
// a spend window moves by a day at a time, so daily is as often as a
// tier can drop without a sale.
const TierReviewEvery = 24 * time.Hour

// EmitFunc proposes an HQ-originated event and returns it as committed
// (hqevents.Emitter.Emit): stamped, in the Raft log, applied on this
// node. An error leaves the outcome unknown.
type EmitFunc func(ctx context.Context, ev engine.Event) (engine.Event, error)

// tierChangeTx runs after a sale or return of member was applied in tx:
// when the member's tier at at (the spend window, this event included)
// differs from the recorded one, it appends tier.changed (reason, ref:
// the receipt or return id) and queues the tier text. It returns the
// change, or nil.
func (n *Node) tierChangeTx(tx *bbolt.Tx, p *engine.Programme, member, terminal, reason, ref string, at time.Time) (*engine.TierChanged, error) {
	if member == "" || len(p.Tiers) == 0 || !n.CanWrite(engine.EventTierChanged) {
		return nil, nil // no tiers, or a chain not yet upgraded: nothing to note
	}
	rec, found, err := loadMember(tx, member)
	if err != nil || !found || !rec.State.Enrolled {
		return nil, err
	}
	spend, err := spendInWindow(tx, p, member, at)
	if err != nil {
		return nil, err
	}
	change := engine.TierChangeFor(p, &rec.State, spend, reason, ref)
	if change == nil {
		return nil, nil
	}
	ev := engine.Event{Kind: engine.EventTierChanged, Member: member, Terminal: terminal, At: at, Tier: change}
	stored, err := n.emit(tx, ev, nil, newEffects())
	if err != nil {
		return nil, err
	}
	if _, err := n.queueEventMessageTx(tx, p, stored, at); err != nil {
		return nil, err
	}
	return change, nil
}

// tierText is the receipt line of a tier change ("Welcome to gold"), or
// nothing.
func tierText(p *engine.Programme, c *engine.TierChanged) []string {
	switch {
	case c == nil:
		return nil
	case c.To == "":
		return []string{"Your tier has ended"}
	case p.TierRises(c.From, c.To):
		return []string{"Welcome to " + c.To}
	}
	return []string{"Your tier is now " + c.To}
}

// TierReview reports what one run of the tier review did.
type TierReview struct {
	Members int // members reviewed
	Changed int // tier.changed events committed
	Queued  int // texts queued in this node's outbox
}

// RunTierReview is the HQ leader's tier review: for every enrolled
// member whose tier at now (the spend window ending today) differs from
// the recorded one, it emits tier.changed (reason review) and queues the
// text in this node's outbox (when it has one). Only the node whose emit
// committed the event queues its text, so followers and stores that
// apply it send nothing. It decides from the folded state, so a rerun or
// a new leader after a barrier emits nothing twice; each change is
// checked again just before it is emitted, so a store's tier.changed
// that arrived meanwhile is not repeated. An emit error ends the run
// (the next run takes up what is left). Until the chain's upgrade to the
// format that carries tier.changed is finalized (format.go), it does
// nothing.
func (n *Node) RunTierReview(ctx context.Context, now time.Time, emit EmitFunc) (TierReview, error) {
	var run TierReview
	p := n.Programme()
	if p == nil || len(p.Tiers) == 0 || !n.CanWrite(engine.EventTierChanged) {
		return run, nil
	}
	due, members, err := n.tierChangesDue(ctx, p, now)
	run.Members = members
	if err != nil {
		return run, err
	}
	for _, id := range due {
		change, err := n.tierChangeOf(ctx, p, id, now) // again: the fold may have moved
		if err != nil {
			return run, err
		}
		if change == nil {
			continue
		}
		ev, err := emit(ctx, engine.Event{Kind: engine.EventTierChanged, Member: id, At: now, Tier: change})
		if err != nil {
			return run, fmt.Errorf("node: tier review of %s: %w", id, err)
		}
		run.Changed++
		queued, err := n.QueueEventMessage(ctx, ev.ID())
		if err != nil {
			return run, err
		}
		if queued {
			run.Queued++
		}
	}
	return run, nil
}

// tierChangesDue lists the members whose tier at now differs from the
// recorded one, in one read transaction, and how many it looked at.
func (n *Node) tierChangesDue(ctx context.Context, p *engine.Programme, now time.Time) ([]string, int, error) {
	if err := n.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer n.leave()
	var due []string
	seen := 0
	err := n.db.View(func(tx *bbolt.Tx) error {
		return forEachMember(tx, func(rec *memberRecord) error {
			if !rec.State.Enrolled {
				return nil
			}
			seen++
			spend, err := spendInWindow(tx, p, rec.State.ID, now)
			if err != nil {
				return err
			}
			if engine.TierChangeFor(p, &rec.State, spend, engine.TierReasonReview, "") != nil {
				due = append(due, rec.State.ID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("node: tier review: %w", err)
	}
	return due, seen, nil
}

// tierChangeOf is member's tier change due at now, or nil.
func (n *Node) tierChangeOf(ctx context.Context, p *engine.Programme, member string, now time.Time) (*engine.TierChanged, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	var change *engine.TierChanged
	err := n.db.View(func(tx *bbolt.Tx) error {
		rec, found, err := loadMember(tx, member)
		if err != nil || !found || !rec.State.Enrolled {
			return err
		}
		spend, err := spendInWindow(tx, p, member, now)
		if err != nil {
			return err
		}
		change = engine.TierChangeFor(p, &rec.State, spend, engine.TierReasonReview, "")
		return nil
	})
	return change, err
}

// forEachMember calls fn with every member record, in id order.
func forEachMember(tx *bbolt.Tx, fn func(*memberRecord) error) error {
	return tx.Bucket(bucketMembers).ForEach(func(_, v []byte) error {
		var rec memberRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		return fn(&rec)
	})
}
