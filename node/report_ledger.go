package node

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/patron/patron/engine"
)

// The ledger reports: the reward point ledger (summary per member, or
// every entry) and a member's statement.

// ledgerSums is one member's entries within a report's range.
type ledgerSums struct {
	entries int64
	kinds   []int64 // per ledgerKindOrder
	net     int64   // every kind, those ledgerKindOrder does not name too
}

func (s *ledgerSums) add(kind string, points int64) {
	if s.kinds == nil {
		s.kinds = make([]int64, len(ledgerKindOrder))
	}
	s.entries++
	s.net += points
	if i := slices.Index(ledgerKindOrder, kind); i >= 0 {
		s.kinds[i] += points
	}
}

// runPointLedger is the point-ledger report.
func runPointLedger(r *reportRun) error {
	if r.f.Detail {
		if r.f.Member != "" {
			return r.memberEntries(r.f.Member, func(e engine.Entry, _ int64) error { return r.emitEntry(r.f.Member, e) })
		}
		return r.storeEntries(func(member string, e engine.Entry) error { return r.emitEntry(member, e) })
	}
	sums := map[string]*ledgerSums{}
	if r.f.Member != "" {
		s := &ledgerSums{}
		sums[r.f.Member] = s
		err := r.memberEntries(r.f.Member, func(e engine.Entry, _ int64) error {
			s.add(string(e.Kind), int64(e.Points))
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		stores, err := r.stores(entriesSeries)
		if err != nil {
			return err
		}
		for _, store := range stores {
			err := entriesSeries.scanRows(r.tx, store, r.sp.from, r.sp.to, r.stop, func(_, _ int64, _, group []byte, vec []int64) error {
				p, err := splitParts(group)
				if err != nil || len(p) != 2 {
					return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
				}
				s := sums[p[0]]
				if s == nil {
					s = &ledgerSums{}
					sums[p[0]] = s
				}
				s.add(p[1], vec[0])
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	r.total = int64(len(sums))
	for _, m := range sortedKeys(sums) {
		s := sums[m]
		if s.kinds == nil {
			s.kinds = make([]int64, len(ledgerKindOrder))
		}
		opening, closing, err := r.balances(m)
		if err != nil {
			return err
		}
		row := append([]string{m, itoa(s.entries), itoa(opening)}, sumsRow(nil, s.kinds)...)
		if err := r.emit(append(row, itoa(s.net), itoa(closing))...); err != nil {
			return err
		}
	}
	return nil
}

// balances is a member's whole balance (every store) at From and at To.
// It reads the member's entries from From on, not the whole ledger.
func (r *reportRun) balances(member string) (opening, closing int64, err error) {
	bal, err := decodeBalance(r.tx.Bucket(bucketBalances).Get([]byte(member)))
	if err != nil {
		return 0, 0, err
	}
	var in, after int64
	prefix := key(member, "")
	c := r.tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(append(bytes.Clone(prefix), nsKey(r.sp.from)...)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := r.stop.tick(); err != nil {
			return 0, 0, err
		}
		var rec ledgerRecord
		if err := decodeJSON(v, &rec); err != nil {
			return 0, 0, err
		}
		if r.sp.contains(rec.Entry.At.UnixNano()) {
			in += int64(rec.Entry.Points)
		} else {
			after += int64(rec.Entry.Points)
		}
	}
	closing = int64(bal.Balance) - after
	return closing - in, closing, nil
}

// memberEntries calls fn for a member's entries within the range (and
// store, when filtered), in ledger order, with the member's whole balance
// after each; it returns the balance before the range.
func (r *reportRun) memberEntries(member string, fn func(e engine.Entry, balance int64) error) error {
	_, err := r.memberLedger(member, fn)
	return err
}

// memberLedger walks a member's ledger from its start (the running
// balance needs every earlier entry) and returns the balance before the
// range and at its end.
func (r *reportRun) memberLedger(member string, fn func(e engine.Entry, balance int64) error) ([2]int64, error) {
	var before, balance int64
	prefix := key(member, "")
	c := r.tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := r.stop.tick(); err != nil {
			return [2]int64{}, err
		}
		if len(k) < len(prefix)+8 {
			return [2]int64{}, fmt.Errorf("node: ledger key: %w", ErrCorrupt)
		}
		ns := int64(decodeNs(k[len(prefix):]))
		if ns >= r.sp.to {
			break
		}
		var rec ledgerRecord
		if err := decodeJSON(v, &rec); err != nil {
			return [2]int64{}, err
		}
		balance += int64(rec.Entry.Points)
		if ns < r.sp.from {
			before = balance
			continue
		}
		if r.f.Store != "" && rec.Entry.Store != r.f.Store {
			continue
		}
		if err := fn(rec.Entry, balance); err != nil {
			return [2]int64{}, err
		}
	}
	return [2]int64{before, balance}, nil
}

func decodeNs(b []byte) uint64 {
	var v uint64
	for _, x := range b[:8] {
		v = v<<8 | uint64(x)
	}
	return v ^ (1 << 63)
}

// storeEntries calls fn for the entries of each store in the range, by
// store, then time, then entry id.
func (r *reportRun) storeEntries(fn func(member string, e engine.Entry) error) error {
	stores, err := r.stores(entriesSeries)
	if err != nil {
		return err
	}
	lb := r.tx.Bucket(bucketLedger)
	for _, store := range stores {
		err := entriesSeries.scanRows(r.tx, store, r.sp.from, r.sp.to, r.stop, func(at, _ int64, id, group []byte, _ []int64) error {
			p, err := splitParts(group)
			if err != nil || len(p) != 2 {
				return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
			}
			var rec ledgerRecord
			lk := append(append(key(p[0], ""), nsKey(at)...), id...)
			found, err := getJSON(lb, lk, &rec)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("node: report: entry %s of %s not in the ledger: %w", id, p[0], ErrCorrupt)
			}
			return fn(p[0], rec.Entry)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *reportRun) emitEntry(member string, e engine.Entry) error {
	return r.emit(r.at(e.At), member, e.ID, e.Store, string(e.Kind), itoa(int64(e.Points)), e.Ref, strconv.FormatBool(e.Offline))
}

// runStatement lists one member's entries with the running balance
// (every store's entries count in it), between an opening and a closing
// row.
func runStatement(r *reportRun) error {
	type line struct {
		e   engine.Entry
		bal int64
	}
	var lines []line
	bounds, err := r.memberLedger(r.f.Member, func(e engine.Entry, bal int64) error {
		lines = append(lines, line{e, bal})
		return nil
	})
	if err != nil {
		return err
	}
	r.total = int64(len(lines) + 2)
	if err := r.emit(r.at(r.f.From), "", "", "opening", "", "", itoa(bounds[0])); err != nil {
		return err
	}
	for _, l := range lines {
		if err := r.emit(r.at(l.e.At), l.e.ID, l.e.Store, string(l.e.Kind), l.e.Ref, itoa(int64(l.e.Points)), itoa(l.bal)); err != nil {
			return err
		}
	}
	return r.emit(r.at(r.f.To), "", "", "closing", "", "", itoa(bounds[1]))
}
