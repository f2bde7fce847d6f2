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
// of its sales row and return record. The rows of the cards it names are
// dropped: a pseudonym holds no cards (its redacted card events fold to
// none), so a node that heard of the erasure first, and a rebuild
// (rebuildCards), have no rows for them either; moved to the masked
// number they would also collide for two cards sharing the last four
// digits.
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
	case ev.Enrolment != nil:
		for _, c := range ev.Enrolment.Cards {
			if err := dropCardRow(x, c.Number, ev.Member); err != nil {
				return err
			}
		}
	case ev.Card != nil:
		return dropCardRow(x, ev.Card.Number, ev.Member)
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

// dropCardRow removes the row of a card held by member, if indexed: its
// cards series row (and slot counts) and its rpt_card_state entry.
func dropCardRow(x ix, number, member string) error {
	sb := x.b(bucketRptCardState)
	id := key(number, member)
	var row cardRow
	found, err := ixGetJSON(sb, id, &row)
	if err != nil || !found {
		return err
	}
	if err := cardsSeries.remove(x, row.Store, row.IssuedAt, id); err != nil {
		return err
	}
	if err := sb.Delete(id); err != nil {
		return fmt.Errorf("node: report index: %w", err)
	}
	return nil
}
