package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// The HoldStore side of the node: HQ's Raft FSM applies its log entries
// through these methods. Each stores the Raft index it applies in the
// same transaction as its effect, and an index at or below the stored one
// changes nothing (Raft re-applies entries after a restart). They commit
// with db.Update, not the group commit: the FSM applies one entry at a
// time and must not wait for a group to gather.

// AppliedIndex is the last Raft index whose effect is stored.
func (n *Node) AppliedIndex(ctx context.Context) (uint64, error) {
	if err := n.enter(ctx); err != nil {
		return 0, err
	}
	defer n.leave()
	var idx uint64
	err := n.db.View(func(tx *bbolt.Tx) error {
		var err error
		idx, err = decodeUint64(tx.Bucket(bucketMeta).Get(metaApplied))
		return err
	})
	return idx, err
}

// ApplyEventsAt is ApplyEvents inside the FSM, at Raft index.
func (n *Node) ApplyEventsAt(ctx context.Context, index uint64, events []engine.RawEvent) (engine.VersionVector, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	batch, err := n.decodeBatch(events)
	if err != nil {
		return nil, err
	}
	var vv engine.VersionVector
	eff := newEffects()
	err = n.db.Update(func(tx *bbolt.Tx) error {
		done, err := appliedAt(tx, index)
		if err != nil || done {
			if err == nil {
				vv, err = readVV(tx)
			}
			return err
		}
		vv, err = n.applyRemote(tx, batch, eff)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.afterCommit(eff)
	return vv, nil
}

// PlaceHold reserves points of a member, refusing to take the member's
// balance less pending holds below zero. A repeat of the same id returns
// the first decision, with the hold's current status (a refused hold
// stays refused).
func (n *Node) PlaceHold(ctx context.Context, index uint64, h engine.Hold) (engine.HoldDecision, error) {
	if err := n.enter(ctx); err != nil {
		return engine.HoldDecision{}, err
	}
	defer n.leave()
	if !validNo(h.ID, engine.MaxEventIDLen) || !validNo(h.Member, engine.MaxEventIDLen) || h.Points <= 0 {
		return engine.HoldDecision{}, fmt.Errorf("node: hold %q: %w", h.ID, ErrBadHold)
	}
	h.At = h.At.UTC()
	var d engine.HoldDecision
	err := n.db.Update(func(tx *bbolt.Tx) error {
		done, err := appliedAt(tx, index)
		if err != nil {
			return err
		}
		var rec holdRecord
		found, err := getJSON(tx.Bucket(bucketHolds), []byte(h.ID), &rec)
		if err != nil || found {
			d = rec.Decision
			return err
		}
		if d, err = decideHold(tx, h); err != nil || done {
			return err // a re-applied index: answer, store nothing
		}
		if err := putJSON(tx.Bucket(bucketHolds), []byte(h.ID), holdRecord{V: recordVersion, Hold: h, Decision: d}); err != nil {
			return err
		}
		if !d.Granted {
			return nil
		}
		if err := tx.Bucket(bucketHoldPending).Put(key(h.Member, h.ID), pendingValue(h.Points, h.At)); err != nil {
			return fmt.Errorf("node: pending hold: %w", err)
		}
		return nil
	})
	if err != nil {
		return engine.HoldDecision{}, fmt.Errorf("node: place hold %s: %w", h.ID, err)
	}
	return d, nil
}

// decideHold decides a new hold on the member's balance less pending
// holds.
func decideHold(tx *bbolt.Tx, h engine.Hold) (engine.HoldDecision, error) {
	bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(h.Member)))
	if err != nil {
		return engine.HoldDecision{}, err
	}
	available, err := lotsRedeemableAt(tx, h.Member, h.At, bal.Balance) // lots.go
	if err != nil {
		return engine.HoldDecision{}, err
	}
	prefix := key(h.Member, "")
	c := tx.Bucket(bucketHoldPending).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		pts, _, err := decodePending(v)
		if err != nil {
			return engine.HoldDecision{}, err
		}
		available -= pts
	}
	d := engine.HoldDecision{Granted: available >= h.Points, Available: max(available, 0), Status: engine.HoldRefused}
	if d.Granted {
		d.Status = engine.HoldPending
	}
	return d, nil
}

// VoidHold releases a pending hold; voiding a posted, expired, refused or
// unknown hold changes nothing.
func (n *Node) VoidHold(ctx context.Context, index uint64, id string) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	err := n.db.Update(func(tx *bbolt.Tx) error {
		done, err := appliedAt(tx, index)
		if err != nil || done {
			return err
		}
		return finishHold(tx, id, engine.HoldVoided)
	})
	if err != nil {
		return fmt.Errorf("node: void hold %s: %w", id, err)
	}
	return nil
}

// ExpireHolds expires pending holds placed before cutoff and returns how
// many.
func (n *Node) ExpireHolds(ctx context.Context, index uint64, cutoff time.Time) (int, error) {
	if err := n.enter(ctx); err != nil {
		return 0, err
	}
	defer n.leave()
	expired := 0
	err := n.db.Update(func(tx *bbolt.Tx) error {
		expired = 0
		done, err := appliedAt(tx, index)
		if err != nil || done {
			return err
		}
		var ids []string
		err = tx.Bucket(bucketHoldPending).ForEach(func(k, v []byte) error {
			_, at, err := decodePending(v)
			if err != nil {
				return err
			}
			if at.Before(cutoff) {
				ids = append(ids, string(k[bytes.IndexByte(k, 0)+1:]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := finishHold(tx, id, engine.HoldExpired); err != nil {
				return err
			}
		}
		expired = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("node: expire holds: %w", err)
	}
	return expired, nil
}

// postHold posts the pending hold a sale names (at HQ; a store holds no
// holds and a hold no longer pending stays as it is).
func postHold(tx *bbolt.Tx, id string) error {
	if id == "" {
		return nil
	}
	return finishHold(tx, id, engine.HoldPosted)
}

// finishHold moves a pending hold to status and releases its points.
func finishHold(tx *bbolt.Tx, id string, status engine.HoldStatus) error {
	var rec holdRecord
	found, err := getJSON(tx.Bucket(bucketHolds), []byte(id), &rec)
	if err != nil || !found || rec.Decision.Status != engine.HoldPending {
		return err
	}
	rec.Decision.Status = status
	if err := putJSON(tx.Bucket(bucketHolds), []byte(id), rec); err != nil {
		return err
	}
	if err := tx.Bucket(bucketHoldPending).Delete(key(rec.Hold.Member, id)); err != nil {
		return fmt.Errorf("node: pending hold: %w", err)
	}
	return nil
}

// appliedAt reports whether Raft index was applied already, and if not
// records it as applied (in tx, with the effect).
func appliedAt(tx *bbolt.Tx, index uint64) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	last, err := decodeUint64(meta.Get(metaApplied))
	if err != nil {
		return false, err
	}
	if index <= last {
		return true, nil
	}
	if err := meta.Put(metaApplied, uint64Value(index)); err != nil {
		return false, fmt.Errorf("node: applied index: %w", err)
	}
	return false, nil
}
