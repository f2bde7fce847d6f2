package node

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/patron/patron/engine"
)

// The offline allowance is per member per offline spell (ARCHITECTURE.md:
// "a store may redeem only up to the programme's offline_allowance_points
// for that member"): the store counts what each member redeemed while HQ
// was unreachable, in the sale's own transaction, and starts afresh once
// HQ answers a hold again. The count is local to the store: it bounds this
// store's contribution to an overdraft, so with k stores cut off at once a
// member's overdraft is at most k × the allowance.

// checkOfflineAllowance refuses an offline redemption that would take the
// member's offline spending in this spell past the allowance.
func checkOfflineAllowance(tx *bbolt.Tx, p *engine.Programme, member string, redeem engine.Points) (*engine.Refusal, error) {
	spent, err := offlineSpent(tx, member)
	if err != nil {
		return nil, err
	}
	allowance := p.Redeem.OfflineAllowancePoints
	if spent+redeem <= allowance {
		return nil, nil
	}
	left := max(allowance-spent, 0)
	return refuse(ReasonOfflineLimit,
		fmt.Sprintf("HQ is unreachable: %d of the %d points this member may redeem offline are left", left, allowance),
		"offline_allowance_points", allowance, "offline_remaining", left), nil
}

func offlineSpent(tx *bbolt.Tx, member string) (engine.Points, error) {
	raw := tx.Bucket(bucketOfflineSpent).Get([]byte(member))
	if raw == nil {
		return 0, nil
	}
	v, err := decodeInt64(raw)
	if err != nil {
		return 0, fmt.Errorf("node: offline spent of %s: %w", member, err)
	}
	return engine.Points(v), nil
}

// addOfflineSpent counts an offline redemption, in the sale's transaction.
func addOfflineSpent(tx *bbolt.Tx, member string, redeem engine.Points) error {
	spent, err := offlineSpent(tx, member)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketOfflineSpent).Put([]byte(member), int64Value(int64(spent+redeem)))
}

// resetOfflineSpent forgets the offline spell once HQ answers. It writes
// only when there is something to forget, so online redemptions pay no
// extra commit.
func (n *Node) resetOfflineSpent() error {
	empty := true
	if err := n.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketOfflineSpent).Cursor().First()
		empty = k == nil
		return nil
	}); err != nil || empty {
		return err
	}
	return n.update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketOfflineSpent); err != nil {
			return fmt.Errorf("node: reset offline spending: %w", err)
		}
		_, err := tx.CreateBucket(bucketOfflineSpent)
		return err
	})
}
