package node

import (
	"bytes"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Hooks for the code that rewrites fold data outside the event-apply
// path, so the report indexes follow it: derived ledger entries (expiry
// lots) and erasure, which moves a member's data to a pseudonym and masks
// card numbers. Without them a report would show an erased member's id.

// unindexEntry takes a ledger entry the fold deleted out of the indexes
// (indexEntry puts one it added).
func unindexEntry(tx *bbolt.Tx, e engine.Entry) error {
	return entriesSeries.remove(ix{tx: tx}, e.Store, e.At, []byte(e.ID))
}

// reindexMovedEntry files a ledger entry moved to member to under it.
func reindexMovedEntry(tx *bbolt.Tx, to string, e engine.Entry) error {
	return regroup(ix{tx: tx}, entriesSeries, e.Store, e.At, []byte(e.ID), parts(to, string(e.Kind)))
}

// reindexErasedEvent rewrites what the indexes hold of one event of an
// erased member now that r, its redacted form, replaces ev: the member
// of its sales row, return record and card rows, and the card numbers
// r masks.
func reindexErasedEvent(tx *bbolt.Tx, ev, r engine.Event) error {
	x := ix{tx: tx}
	switch {
	case ev.Sale != nil:
		return regroupMember(x, ev.Store, ev.At, append([]byte{'s'}, ev.Sale.ReceiptID...), ev.Member, r.Member)
	case ev.Return != nil:
		k := key(ev.Return.ReceiptID, ev.Return.ReturnNo, ev.Origin)
		if err := regroupMember(x, ev.Store, ev.At, append([]byte{'r'}, k...), ev.Member, r.Member); err != nil {
			return err
		}
		var rec returnIndexRecord
		found, err := ixGetJSON(x.b(bucketRptReturns), k, &rec)
		if err != nil || !found || rec.Member != ev.Member {
			return err
		}
		rec.Member = r.Member
		return ixPutJSON(x.b(bucketRptReturns), k, rec)
	case ev.Enrolment != nil && r.Enrolment != nil:
		for i, c := range ev.Enrolment.Cards {
			if i < len(r.Enrolment.Cards) {
				if err := moveCardRow(x, c.Number, ev.Member, r.Enrolment.Cards[i].Number, r.Member); err != nil {
					return err
				}
			}
		}
	case ev.Card != nil && r.Card != nil:
		return moveCardRow(x, ev.Card.Number, ev.Member, r.Card.Number, r.Member)
	}
	return nil
}

// regroupMember rewrites the member part of a sales row held for from.
func regroupMember(x ix, store string, at time.Time, id []byte, from, to string) error {
	v := x.b(salesSeries.rows).Get(rowKey(store, at.UnixNano(), id))
	if v == nil {
		return nil
	}
	group, _, err := decodeRow(v, salesSeries.width)
	if err != nil {
		return err
	}
	p, err := splitParts(group)
	if err != nil || len(p) != 2 || p[1] != from {
		return err
	}
	return regroup(x, salesSeries, store, at, id, parts(p[0], to))
}

// regroup gives a held row a new group, its sums unchanged.
func regroup(x ix, s series, store string, at time.Time, id, group []byte) error {
	v := x.b(s.rows).Get(rowKey(store, at.UnixNano(), id))
	if v == nil {
		return nil
	}
	old, vec, err := decodeRow(v, s.width)
	if err != nil || bytes.Equal(old, group) {
		return err
	}
	if err := s.remove(x, store, at, id); err != nil {
		return err
	}
	return s.add(x, store, at, id, group, vec)
}

// moveCardRow moves a card's row from (number, member) to (masked, to).
func moveCardRow(x ix, number, member, masked, to string) error {
	sb := x.b(bucketRptCardState)
	oldID, newID := key(number, member), key(masked, to)
	if bytes.Equal(oldID, newID) {
		return nil
	}
	var row cardRow
	found, err := ixGetJSON(sb, oldID, &row)
	if err != nil || !found {
		return err
	}
	v := x.b(cardsSeries.rows).Get(rowKey(row.Store, row.IssuedAt.UnixNano(), oldID))
	if v == nil {
		return fmt.Errorf("node: report: card row of %q missing: %w", oldID, ErrCorrupt)
	}
	group, vec, err := decodeRow(v, cardsSeries.width)
	if err != nil {
		return err
	}
	group = bytes.Clone(group)
	if err := cardsSeries.remove(x, row.Store, row.IssuedAt, oldID); err != nil {
		return err
	}
	if err := cardsSeries.add(x, row.Store, row.IssuedAt, newID, group, vec); err != nil {
		return err
	}
	if err := sb.Delete(oldID); err != nil {
		return fmt.Errorf("node: report index: %w", err)
	}
	return ixPutJSON(sb, newID, row)
}
