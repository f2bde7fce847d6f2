package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// The report indexes: derived data kept in the transaction that applies
// each event, so a report is a range scan over (store, time) or (member,
// time) and its summaries add up pre-aggregated counters instead of
// reading every ledger entry. Like the fold they depend only on the set
// of events held, never on the order they arrived in (returns met before
// their sale are re-attributed when the sale arrives, card rows follow
// the folded card registers), and applying an event again changes
// nothing. Schema version 5 added them; opening an older file builds them
// from the fold (buildReportIndexes). docs/reports.md describes the
// reports; this file describes the storage.

// reportSchemaVersion is the schema version that introduced the report
// indexes: opening a file of an older version builds them.
const reportSchemaVersion uint32 = 5

// reportSlot is the width of a counter slot. Counters are kept per store
// and quarter-hour (UTC) because every time zone in use today is offset
// from UTC by a whole number of quarter-hours: a day in any zone is a
// whole number of slots, so "by day" reports in the programme's zone are
// exact sums of slots. A range whose bounds fall inside a slot is made
// exact by reading the rows of the partial slots at its edges.
const reportSlot = 15 * time.Minute

// The index buckets. Row keys are store (length-prefixed) ‖ time
// (timeKey) ‖ id, so one store's rows in a time range are one cursor
// walk; slot keys are store ‖ slot (big-endian, sign flipped) ‖ group.
// Values are binary: binaryVersion, then a length-prefixed group and
// signed varints.
var (
	bucketRptSales     = []byte("rpt_sales")      // store ‖ at ‖ 's'/'r' id → group (programme version, member), salesWidth sums
	bucketRptSaleSlots = []byte("rpt_sale_slots") // store ‖ slot ‖ group (programme version) → rows, salesWidth sums
	bucketRptItems     = []byte("rpt_items")      // store ‖ at ‖ id → group (programme version, sku), itemsWidth sums
	bucketRptItemSlots = []byte("rpt_item_slots") // store ‖ slot ‖ group (programme version, sku) → rows, itemsWidth sums
	bucketRptEntries   = []byte("rpt_entries")    // entry store ‖ at ‖ entry id → group (member, kind), points
	bucketRptCards     = []byte("rpt_cards")      // issue store ‖ issued at ‖ card \x00 member → group (type), active, blocked
	bucketRptCardSlots = []byte("rpt_card_slots") // issue store ‖ slot ‖ group (type) → rows, active, blocked
	bucketRptCardState = []byte("rpt_card_state") // card \x00 member → cardRow: the card's row as last indexed
	bucketRptCardLog   = []byte("rpt_card_log")   // store ‖ card_log key → empty
	bucketRptReturns   = []byte("rpt_returns")    // receipt \x00 return_no \x00 origin → returnIndexRecord

	reportBuckets = [][]byte{bucketRptSales, bucketRptSaleSlots, bucketRptItems, bucketRptItemSlots,
		bucketRptEntries, bucketRptCards, bucketRptCardSlots, bucketRptCardState, bucketRptCardLog, bucketRptReturns}
)

// The sums a sales row carries (rpt_sales), in this order.
const (
	sSales         = iota // sales counted (1 for a sale row)
	sMemberSales          // sales with a member
	sGross                // money, minor units
	sDiscount             // gross − net
	sNet                  //
	sPaid                 // money paid: net − redeemed value
	sRedeemedValue        // money the redeemed points paid (net − paid)
	sEarned               // points of earn entries
	sBonus                // points of bonus entries
	sRedeemed             // points redeemed (positive)
	sReturns              // returns counted (1 for a return row)
	sReturnedMoney        // money paid back
	sClawedBack           // points taken back (positive)
	sRefunded             // redeemed points given back
	salesWidth
)

// The sums an item row carries (rpt_items), in this order.
const (
	iQty              = iota // units
	iQtyMilli                // thousandths, weighed lines
	iGross                   //
	iDiscount                // gross − net (item and bill level)
	iNet                     //
	iPaid                    //
	iFreeQty                 // free units given
	iReturnedQty             //
	iReturnedQtyMilli        //
	iReturnedMoney           //
	itemsWidth
)

// series is a family of rows, each at (store, time, id) with a group and
// a vector of sums, and optionally their per-slot totals. A row is
// immutable once added (the first add wins, so re-applying changes
// nothing); it changes only by remove then add, which keeps the slot
// totals exact.
type series struct {
	rows, slots []byte
	width       int
	// slotGroup projects a row's group to its slot counter's group;
	// nil is the identity.
	slotGroup func(group []byte) []byte
}

var (
	salesSeries   = series{rows: bucketRptSales, slots: bucketRptSaleSlots, width: salesWidth, slotGroup: firstPart}
	itemsSeries   = series{rows: bucketRptItems, slots: bucketRptItemSlots, width: itemsWidth}
	entriesSeries = series{rows: bucketRptEntries, width: 1}
	cardsSeries   = series{rows: bucketRptCards, slots: bucketRptCardSlots, width: 2}
)

// storePrefix is a store's length-prefixed key prefix.
func storePrefix(store string) []byte {
	p := binary.AppendUvarint(make([]byte, 0, len(store)+2), uint64(len(store)))
	return append(p, store...)
}

// nsKey is timeKey for unix nanoseconds.
func nsKey(ns int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ns)^(1<<63)) }

func rowKey(store string, ns int64, id []byte) []byte {
	k := append(storePrefix(store), nsKey(ns)...)
	return append(k, id...)
}

func slotOf(ns int64) int64 { return floorDiv(ns, int64(reportSlot)) }

func slotKey(store string, slot int64, group []byte) []byte {
	k := append(storePrefix(store), nsKey(slot)...)
	return append(k, group...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// parts encodes strings length-prefixed: ids may hold any byte but
// their order within a group does not matter.
func parts(ss ...string) []byte {
	var out []byte
	for _, s := range ss {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return out
}

// splitParts decodes parts.
func splitParts(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, fmt.Errorf("node: report group: %w", ErrCorrupt)
		}
		out = append(out, string(b[w:w+int(n)]))
		b = b[w+int(n):]
	}
	return out, nil
}

// firstPart is the group made of the first part of g.
func firstPart(g []byte) []byte {
	n, w := binary.Uvarint(g)
	if w <= 0 || uint64(len(g)-w) < n {
		return g
	}
	return g[:w+int(n)]
}

func encodeRow(group []byte, vec []int64) []byte {
	v := binary.AppendUvarint([]byte{binaryVersion}, uint64(len(group)))
	v = append(v, group...)
	for _, x := range vec {
		v = binary.AppendVarint(v, x)
	}
	return v
}

func decodeRow(v []byte, width int) ([]byte, []int64, error) {
	if len(v) == 0 || v[0] != binaryVersion {
		return nil, nil, fmt.Errorf("node: report row: %w", ErrCorrupt)
	}
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || uint64(len(v)-1-w) < n {
		return nil, nil, fmt.Errorf("node: report row: %w", ErrCorrupt)
	}
	group := v[1+w : 1+w+int(n)]
	vec, err := decodeVec(v[1+w+int(n):], width)
	return group, vec, err
}

func encodeVec(vec []int64) []byte {
	v := []byte{binaryVersion}
	for _, x := range vec {
		v = binary.AppendVarint(v, x)
	}
	return v
}

// decodeVec decodes width varints (the version byte already read).
func decodeVec(b []byte, width int) ([]int64, error) {
	vec := make([]int64, width)
	for i := range vec {
		x, w := binary.Varint(b)
		if w <= 0 {
			return nil, fmt.Errorf("node: report sums: %w", ErrCorrupt)
		}
		vec[i], b = x, b[w:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("node: report sums: trailing bytes: %w", ErrCorrupt)
	}
	return vec, nil
}

// add stores a row unless one is held at its key (then nothing changes)
// and adds it to its slot's totals.
func (s series) add(x ix, store string, at time.Time, id, group []byte, vec []int64) error {
	rows := x.b(s.rows)
	ns := at.UnixNano()
	k := rowKey(store, ns, id)
	if rows.Get(k) != nil {
		return nil
	}
	if err := rows.Put(k, encodeRow(group, vec)); err != nil {
		return fmt.Errorf("node: report index: %w", err)
	}
	return s.addSlot(x, store, ns, group, vec, 1)
}

// remove deletes a row, if held, and takes it out of its slot's totals.
func (s series) remove(x ix, store string, at time.Time, id []byte) error {
	rows := x.b(s.rows)
	ns := at.UnixNano()
	k := rowKey(store, ns, id)
	v := rows.Get(k)
	if v == nil {
		return nil
	}
	group, vec, err := decodeRow(v, s.width)
	if err != nil {
		return err
	}
	group = bytes.Clone(group) // v belongs to the page Delete rewrites
	if err := rows.Delete(k); err != nil {
		return fmt.Errorf("node: report index: %w", err)
	}
	return s.addSlot(x, store, ns, group, vec, -1)
}

// addSlot adds sign × (1 row, vec) to the slot counter of the row; a
// counter back at zero rows is deleted, so the counters depend only on
// the rows held, however they came and went.
func (s series) addSlot(x ix, store string, ns int64, group []byte, vec []int64, sign int64) error {
	if s.slots == nil {
		return nil
	}
	if s.slotGroup != nil {
		group = s.slotGroup(group)
	}
	b := x.b(s.slots)
	k := slotKey(store, slotOf(ns), group)
	sum := make([]int64, s.width+1)
	if v := b.Get(k); v != nil {
		if len(v) == 0 || v[0] != binaryVersion {
			return fmt.Errorf("node: report counter: %w", ErrCorrupt)
		}
		var err error
		if sum, err = decodeVec(v[1:], s.width+1); err != nil {
			return err
		}
	}
	sum[0] += sign
	for i, x := range vec {
		sum[i+1] += sign * x
	}
	if sum[0] == 0 {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("node: report counter: %w", err)
		}
		return nil
	}
	if err := b.Put(k, encodeVec(sum)); err != nil {
		return fmt.Errorf("node: report counter: %w", err)
	}
	return nil
}

// span is a report's time range in unix nanoseconds, from inclusive, to
// exclusive; an open bound is the extreme int64.
type span struct{ from, to int64 }

func newSpan(from, to time.Time) span {
	sp := span{from: math.MinInt64, to: math.MaxInt64}
	if !from.IsZero() {
		sp.from = from.UnixNano()
	}
	if !to.IsZero() {
		sp.to = to.UnixNano()
	}
	return sp
}

func (sp span) contains(ns int64) bool { return ns >= sp.from && ns < sp.to }

// visit receives a row (at its time, with its id) or a slot's totals (at
// the slot's start, rows counted in n, no id). id and group are valid
// only during the call.
type visit func(at, n int64, id, group []byte, vec []int64) error

// scan calls fn for what store holds within sp: whole slots from their
// counters, the partial slots at the edges row by row (a series without
// counters: every row).
func (s series) scan(tx *bbolt.Tx, store string, sp span, stop *stopper, fn visit) error {
	if sp.from >= sp.to {
		return nil
	}
	if s.slots == nil {
		return s.scanRows(tx, store, sp.from, sp.to, stop, fn)
	}
	q := int64(reportSlot)
	a, b := ceilDiv(sp.from, q), floorDiv(sp.to, q) // whole slots [a, b)
	if a >= b {
		return s.scanRows(tx, store, sp.from, sp.to, stop, fn)
	}
	if err := s.scanRows(tx, store, sp.from, a*q, stop, fn); err != nil {
		return err
	}
	if err := s.scanSlots(tx, store, a, b, stop, fn); err != nil {
		return err
	}
	return s.scanRows(tx, store, b*q, sp.to, stop, fn)
}

// scanRows visits the rows of store with from ≤ at < to.
func (s series) scanRows(tx *bbolt.Tx, store string, from, to int64, stop *stopper, fn visit) error {
	if from >= to {
		return nil
	}
	prefix := storePrefix(store)
	c := tx.Bucket(s.rows).Cursor()
	for k, v := c.Seek(append(bytes.Clone(prefix), nsKey(from)...)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := stop.tick(); err != nil {
			return err
		}
		rest := k[len(prefix):]
		if len(rest) < 8 {
			return fmt.Errorf("node: report row key: %w", ErrCorrupt)
		}
		ns := int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
		if ns >= to {
			break
		}
		group, vec, err := decodeRow(v, s.width)
		if err != nil {
			return err
		}
		if err := fn(ns, 1, rest[8:], group, vec); err != nil {
			return err
		}
	}
	return nil
}

// scanSlots visits the slot counters of store for slots a ≤ slot < b.
func (s series) scanSlots(tx *bbolt.Tx, store string, a, b int64, stop *stopper, fn visit) error {
	prefix := storePrefix(store)
	q := int64(reportSlot)
	c := tx.Bucket(s.slots).Cursor()
	for k, v := c.Seek(append(bytes.Clone(prefix), nsKey(a)...)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := stop.tick(); err != nil {
			return err
		}
		rest := k[len(prefix):]
		if len(rest) < 8 || len(v) == 0 || v[0] != binaryVersion {
			return fmt.Errorf("node: report counter key: %w", ErrCorrupt)
		}
		slot := int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
		if slot >= b {
			break
		}
		sum, err := decodeVec(v[1:], s.width+1)
		if err != nil {
			return err
		}
		if err := fn(slot*q, sum[0], nil, rest[8:], sum[1:]); err != nil {
			return err
		}
	}
	return nil
}

// stores lists the stores that have rows in the series, in key order,
// one cursor seek per store.
func (s series) stores(tx *bbolt.Tx) ([]string, error) {
	var out []string
	c := tx.Bucket(s.rows).Cursor()
	for k, _ := c.First(); k != nil; {
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n {
			return nil, fmt.Errorf("node: report row key: %w", ErrCorrupt)
		}
		out = append(out, string(k[w:w+int(n)]))
		end := prefixEnd(k[:w+int(n)])
		if end == nil {
			break
		}
		k, _ = c.Seek(end)
	}
	return out, nil
}

// prefixEnd is the first key after every key with prefix p (nil: none).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// The index hooks, one per place the fold writes (events.go).

// indexSale indexes a sale, once per receipt id like the receipts
// bucket: it must run before applySale stores the receipt.
func indexSale(tx *bbolt.Tx, ev engine.Event) error {
	if tx.Bucket(bucketReceipts).Get([]byte(ev.Sale.ReceiptID)) != nil {
		return nil
	}
	return indexSaleRecord(ix{tx: tx}, ev.Store, ev.At, ev.Member, ev.Sale)
}

// indexSaleRecord adds a sale's sales row and item rows, then attributes
// the returns of it that arrived first.
func indexSaleRecord(x ix, store string, at time.Time, member string, s *engine.SaleCompleted) error {
	version := s.ProgrammeVersion
	vec := make([]int64, salesWidth)
	ev := &s.Evaluation
	vec[sSales] = 1
	if member != "" {
		vec[sMemberSales] = 1
	}
	vec[sGross], vec[sDiscount], vec[sNet] = int64(ev.Totals.Gross), int64(ev.Totals.Gross-ev.Totals.Net), int64(ev.Totals.Net)
	for _, l := range ev.Lines {
		vec[sPaid] += int64(l.Paid)
	}
	vec[sRedeemedValue] = vec[sNet] - vec[sPaid]
	if member != "" {
		for _, e := range s.Entries {
			switch e.Kind {
			case engine.EntryEarn:
				vec[sEarned] += int64(e.Points)
			case engine.EntryBonus:
				vec[sBonus] += int64(e.Points)
			case engine.EntryRedeem:
				vec[sRedeemed] -= int64(e.Points)
			}
		}
	}
	id := append([]byte{'s'}, s.ReceiptID...)
	if err := salesSeries.add(x, store, at, id, parts(version, member), vec); err != nil {
		return err
	}
	for i, l := range ev.Lines {
		iv := make([]int64, itemsWidth)
		iv[iQty], iv[iQtyMilli] = l.Qty, l.QtyMilli
		iv[iGross], iv[iDiscount], iv[iNet], iv[iPaid] = int64(l.Gross), int64(l.Gross-l.Net), int64(l.Net), int64(l.Paid)
		if err := itemsSeries.add(x, store, at, itemID('l', s.ReceiptID, i), parts(version, l.SKU), iv); err != nil {
			return err
		}
	}
	for i, f := range ev.FreeItems {
		iv := make([]int64, itemsWidth)
		iv[iFreeQty] = f.Qty
		if err := itemsSeries.add(x, store, at, itemID('f', s.ReceiptID, i), parts(version, f.SKU), iv); err != nil {
			return err
		}
	}
	if x.staged != nil {
		return nil // a rebuild indexes every sale before the returns
	}
	// Returns of this sale indexed before it arrived.
	prefix := key(s.ReceiptID, "")
	c := x.tx.Bucket(bucketRptReturns).Cursor()
	var pending [][]byte
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		pending = append(pending, bytes.Clone(k))
	}
	for _, k := range pending {
		var rec returnIndexRecord
		if _, err := ixGetJSON(x.b(bucketRptReturns), k, &rec); err != nil {
			return err
		}
		if !rec.Attributed {
			if err := attributeReturn(x, k, &rec, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// itemID is kind ‖ receipt id \x00 index.
func itemID(kind byte, receipt string, i int) []byte {
	id := append([]byte{kind}, receipt...)
	return strconv.AppendInt(append(id, 0), int64(i), 10)
}

// returnIndexRecord is what the indexes need of a return to attribute it
// to its sale's programme version and SKUs once the sale is held.
type returnIndexRecord struct {
	V          int                   `json:"v"`
	Store      string                `json:"store"`
	At         time.Time             `json:"at"`
	Member     string                `json:"member"`
	Lines      []engine.ReturnedLine `json:"lines"`
	Sums       []int64               `json:"sums"` // its sales row, less the programme version
	Attributed bool                  `json:"attributed"`
}

func (r returnIndexRecord) version() int { return r.V }

// indexReturn indexes a return, once per (receipt, return no, origin)
// like the returns bucket: it must run before applyReturn stores it.
func indexReturn(tx *bbolt.Tx, ev engine.Event) error {
	r := ev.Return
	k := key(r.ReceiptID, r.ReturnNo, ev.Origin)
	if tx.Bucket(bucketReturns).Get(k) != nil || tx.Bucket(bucketRptReturns).Get(k) != nil {
		return nil
	}
	return indexReturnRecord(ix{tx: tx}, k, ev.Store, ev.At, ev.Member, r)
}

// indexReturnRecord adds a return's rows: attributed to its sale when the
// sale is held, else under no programme version and no SKU until it is.
func indexReturnRecord(x ix, k []byte, store string, at time.Time, member string, r *engine.SaleReturned) error {
	vec := make([]int64, salesWidth)
	vec[sReturns], vec[sReturnedMoney] = 1, int64(r.Result.Money)
	for _, e := range r.Entries {
		if e.Points < 0 {
			vec[sClawedBack] -= int64(e.Points)
		} else {
			vec[sRefunded] += int64(e.Points)
		}
	}
	rec := returnIndexRecord{V: recordVersion, Store: store, At: at, Member: member, Lines: nonNil(r.Result.Lines), Sums: vec}
	var sale receiptRecord
	found, err := ixGetJSON(x.b(bucketReceipts), []byte(r.ReceiptID), &sale)
	if err != nil {
		return err
	}
	if found {
		return attributeReturn(x, k, &rec, &sale.Sale)
	}
	if err := salesSeries.add(x, store, at, append([]byte{'r'}, k...), parts("", member), vec); err != nil {
		return err
	}
	iv := make([]int64, itemsWidth)
	for _, l := range rec.Lines {
		iv[iReturnedQty] += l.Qty
		iv[iReturnedQtyMilli] += l.QtyMilli
		iv[iReturnedMoney] += int64(l.Money)
	}
	if err := itemsSeries.add(x, store, at, append([]byte{'u'}, k...), parts("", ""), iv); err != nil {
		return err
	}
	return ixPutJSON(x.b(bucketRptReturns), k, rec)
}

// attributeReturn moves a return's rows to its sale's programme version
// and the SKUs of the lines it returned.
func attributeReturn(x ix, k []byte, rec *returnIndexRecord, sale *engine.SaleCompleted) error {
	salesID := append([]byte{'r'}, k...)
	if err := salesSeries.remove(x, rec.Store, rec.At, salesID); err != nil {
		return err
	}
	if err := itemsSeries.remove(x, rec.Store, rec.At, append([]byte{'u'}, k...)); err != nil {
		return err
	}
	version := sale.ProgrammeVersion
	if err := salesSeries.add(x, rec.Store, rec.At, salesID, parts(version, rec.Member), rec.Sums); err != nil {
		return err
	}
	for i, l := range rec.Lines {
		sku := ""
		for _, sl := range sale.Evaluation.Lines {
			if sl.Line == l.Line {
				sku = sl.SKU
				break
			}
		}
		iv := make([]int64, itemsWidth)
		iv[iReturnedQty], iv[iReturnedQtyMilli], iv[iReturnedMoney] = l.Qty, l.QtyMilli, int64(l.Money)
		id := strconv.AppendInt(append(append([]byte{'r'}, k...), 0), int64(i), 10)
		if err := itemsSeries.add(x, rec.Store, rec.At, id, parts(version, sku), iv); err != nil {
			return err
		}
	}
	rec.Attributed = true
	return ixPutJSON(x.b(bucketRptReturns), k, *rec)
}

// indexEntry indexes a ledger entry the fold has just added.
func indexEntry(tx *bbolt.Tx, member string, e engine.Entry) error {
	return indexEntryIn(ix{tx: tx}, member, e)
}

func indexEntryIn(x ix, member string, e engine.Entry) error {
	return entriesSeries.add(x, e.Store, e.At, []byte(e.ID), parts(member, string(e.Kind)), []int64{int64(e.Points)})
}

// indexCardLog indexes a card log entry by its store.
func indexCardLog(tx *bbolt.Tx, store string, logKey []byte) error {
	return indexCardLogIn(ix{tx: tx}, store, logKey)
}

func indexCardLogIn(x ix, store string, logKey []byte) error {
	if err := x.b(bucketRptCardLog).Put(append(storePrefix(store), logKey...), nil); err != nil {
		return fmt.Errorf("node: report index: %w", err)
	}
	return nil
}

// cardRow is a held card as the card reports show it: its current issue
// and status registers and the store of the event that set the issue
// register.
type cardRow struct {
	V           int       `json:"v"`
	Store       string    `json:"store"`
	IssuedAt    time.Time `json:"issued_at"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	StatusAt    time.Time `json:"status_at"`
	BlockReason string    `json:"block_reason,omitempty"`
}

func (r cardRow) version() int { return r.V }

// indexCards brings the card rows of the cards ev names in line with the
// member's folded state (after ev): it runs whenever an event changed the
// state, so the rows follow the last-writer-wins registers whatever the
// arrival order.
func indexCards(tx *bbolt.Tx, ev engine.Event, st *engine.MemberState) error {
	var numbers []string
	switch {
	case ev.Enrolment != nil:
		for _, c := range ev.Enrolment.Cards {
			numbers = append(numbers, c.Number)
		}
	case ev.Card != nil:
		numbers = append(numbers, ev.Card.Number)
	}
	stamp := ev.Stamp()
	for _, num := range numbers {
		cs, ok := st.Cards[num]
		if !ok || !cs.Held() {
			continue
		}
		store := ""
		if cs.Issued == stamp {
			store = ev.Store
		}
		if err := putCardRow(ix{tx: tx}, st.ID, cs, store); err != nil {
			return err
		}
	}
	return nil
}

// putCardRow writes a held card's row; store is the issuing event's
// store, or "" to keep the one indexed before.
func putCardRow(x ix, member string, cs engine.CardState, store string) error {
	sb := x.b(bucketRptCardState)
	id := key(cs.Number, member)
	var old cardRow
	found, err := ixGetJSON(sb, id, &old)
	if err != nil {
		return err
	}
	if store == "" {
		store = old.Store
	}
	row := cardRow{V: recordVersion, Store: store, IssuedAt: cs.IssuedAt, Type: cs.Type, Status: cs.Status,
		StatusAt: cs.StatusAt, BlockReason: cs.BlockReason}
	if found {
		if old.Store == row.Store && old.IssuedAt.Equal(row.IssuedAt) && old.Type == row.Type && old.Status == row.Status &&
			old.StatusAt.Equal(row.StatusAt) && old.BlockReason == row.BlockReason {
			return nil
		}
		if err := cardsSeries.remove(x, old.Store, old.IssuedAt, id); err != nil {
			return err
		}
	}
	vec := []int64{0, 0}
	if row.Status == engine.CardBlocked {
		vec[1] = 1
	} else {
		vec[0] = 1
	}
	if err := cardsSeries.add(x, row.Store, row.IssuedAt, id, parts(row.Type), vec); err != nil {
		return err
	}
	return ixPutJSON(sb, id, row)
}

// migrateReportIndexes builds the report indexes of a file older than
// reportSchemaVersion (from the fold, in the Open transaction); newer
// files have them already.
func migrateReportIndexes(tx *bbolt.Tx, from uint32) error {
	if from >= reportSchemaVersion {
		return nil
	}
	return buildReportIndexes(tx)
}

// ix is where the index code reads and writes its buckets: the
// transaction's, or, for a rebuild, the report buckets staged in memory
// (the fold's are read from the transaction either way).
type ix struct {
	tx     *bbolt.Tx
	staged map[string]*memBucket // nil: write to tx
}

// ixBucket is what the index code needs of a bucket.
type ixBucket interface {
	Get(k []byte) []byte
	Put(k, v []byte) error
	Delete(k []byte) error
}

func (x ix) b(name []byte) ixBucket {
	if m := x.staged[string(name)]; m != nil {
		return m
	}
	return x.tx.Bucket(name)
}

// memBucket is a report bucket staged in memory.
type memBucket struct{ m map[string][]byte }

func (b *memBucket) Get(k []byte) []byte { return b.m[string(k)] }
func (b *memBucket) Put(k, v []byte) error {
	b.m[string(k)] = append([]byte{}, v...) // never nil: Get tells present from absent
	return nil
}
func (b *memBucket) Delete(k []byte) error { delete(b.m, string(k)); return nil }

func ixGetJSON(b ixBucket, k []byte, rec record) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	return true, decodeJSON(data, rec)
}

func ixPutJSON(b ixBucket, k []byte, rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("node: encode %T: %w", rec, err)
	}
	return b.Put(k, data)
}

// buildReportIndexes (re)builds every report index from the fold: the
// ledger, the receipts, the returns in the event log, the card log and
// the members. It yields what applying the events one by one yields. The
// indexes are staged in memory and written in key order: bbolt splits
// pages only at commit, so one transaction of out-of-order puts into
// empty buckets would grow a single page node quadratically. (The
// staging holds the whole indexes: a few GB for 10 million entries.)
func buildReportIndexes(tx *bbolt.Tx) error {
	x := ix{tx: tx, staged: map[string]*memBucket{}}
	for _, name := range reportBuckets {
		x.staged[string(name)] = &memBucket{m: map[string][]byte{}}
	}
	err := tx.Bucket(bucketLedger).ForEach(func(k, v []byte) error {
		var rec ledgerRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		member, _, _ := bytes.Cut(k, []byte{0})
		return indexEntryIn(x, string(member), rec.Entry)
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketReceipts).ForEach(func(_, v []byte) error {
		var rec receiptRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		return indexSaleRecord(x, rec.Store, rec.At, rec.Member, &rec.Sale)
	})
	if err != nil {
		return err
	}
	if err := rebuildReturns(x); err != nil {
		return err
	}
	if err := rebuildCards(x); err != nil {
		return err
	}
	for _, name := range reportBuckets {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return fmt.Errorf("node: rebuild report index %s: %w", name, err)
			}
		}
		b, err := tx.CreateBucket(name)
		if err != nil {
			return fmt.Errorf("node: rebuild report index %s: %w", name, err)
		}
		m := x.staged[string(name)].m
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := b.Put([]byte(k), m[k]); err != nil {
				return fmt.Errorf("node: rebuild report index %s: %w", name, err)
			}
			delete(m, k)
		}
	}
	return nil
}

// rebuildReturns indexes the returns of the event log: the returns
// bucket does not keep a return's store. Events are read in (origin, seq)
// order, the order the fold met them in, so of two events for one return
// key (always of one origin) the first is indexed, as applyReturn kept it.
func rebuildReturns(x ix) error {
	marker := []byte(`"` + string(engine.EventSaleReturned) + `"`)
	return x.tx.Bucket(bucketEvents).ForEach(func(_, v []byte) error {
		if !bytes.Contains(v, marker) {
			return nil
		}
		ev, err := engine.DecodeEvent(v)
		if err != nil {
			return fmt.Errorf("node: rebuild report index: %w", err)
		}
		if ev.Kind != engine.EventSaleReturned {
			return nil
		}
		k := key(ev.Return.ReceiptID, ev.Return.ReturnNo, ev.Origin)
		if x.b(bucketRptReturns).Get(k) != nil {
			return nil
		}
		return indexReturnRecord(x, k, ev.Store, ev.At, ev.Member, ev.Return)
	})
}

// rebuildCards indexes the card log and the held cards. A card's issuing
// store is the store of the log entry of the event that won its issue
// register (same origin, same time).
func rebuildCards(x ix) error {
	type pending struct {
		member string
		cs     engine.CardState
		store  string
	}
	var rows []pending
	var cur *memberRecord
	err := x.tx.Bucket(bucketCardLog).ForEach(func(k, v []byte) error {
		var rec cardLogRecord
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		if err := indexCardLogIn(x, rec.Store, k); err != nil {
			return err
		}
		if rec.Action != "issue" {
			return nil
		}
		// key: at (8) \x00 origin \x00 seq (8) \x00 i
		if len(k) < 9 {
			return fmt.Errorf("node: card log key: %w", ErrCorrupt)
		}
		origin, _, _ := bytes.Cut(k[9:], []byte{0})
		if cur == nil || cur.State.ID != rec.Member {
			var err error
			if cur, _, err = loadMember(x.tx, rec.Member); err != nil {
				return err
			}
		}
		cs, ok := cur.State.Cards[rec.Card]
		if ok && cs.Held() && cs.Issued.Origin == string(origin) && cs.IssuedAt.Equal(rec.At) {
			rows = append(rows, pending{rec.Member, cs, rec.Store})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range rows {
		if err := putCardRow(x, p.member, p.cs, p.store); err != nil {
			return err
		}
	}
	return nil
}
