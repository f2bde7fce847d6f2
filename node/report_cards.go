package node

import (
	"bytes"
	"cmp"
	"fmt"

	"go.etcd.io/bbolt"
)

// The card reports: card types (summary, or every card), the card issue
// report and the card maintenance log.

// runCardTypes counts the held cards per type, by issuing store and issue
// time, with their current status; Detail lists the cards.
func runCardTypes(r *reportRun) error {
	stores, err := r.stores(cardsSeries)
	if err != nil {
		return err
	}
	if r.f.Detail {
		sb := r.tx.Bucket(bucketRptCardState)
		for _, store := range stores {
			err := cardsSeries.scanRows(r.tx, store, r.sp.from, r.sp.to, r.stop, func(_, _ int64, id, _ []byte, _ []int64) error {
				var row cardRow
				found, err := getJSON(sb, id, &row)
				if err != nil {
					return err
				}
				card, member, ok := bytes.Cut(id, []byte{0})
				if !found || !ok {
					return fmt.Errorf("node: report: card row %q: %w", id, ErrCorrupt)
				}
				return r.emit(string(card), row.Type, string(member), row.Store, r.at(row.IssuedAt), row.Status,
					r.at(row.StatusAt), row.BlockReason)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	types := map[string][]int64{} // cards, active, blocked
	for _, store := range stores {
		err := cardsSeries.scan(r.tx, store, r.sp, r.stop, func(_, n int64, _, group []byte, vec []int64) error {
			p, err := splitParts(group)
			if err != nil || len(p) != 1 {
				return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
			}
			if types[p[0]] == nil {
				types[p[0]] = make([]int64, 3)
			}
			addVec(types[p[0]], []int64{n, vec[0], vec[1]})
			return nil
		})
		if err != nil {
			return err
		}
	}
	r.total = int64(len(types))
	for _, t := range sortedKeys(types) {
		if err := r.emit(sumsRow([]string{t}, types[t])...); err != nil {
			return err
		}
	}
	return nil
}

// runCardLog lists the card maintenance log (issues only, for the card
// issue report) in time order: one store's from its index, every store's
// from the log itself.
func runCardLog(r *reportRun, issuesOnly bool) error {
	logb, stateb := r.tx.Bucket(bucketCardLog), r.tx.Bucket(bucketRptCardState)
	emit := func(k, v []byte) (bool, error) {
		if len(k) < 8 {
			return false, fmt.Errorf("node: card log key: %w", ErrCorrupt)
		}
		ns := int64(decodeNs(k))
		if ns >= r.sp.to {
			return false, nil
		}
		var rec cardLogRecord
		if err := decodeJSON(v, &rec); err != nil {
			return false, err
		}
		if issuesOnly && rec.Action != "issue" {
			return true, nil
		}
		typ := rec.Type
		if typ == "" {
			// Blocks do not name the type: show the card's current one.
			var row cardRow
			if _, err := getJSON(stateb, key(rec.Card, rec.Member), &row); err != nil {
				return false, err
			}
			typ = row.Type
		}
		cols := []string{r.at(rec.At), rec.Store, rec.Terminal, rec.Member, rec.Card}
		if !issuesOnly {
			cols = append(cols, rec.Action)
		}
		return true, r.emit(append(cols, typ, rec.Reason)...)
	}
	if r.f.Store == "" {
		return walk(logb.Cursor(), nsKey(r.sp.from), nil, r.stop, func(k, v []byte) (bool, error) { return emit(k, v) })
	}
	prefix := storePrefix(r.f.Store)
	return walk(r.tx.Bucket(bucketRptCardLog).Cursor(), append(bytes.Clone(prefix), nsKey(r.sp.from)...), prefix, r.stop,
		func(k, _ []byte) (bool, error) {
			lk := k[len(prefix):]
			v := logb.Get(lk)
			if v == nil {
				return false, fmt.Errorf("node: report: card log entry missing: %w", ErrCorrupt)
			}
			return emit(lk, v)
		})
}

// walk calls fn from seek on while keys have prefix and fn says go on.
func walk(c *bbolt.Cursor, seek, prefix []byte, stop *stopper, fn func(k, v []byte) (bool, error)) error {
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := stop.tick(); err != nil {
			return err
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
