package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// What HQ's points expiry job (node/hqevents) reads and does on its node:
// ExpiryReview finds the members owed an expiry mark or a warning, the
// job emits the events through Raft, and QueueExpiryWarning queues the
// warning's text on this node only, after the event committed.

// MaxExpiryReviewPage bounds the members one ExpiryReview call returns:
// the job proposes their events one by one between pages, so a page must
// not pin a read transaction (and the file's growth) for long.
const MaxExpiryReviewPage = 256

// ExpiryDue is what one member is owed at an instant.
type ExpiryDue struct {
	Member string
	// Expire is the mark that expires every lot due: the instant itself,
	// when a lot that held points at its expiry expired by then; zero when
	// none did.
	Expire time.Time
	// Warning is the warning due (engine.Programme.ExpiryWarningDue), nil
	// when none is; only enrolled members are warned.
	Warning *engine.ExpiryWarning
	// Balance is the balance once the due lots have expired, for the
	// warning's text.
	Balance engine.Points
}

// ExpiryReview returns, in member id order after member after (""
// from the first), up to limit members owed something at now, and the
// member to continue after ("" when the review is complete). limit ≤ 0
// or above MaxExpiryReviewPage is MaxExpiryReviewPage. Warnings need a
// current programme (its expiry_warning_days and zone); marks do not.
func (n *Node) ExpiryReview(ctx context.Context, now time.Time, after string, limit int) ([]ExpiryDue, string, error) {
	if err := n.enter(ctx); err != nil {
		return nil, "", err
	}
	defer n.leave()
	if limit <= 0 || limit > MaxExpiryReviewPage {
		limit = MaxExpiryReviewPage
	}
	p := n.Programme()
	var out []ExpiryDue
	next := ""
	err := n.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLots)
		if b == nil {
			return nil // no member has lots
		}
		c := b.Cursor()
		k, _ := c.First()
		if after != "" {
			if k, _ = c.Seek([]byte(after)); k != nil && bytes.Equal(k, []byte(after)) {
				k, _ = c.Next()
			}
		}
		for ; k != nil; k, _ = c.Next() {
			if len(out) == limit {
				next = out[len(out)-1].Member
				return nil
			}
			rec, _, err := loadMember(tx, string(k))
			if err != nil {
				return err
			}
			due, err := expiryDue(tx, p, rec, now)
			if err != nil {
				return err
			}
			if !due.Expire.IsZero() || due.Warning != nil {
				out = append(out, due)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("node: expiry review: %w", err)
	}
	return out, next, nil
}

// expiryDue is what rec's member, who has lots, is owed at now.
func expiryDue(tx *bbolt.Tx, p *engine.Programme, rec *memberRecord, now time.Time) (ExpiryDue, error) {
	due := ExpiryDue{Member: rec.State.ID}
	lots, expire, err := lotsAt(tx, rec.State.ID, now)
	if err != nil {
		return ExpiryDue{}, err
	}
	if expire {
		due.Expire = now
	}
	for _, l := range lots.Live {
		due.Balance += l.Remaining
	}
	due.Balance -= lots.Debt
	if p != nil && rec.State.Enrolled {
		due.Warning = p.ExpiryWarningDue(*lots, rec.State.WarnedThrough(), now)
	}
	return due, nil
}

// ExpiryWarningMessageID is the outbox id of the text of a
// points.expiry_warned event: one per member and warning window.
func ExpiryWarningMessageID(member string, through time.Time) string {
	return member + "/" + engine.MessagePointsExpiring + "/" + through.UTC().Format(time.RFC3339)
}

// QueueExpiryWarning queues the text of a committed points.expiry_warned
// event in this node's outbox (a no-op without one). Only the node that
// proposed the event calls it, so the member gets one text, not one per
// HQ node; a crash between the commit and this call loses the text
// (at most once, docs/points-expiry.md). balance is the balance the text
// shows. Queuing the same event again is a no-op.
func (n *Node) QueueExpiryWarning(ctx context.Context, ev engine.Event, balance engine.Points) error {
	if ev.Kind != engine.EventPointsExpiryWarned || ev.Expiry == nil || ev.Member == "" {
		return fmt.Errorf("node: queue expiry warning: %s is not a points.expiry_warned event: %w", ev.Kind, engine.ErrBadEvent)
	}
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	if n.outbox == nil {
		return nil
	}
	text, err := n.render(engine.MessagePointsExpiring, engine.MessageData{Points: ev.Expiry.Points,
		Balance: balance, ExpiresOn: ev.Expiry.On})
	if err != nil {
		return err
	}
	m := outMessage{id: ExpiryWarningMessageID(ev.Member, ev.Expiry.Through), kind: engine.MessagePointsExpiring,
		member: ev.Member, text: text}
	now := n.now()
	return n.update(func(tx *bbolt.Tx) error { return n.queueTx(tx, m, now) })
}
