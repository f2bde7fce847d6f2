package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Overdraft is a member balance found below zero after a redemption was
// applied while the member's ledger holds offline redemptions: two
// stores redeemed offline what was there once. It is reported, never
// corrected silently (Overdrafts, the patron_node_overdrafts_total
// metric). A balance below zero because of a return is not an overdraft.
type Overdraft struct {
	Member string        `json:"member"`
	Points engine.Points `json:"points"` // how far below zero the balance went
	At     time.Time     `json:"at"`     // the business time of the redemption that found it
	Event  string        `json:"event"`  // "origin/seq" of that redemption's sale
	Store  string        `json:"store"`
	// OfflineEntries are the member's offline redemption entry ids (at
	// most MaxOverdraftEntries).
	OfflineEntries []string `json:"offline_entries"`
}

// Overdrafts lists the overdrafts this node found, by member.
func (n *Node) Overdrafts(ctx context.Context) ([]Overdraft, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	out := []Overdraft{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOverdrafts).ForEach(func(_, v []byte) error {
			var rec overdraftRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			out = append(out, rec.Overdraft)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("node: overdrafts: %w", err)
	}
	return out, nil
}

// checkOverdraft records an overdraft when a sale's redemption left the
// balance below zero and the member has offline redemptions.
func checkOverdraft(tx *bbolt.Tx, ev engine.Event, balance engine.Points, applied []engine.Entry, eff *effects) error {
	if balance >= 0 {
		return nil
	}
	redeemed := false
	for _, e := range applied {
		redeemed = redeemed || e.Kind == engine.EntryRedeem
	}
	if !redeemed {
		return nil
	}
	offline, err := offlineEntries(tx, ev.Member)
	if err != nil || len(offline) == 0 {
		return err
	}
	k := seqKey(string(key(ev.Member, ev.Origin)), ev.Seq)
	b := tx.Bucket(bucketOverdrafts)
	if b.Get(k) != nil {
		return nil
	}
	rec := overdraftRecord{V: recordVersion, Overdraft: Overdraft{Member: ev.Member, Points: -balance, At: ev.At,
		Event: fmt.Sprintf("%s/%d", ev.Origin, ev.Seq), Store: ev.Store, OfflineEntries: offline}}
	if err := putJSON(b, k, rec); err != nil {
		return err
	}
	eff.overdrafts++
	return nil
}

// offlineEntries lists a member's offline redemption entry ids.
func offlineEntries(tx *bbolt.Tx, member string) ([]string, error) {
	var out []string
	prefix := key(member, "")
	c := tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < MaxOverdraftEntries; k, v = c.Next() {
		var rec ledgerRecord
		if err := decodeJSON(v, &rec); err != nil {
			return nil, err
		}
		if rec.Entry.Offline {
			out = append(out, rec.Entry.ID)
		}
	}
	return out, nil
}
