package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Buying patterns (docs/personal-offers.md): per member, what they
// bought of each SKU and category net of returns (units, thousandths of
// weighed lines, money paid) and their visits (sales not wholly
// returned; first and last day). The index is derived from sales and
// returns in the transaction that applies them, and like the fold it
// depends only on the set of events held: a return adds its lines only
// once its sale is held (the sale's lines name the SKU and category), so
// a return that arrives first is counted when its sale arrives. Applying
// an event again changes nothing (applyEvent applies each once, and the
// hooks below also skip a receipt or return already recorded).
//
// Keys (bucketPatterns): member \x00 "v" → visits; member \x00 "s" \x00
// sku and member \x00 "c" \x00 category → sums. A sum that returns bring
// to zero is kept, so the bytes do not depend on the order events came in.

// bucketPatterns is created on first use (ensurePatterns), and built then
// from the receipts and returns held, so a file from before it gets the
// same index as one that always had it.
var bucketPatterns = []byte("patterns") // derived: see above

// Pattern key kinds.
const (
	patternVisits   = "v"
	patternSKU      = "s"
	patternCategory = "c"
)

// MaxPatternItems bounds the SKUs and categories BuyingPattern lists:
// a member's top ten is what a clerk or an offer rule looks at.
const MaxPatternItems = 10

// BuyingPattern is a member's buying pattern: visits, first and last
// visit days and recency (days from the last visit to today, in the
// programme's zone; -1 when the member never visited), and the top
// categories and SKUs (engine.TopPatternItems: by units, thousandths,
// money paid, then name), at most MaxPatternItems of each.
type BuyingPattern struct {
	Member      string               `json:"member"`
	Visits      int64                `json:"visits"`
	FirstVisit  string               `json:"first_visit,omitempty"` // YYYY-MM-DD
	LastVisit   string               `json:"last_visit,omitempty"`  // YYYY-MM-DD
	RecencyDays int64                `json:"recency_days"`
	Categories  []engine.PatternItem `json:"categories"`
	SKUs        []engine.PatternItem `json:"skus"`
}

// BuyingPattern returns member's buying pattern (member id, as
// member.identify gives it). A member this node does not hold is a
// member_not_found refusal.
func (n *Node) BuyingPattern(ctx context.Context, member string) (*BuyingPattern, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if err := n.ensurePatterns(); err != nil {
		return nil, err
	}
	today := dayOf(p, n.now())
	var out *BuyingPattern
	err = n.db.View(func(tx *bbolt.Tx) error {
		_, found, err := loadMember(tx, member)
		if err != nil || !found {
			return err
		}
		pat, err := readPattern(tx, member)
		if err != nil {
			return err
		}
		out = &BuyingPattern{Member: member, Visits: pat.visits.Visits, RecencyDays: -1,
			Categories: engine.TopPatternItems(pat.categories, MaxPatternItems),
			SKUs:       engine.TopPatternItems(pat.skus, MaxPatternItems)}
		if pat.visits.Seen {
			out.FirstVisit, out.LastVisit = engine.DayDate(pat.visits.First), engine.DayDate(pat.visits.Last)
			out.RecencyDays = max(today-pat.visits.Last, 0)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: buying pattern: %w", err)
	}
	if out == nil {
		return nil, n.refused(refuse(ReasonMemberNotFound, "no member "+member))
	}
	return out, nil
}

// ensurePatterns creates and builds the pattern index if the file lacks
// it, so a read-only look finds it.
func (n *Node) ensurePatterns() error {
	missing := false
	if err := n.db.View(func(tx *bbolt.Tx) error { missing = tx.Bucket(bucketPatterns) == nil; return nil }); err != nil {
		return err
	}
	if !missing {
		return nil
	}
	return n.update(ensurePatternBucket)
}

// foldPatternSale adds a sale to its member's pattern (applySale's hook,
// before the receipt is recorded), and takes off the returns of it that
// arrived first.
func foldPatternSale(tx *bbolt.Tx, ev engine.Event) error {
	s := ev.Sale
	if tx.Bucket(bucketReceipts).Get([]byte(s.ReceiptID)) != nil {
		return nil // the receipt recorded first stands (applySale)
	}
	if err := ensurePatternBucket(tx); err != nil {
		return err
	}
	if ev.Member == "" {
		return nil
	}
	if err := addSaleToPattern(tx, ev.Member, s); err != nil {
		return err
	}
	prefix := key(s.ReceiptID, "")
	c := tx.Bucket(bucketReturns).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec returnRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		if err := takeReturnFromPattern(tx, ev.Member, s, &rec.Return); err != nil {
			return err
		}
	}
	return nil
}

// foldPatternReturn takes a return off its sale's member's pattern
// (applyReturn's hook, before the return is recorded) when the sale is
// held; otherwise foldPatternSale does it when the sale arrives.
func foldPatternReturn(tx *bbolt.Tx, ev engine.Event) error {
	r := ev.Return
	if tx.Bucket(bucketReturns).Get(key(r.ReceiptID, r.ReturnNo, ev.Origin)) != nil {
		return nil
	}
	if err := ensurePatternBucket(tx); err != nil {
		return err
	}
	var sale receiptRecord
	found, err := getJSON(tx.Bucket(bucketReceipts), []byte(r.ReceiptID), &sale)
	if err != nil || !found || sale.Member == "" {
		return err
	}
	return takeReturnFromPattern(tx, sale.Member, &sale.Sale, r)
}

// addSaleToPattern counts a visit on the sale's day and adds its lines.
func addSaleToPattern(tx *bbolt.Tx, member string, s *engine.SaleCompleted) error {
	b := tx.Bucket(bucketPatterns)
	vk := key(member, patternVisits)
	v, err := decodeVisits(b.Get(vk))
	if err != nil {
		return err
	}
	v = v.add(visitSums{Visits: 1, First: s.Day, Last: s.Day, Seen: true})
	if err := b.Put(vk, v.encode()); err != nil {
		return fmt.Errorf("node: buying pattern: %w", err)
	}
	for _, l := range s.Evaluation.Lines {
		if err := addPatternLine(b, member, l, patternSums{Qty: l.Qty, QtyMilli: l.QtyMilli, Amount: int64(l.Paid)}); err != nil {
			return err
		}
	}
	return nil
}

// takeReturnFromPattern takes a return of sale off member's pattern: its
// lines, and the visit when it completes the receipt.
func takeReturnFromPattern(tx *bbolt.Tx, member string, sale *engine.SaleCompleted, r *engine.SaleReturned) error {
	b := tx.Bucket(bucketPatterns)
	for _, rl := range r.Result.Lines {
		for _, l := range sale.Evaluation.Lines {
			if l.Line != rl.Line {
				continue
			}
			if err := addPatternLine(b, member, l, patternSums{Qty: -rl.Qty, QtyMilli: -rl.QtyMilli, Amount: -int64(rl.Money)}); err != nil {
				return err
			}
			break
		}
	}
	if !r.Result.Complete {
		return nil
	}
	vk := key(member, patternVisits)
	v, err := decodeVisits(b.Get(vk))
	if err != nil {
		return err
	}
	v.Visits--
	if err := b.Put(vk, v.encode()); err != nil {
		return fmt.Errorf("node: buying pattern: %w", err)
	}
	return nil
}

// addPatternLine adds d to the line's SKU and category sums.
func addPatternLine(b *bbolt.Bucket, member string, l engine.LineResult, d patternSums) error {
	for _, k := range [][]byte{key(member, patternSKU, l.SKU), key(member, patternCategory, l.Category)} {
		cur, err := decodePatternSums(b.Get(k))
		if err != nil {
			return err
		}
		cur.Qty, cur.QtyMilli, cur.Amount = cur.Qty+d.Qty, cur.QtyMilli+d.QtyMilli, cur.Amount+d.Amount
		if err := b.Put(k, cur.encode()); err != nil {
			return fmt.Errorf("node: buying pattern: %w", err)
		}
	}
	return nil
}

// ensurePatternBucket creates the pattern index if the file lacks it and
// builds it from the receipts and returns held.
func ensurePatternBucket(tx *bbolt.Tx) error {
	if tx.Bucket(bucketPatterns) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bucketPatterns); err != nil {
		return fmt.Errorf("node: create bucket %s: %w", bucketPatterns, err)
	}
	err := tx.Bucket(bucketReceipts).ForEach(func(_, v []byte) error {
		var rec receiptRecord
		if err := decodeJSON(v, &rec); err != nil || rec.Member == "" {
			return err
		}
		return addSaleToPattern(tx, rec.Member, &rec.Sale)
	})
	if err != nil {
		return fmt.Errorf("node: build buying patterns: %w", err)
	}
	err = tx.Bucket(bucketReturns).ForEach(func(_, v []byte) error {
		var rec returnRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		var sale receiptRecord
		found, err := getJSON(tx.Bucket(bucketReceipts), []byte(rec.Return.ReceiptID), &sale)
		if err != nil || !found || sale.Member == "" {
			return err
		}
		return takeReturnFromPattern(tx, sale.Member, &sale.Sale, &rec.Return)
	})
	if err != nil {
		return fmt.Errorf("node: build buying patterns: %w", err)
	}
	return nil
}

// pattern is a member's whole pattern as stored.
type pattern struct {
	visits           visitSums
	skus, categories []engine.PatternItem
}

// readPattern reads member's pattern (empty when the index lacks it).
func readPattern(tx *bbolt.Tx, member string) (pattern, error) {
	var out pattern
	b := tx.Bucket(bucketPatterns)
	if b == nil {
		return out, nil
	}
	var err error
	if out.visits, err = decodeVisits(b.Get(key(member, patternVisits))); err != nil {
		return out, err
	}
	for _, kind := range []string{patternSKU, patternCategory} {
		prefix := key(member, kind, "")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			s, err := decodePatternSums(v)
			if err != nil {
				return out, err
			}
			it := engine.PatternItem{Key: string(k[len(prefix):]), Qty: s.Qty, QtyMilli: s.QtyMilli, Amount: engine.Money(s.Amount)}
			if kind == patternSKU {
				out.skus = append(out.skus, it)
			} else {
				out.categories = append(out.categories, it)
			}
		}
	}
	return out, nil
}

// movePatterns moves an erased member's pattern to its pseudonym (a
// moveMember step, erasure_move.go): sums add up and the visit days
// widen, so moving is the same as having folded the redacted events.
func movePatterns(tx *bbolt.Tx, from, to string) error {
	b := tx.Bucket(bucketPatterns)
	if b == nil || from == to {
		return nil
	}
	kvs, err := prefixed(b, key(from, ""))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		nk := append(key(to, ""), kv.suffix...)
		var merged []byte
		if string(kv.suffix) == patternVisits {
			a, errA := decodeVisits(kv.v)
			c, errC := decodeVisits(b.Get(nk))
			if errA != nil || errC != nil {
				return fmt.Errorf("node: move buying pattern: %w", ErrCorrupt)
			}
			merged = a.add(c).encode()
		} else {
			a, errA := decodePatternSums(kv.v)
			c, errC := decodePatternSums(b.Get(nk))
			if errA != nil || errC != nil {
				return fmt.Errorf("node: move buying pattern: %w", ErrCorrupt)
			}
			merged = patternSums{Qty: a.Qty + c.Qty, QtyMilli: a.QtyMilli + c.QtyMilli, Amount: a.Amount + c.Amount}.encode()
		}
		if err := b.Put(nk, merged); err != nil {
			return fmt.Errorf("node: move buying pattern: %w", err)
		}
		if err := b.Delete(kv.k); err != nil {
			return fmt.Errorf("node: move buying pattern: %w", err)
		}
	}
	return nil
}

// patternSums is a SKU's or category's value: binaryVersion, then the
// units, thousandths and money paid as signed varints.
type patternSums struct {
	Qty, QtyMilli, Amount int64
}

func (s patternSums) encode() []byte {
	v := []byte{binaryVersion}
	v = binary.AppendVarint(v, s.Qty)
	v = binary.AppendVarint(v, s.QtyMilli)
	return binary.AppendVarint(v, s.Amount)
}

// decodePatternSums decodes encode's bytes strictly; nil is zero.
func decodePatternSums(data []byte) (patternSums, error) {
	var s patternSums
	if data == nil {
		return s, nil
	}
	vals, err := decodeVarints(data, 3)
	if err != nil {
		return s, fmt.Errorf("node: decode pattern sums: %w", err)
	}
	return patternSums{Qty: vals[0], QtyMilli: vals[1], Amount: vals[2]}, nil
}

// visitSums is a member's visits value: binaryVersion, then the visits
// and the first and last visit days as signed varints. Seen (a visit was
// ever counted) is whether the value exists: a sale and its complete
// return leave visits 0 with the days kept.
type visitSums struct {
	Visits, First, Last int64
	Seen                bool
}

// add combines two members' visits (moving) or a visit into a member's.
func (v visitSums) add(o visitSums) visitSums {
	switch {
	case !o.Seen:
		return v
	case !v.Seen:
		return o
	}
	return visitSums{Visits: v.Visits + o.Visits, First: min(v.First, o.First), Last: max(v.Last, o.Last), Seen: true}
}

func (v visitSums) encode() []byte {
	b := []byte{binaryVersion}
	b = binary.AppendVarint(b, v.Visits)
	b = binary.AppendVarint(b, v.First)
	return binary.AppendVarint(b, v.Last)
}

// decodeVisits decodes encode's bytes strictly; nil is no visit.
func decodeVisits(data []byte) (visitSums, error) {
	if data == nil {
		return visitSums{}, nil
	}
	vals, err := decodeVarints(data, 3)
	if err != nil {
		return visitSums{}, fmt.Errorf("node: decode visits: %w", err)
	}
	return visitSums{Visits: vals[0], First: vals[1], Last: vals[2], Seen: true}, nil
}

// decodeVarints reads binaryVersion and exactly n signed varints.
func decodeVarints(data []byte, n int) ([]int64, error) {
	if len(data) == 0 || data[0] != binaryVersion {
		return nil, fmt.Errorf("unknown version: %w", ErrCorrupt)
	}
	rest := data[1:]
	out := make([]int64, n)
	for i := range out {
		v, k := binary.Varint(rest)
		if k <= 0 {
			return nil, fmt.Errorf("bad varint: %w", ErrCorrupt)
		}
		out[i], rest = v, rest[k:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("trailing bytes: %w", ErrCorrupt)
	}
	canonical := []byte{binaryVersion}
	for _, v := range out {
		canonical = binary.AppendVarint(canonical, v)
	}
	if !bytes.Equal(canonical, data) {
		return nil, fmt.Errorf("varint not in its shortest form: %w", ErrCorrupt)
	}
	return out, nil
}
