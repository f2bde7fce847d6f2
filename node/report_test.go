package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// The report tests: a fixed data set of two stores over three days (in
// the programme's zone, Asia/Kolkata, UTC+05:30) with exact figures per
// report, worked out by hand from the events below; order independence,
// idempotency and the rebuild against the live indexes.

var ist = time.FixedZone("IST", 5*3600+1800)

// at is a time on a June 2026 day in IST.
func at(day, hh, mm int) time.Time { return time.Date(2026, 6, day, hh, mm, 0, 0, ist) }

const (
	mA = "+919800000001"
	mB = "+919800000002"
	mC = "+919800000003"
)

// reportProgramme is testProgramme with attributes on its products.
func reportProgramme(t testing.TB, version string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(testProgramme(version, "off"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["catalogue"] = map[string]any{
		"products": []any{
			map[string]any{"sku": "BK1", "name": "Novel", "category": "books", "price": 45000,
				"attributes": map[string]any{"format": "paperback", "lang": "en"}},
			map[string]any{"sku": "PEN1", "name": "Pen", "category": "stationery", "price": 12000,
				"attributes": map[string]any{"colour": "blue", "lang": "en"}},
		},
		"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// evb builds one origin's events: each gets the next seq and an HLC at
// its time.
type evb struct {
	origin, store string
	seq           uint64
	out           []engine.Event
}

func (b *evb) add(ev engine.Event) {
	b.seq++
	ev.Origin, ev.Seq, ev.Store, ev.Terminal = b.origin, b.seq, b.store, "T1"
	ev.HLC = engine.HLC{Wall: ev.At.UnixNano(), Logical: uint32(b.seq)}
	ev.At = ev.At.UTC()
	b.out = append(b.out, ev)
}

func (b *evb) enrol(when time.Time, member, card, typ string) {
	b.add(engine.Event{Kind: engine.EventMemberEnrolled, Member: member, At: when,
		Enrolment: &engine.Enrolment{Profile: map[string]string{engine.FieldFirstName: "M"},
			Consents: map[string]bool{"programme_terms": true}, Cards: []engine.CardChange{{Number: card, Type: typ}},
			Groups: []string{}}})
}

func (b *evb) card(kind engine.EventKind, when time.Time, member, card, typ, reason string) {
	b.add(engine.Event{Kind: kind, Member: member, At: when, Card: &engine.CardChange{Number: card, Type: typ, Reason: reason}})
}

// sl is a sale line: sku, qty, qty_milli, gross, net, paid.
type sl struct {
	sku              string
	qty, milli       int64
	gross, net, paid engine.Money
	category         string
}

// sale appends a sale.completed; entries are kind → points (redeem
// negative).
func (b *evb) sale(when time.Time, receipt, member, version string, lines []sl, free []engine.FreeItem, entries map[engine.EntryKind]engine.Points) {
	ev := engine.Evaluation{BillDiscounts: []engine.Discount{}, FreeItems: free, Choices: []engine.Choice{},
		Applied: []string{}, CouponsUsed: []string{}, ProgrammeVersion: version}
	if ev.FreeItems == nil {
		ev.FreeItems = []engine.FreeItem{}
	}
	var spend engine.Money
	for i, l := range lines {
		ev.Lines = append(ev.Lines, engine.LineResult{Line: i + 1, SKU: l.sku, Category: l.category, Qty: l.qty, QtyMilli: l.milli,
			Gross: l.gross, Discounts: []engine.Discount{}, Net: l.net, Paid: l.paid})
		ev.Totals.Gross += l.gross
		ev.Totals.Net += l.net
		spend += l.paid
	}
	ev.Totals.Discount = ev.Totals.Gross - ev.Totals.Net
	s := &engine.SaleCompleted{ReceiptID: receipt, Terminal: "T1", ReceiptNo: receipt, Fingerprint: "f",
		ProgrammeVersion: version, Evaluation: ev}
	if member != "" {
		s.Spend = spend
		for _, k := range []engine.EntryKind{engine.EntryRedeem, engine.EntryEarn, engine.EntryBonus} {
			if p := entries[k]; p != 0 {
				s.Entries = append(s.Entries, engine.Entry{ID: receipt + "/" + string(k), At: when.UTC(), Store: b.store,
					Kind: k, Points: p, Ref: receipt})
			}
		}
	}
	b.add(engine.Event{Kind: engine.EventSaleCompleted, Member: member, At: when, Sale: s})
}

// ret appends a sale.returned of one line.
func (b *evb) ret(when time.Time, receipt, returnNo, member string, line int, qty int64, money engine.Money, clawback engine.Points) {
	id := receipt + "/" + returnNo
	r := &engine.SaleReturned{ReceiptID: receipt, ReturnNo: returnNo, ReturnID: id, Fingerprint: "f",
		Result: engine.ReturnResult{Lines: []engine.ReturnedLine{{Line: line, Qty: qty, Money: money, Earn: clawback}},
			Money: money, ClawedBack: clawback}, CouponsReleased: []string{}, Spend: -money}
	if clawback != 0 {
		r.Entries = []engine.Entry{{ID: id + "@" + b.origin + "/clawback", At: when.UTC(), Store: b.store,
			Kind: engine.EntryReturn, Points: -clawback, Ref: id}}
	}
	b.add(engine.Event{Kind: engine.EventSaleReturned, Member: member, At: when, Return: r})
}

// fixedEvents is the fixed data set: per origin, in seq order.
func fixedEvents() (s1, s2 []engine.Event) {
	a := &evb{origin: "S1", store: "S1"}
	a.enrol(at(1, 9, 0), mA, "CA", "gold")
	a.enrol(at(1, 9, 30), mB, "CB", "classic")
	a.sale(at(1, 10, 10), "S1-R1", mA, "v1", []sl{
		{sku: "BK1", qty: 2, gross: 90000, net: 90000, paid: 90000, category: "books"},
		{sku: "PEN1", qty: 1, gross: 12000, net: 11000, paid: 11000, category: "stationery"},
	}, []engine.FreeItem{{Campaign: "F1", SKU: "PEN1", Qty: 1}},
		map[engine.EntryKind]engine.Points{engine.EntryEarn: 95, engine.EntryBonus: 10})
	a.sale(at(1, 23, 50), "S1-R2", "", "v1", []sl{{sku: "BK1", qty: 1, gross: 45000, net: 45000, paid: 45000, category: "books"}}, nil, nil)
	a.sale(at(2, 0, 10), "S1-R3", mB, "v1", []sl{{sku: "PEN1", qty: 3, gross: 36000, net: 36000, paid: 36000, category: "stationery"}},
		nil, map[engine.EntryKind]engine.Points{engine.EntryEarn: 18})
	a.sale(at(2, 11, 0), "S1-R4", mA, "v1", []sl{{sku: "BK1", qty: 1, gross: 45000, net: 45000, paid: 44000, category: "books"}},
		nil, map[engine.EntryKind]engine.Points{engine.EntryRedeem: -40, engine.EntryEarn: 44})
	a.card(engine.EventCardBlocked, at(3, 9, 0), mB, "CB", "", "lost")
	a.card(engine.EventCardIssued, at(3, 9, 5), mB, "CB2", "gold", "")

	b := &evb{origin: "S2", store: "S2"}
	b.enrol(at(1, 10, 0), mC, "CC", "classic")
	b.sale(at(2, 12, 0), "S2-R5", mC, "v2", []sl{{sku: "X9", milli: 1500, gross: 7500, net: 7500, paid: 7500, category: "uncategorised"}},
		nil, map[engine.EntryKind]engine.Points{engine.EntryEarn: 3})
	b.ret(at(2, 12, 30), "S1-R1", "1", mA, 1, 1, 45000, 45)
	b.sale(at(3, 18, 0), "S2-R6", mC, "v1", []sl{{sku: "BK1", qty: 1, gross: 45000, net: 45000, paid: 45000, category: "books"}},
		nil, map[engine.EntryKind]engine.Points{engine.EntryEarn: 45})
	b.card(engine.EventCardBlocked, at(3, 19, 0), mC, "CC", "", "damaged")
	b.card(engine.EventCardUnblocked, at(3, 19, 30), mC, "CC", "", "")
	return a.out, b.out
}

func rawEvents(t testing.TB, evs []engine.Event) []engine.RawEvent {
	t.Helper()
	out := make([]engine.RawEvent, 0, len(evs))
	for _, ev := range evs {
		data, err := engine.EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, engine.RawEvent{Origin: ev.Origin, Seq: ev.Seq, Data: data})
	}
	return out
}

// openReportNode opens an HQ-like node with programme v1 loaded.
func openReportNode(t testing.TB) *Node {
	t.Helper()
	n, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "r.db"), Store: "HQ", Origin: "HQ", NoSync: true,
		Now: func() time.Time { return at(4, 9, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, reportProgramme(t, "v1")); err != nil {
		t.Fatal(err)
	}
	return n
}

// fixedNode applies the fixed data set in batches, in the given order.
func fixedNode(t testing.TB, s2First bool) *Node {
	t.Helper()
	n := openReportNode(t)
	s1, s2 := fixedEvents()
	batches := [][]engine.Event{s1, s2}
	if s2First {
		batches = [][]engine.Event{s2, s1}
	}
	for _, b := range batches {
		for _, ev := range b { // one event per batch: the order is the one given
			if _, err := n.ApplyEvents(ctx, rawEvents(t, []engine.Event{ev})); err != nil {
				t.Fatal(err)
			}
		}
	}
	return n
}

// run runs a report and returns its rows as CSV-like lines.
func run(t testing.TB, n *Node, name string, f ReportFilter) (ReportInfo, []string) {
	t.Helper()
	var rows []string
	info, err := n.RunReport(ctx, name, f, func(r []string) error {
		rows = append(rows, strings.Join(r, ","))
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("%s %+v: %v", name, f, err)
	}
	for _, r := range rows {
		if got := strings.Count(r, ",") + 1; got != len(info.Columns) {
			t.Fatalf("%s: row %q has %d columns, header %d", name, r, got, len(info.Columns))
		}
	}
	return info, rows
}

func TestReportsFixedDataSet(t *testing.T) {
	n := fixedNode(t, false)
	tests := []struct {
		name   string
		report string
		f      ReportFilter
		want   []string
	}{
		{"sales by store and day", "sales-vs-redemption", ReportFilter{}, []string{
			// store,day,sales,member_sales,gross,discount,net,paid,redeemed_value,earned,bonus,redeemed,returns,returned_money,clawed_back,refunded
			"S1,2026-06-01,2,1,147000,1000,146000,146000,0,95,10,0,0,0,0,0",
			"S1,2026-06-02,2,2,81000,0,81000,80000,1000,62,0,40,0,0,0,0",
			"S2,2026-06-02,1,1,7500,0,7500,7500,0,3,0,0,1,45000,45,0",
			"S2,2026-06-03,1,1,45000,0,45000,45000,0,45,0,0,0,0,0,0",
		}},
		{"sales of programme v1: the return follows its sale's version", "sales-vs-redemption", ReportFilter{ProgrammeVersion: "v1", Store: "S2"}, []string{
			"S2,2026-06-02,0,0,0,0,0,0,0,0,0,0,1,45000,45,0",
			"S2,2026-06-03,1,1,45000,0,45000,45000,0,45,0,0,0,0,0,0",
		}},
		{"edges inside slots: from 12:05 to 12:40", "sales-vs-redemption", ReportFilter{Store: "S2", From: at(2, 12, 5), To: at(2, 12, 40)}, []string{
			"S2,2026-06-02,0,0,0,0,0,0,0,0,0,0,1,45000,45,0",
		}},
		{"edges: from 12:00 to 12:30 excludes the return at 12:30", "sales-vs-redemption", ReportFilter{Store: "S2", From: at(2, 12, 0), To: at(2, 12, 30)}, []string{
			"S2,2026-06-02,1,1,7500,0,7500,7500,0,3,0,0,0,0,0,0",
		}},
		{"day boundary: 00:10 IST is the next day", "sales-vs-redemption", ReportFilter{Store: "S1", From: at(2, 0, 0), To: at(2, 1, 0)}, []string{
			"S1,2026-06-02,1,1,36000,0,36000,36000,0,18,0,0,0,0,0,0",
		}},
		{"card types", "card-types", ReportFilter{}, []string{
			"classic,2,1,1",
			"gold,2,2,0",
		}},
		{"card types at S2", "card-types", ReportFilter{Store: "S2"}, []string{"classic,1,1,0"}},
		{"card types issued on the 3rd", "card-types", ReportFilter{From: at(3, 0, 0), To: at(4, 0, 0)}, []string{"gold,1,1,0"}},
		{"card types detail", "card-types", ReportFilter{Detail: true}, []string{
			"CA,gold,+919800000001,S1,2026-06-01T09:00:00+05:30,active,2026-06-01T09:00:00+05:30,",
			"CB,classic,+919800000002,S1,2026-06-01T09:30:00+05:30,blocked,2026-06-03T09:00:00+05:30,lost",
			"CB2,gold,+919800000002,S1,2026-06-03T09:05:00+05:30,active,2026-06-03T09:05:00+05:30,",
			"CC,classic,+919800000003,S2,2026-06-01T10:00:00+05:30,active,2026-06-03T19:30:00+05:30,",
		}},
		{"card maintenance", "card-maintenance", ReportFilter{}, []string{
			"2026-06-01T09:00:00+05:30,S1,T1,+919800000001,CA,issue,gold,enrol",
			"2026-06-01T09:30:00+05:30,S1,T1,+919800000002,CB,issue,classic,enrol",
			"2026-06-01T10:00:00+05:30,S2,T1,+919800000003,CC,issue,classic,enrol",
			"2026-06-03T09:00:00+05:30,S1,T1,+919800000002,CB,block,classic,lost",
			"2026-06-03T09:05:00+05:30,S1,T1,+919800000002,CB2,issue,gold,",
			"2026-06-03T19:00:00+05:30,S2,T1,+919800000003,CC,block,classic,damaged",
			"2026-06-03T19:30:00+05:30,S2,T1,+919800000003,CC,unblock,classic,",
		}},
		{"card maintenance at S2 on the 3rd", "card-maintenance", ReportFilter{Store: "S2", From: at(3, 0, 0)}, []string{
			"2026-06-03T19:00:00+05:30,S2,T1,+919800000003,CC,block,classic,damaged",
			"2026-06-03T19:30:00+05:30,S2,T1,+919800000003,CC,unblock,classic,",
		}},
		{"card issue at S1", "card-issue", ReportFilter{Store: "S1"}, []string{
			"2026-06-01T09:00:00+05:30,S1,T1,+919800000001,CA,gold,enrol",
			"2026-06-01T09:30:00+05:30,S1,T1,+919800000002,CB,classic,enrol",
			"2026-06-03T09:05:00+05:30,S1,T1,+919800000002,CB2,gold,",
		}},
		{"point ledger summary", "point-ledger", ReportFilter{}, []string{
			// member,entries,opening,earn,bonus,redeem,return,adjust,expire,net,closing
			"+919800000001,5,0,139,10,-40,-45,0,0,64,64",
			"+919800000002,1,0,18,0,0,0,0,0,18,18",
			"+919800000003,2,0,48,0,0,0,0,0,48,48",
		}},
		{"point ledger at S1 from the 2nd: balances are every store's", "point-ledger", ReportFilter{Store: "S1", From: at(2, 0, 0)}, []string{
			"+919800000001,2,105,44,0,-40,0,0,0,4,64",
			"+919800000002,1,0,18,0,0,0,0,0,18,18",
		}},
		{"point ledger of one member up to the return", "point-ledger", ReportFilter{Member: mA, To: at(2, 12, 30)}, []string{
			"+919800000001,4,0,139,10,-40,0,0,0,109,109",
		}},
		{"point ledger detail of one member", "point-ledger", ReportFilter{Member: mA, Detail: true}, []string{
			"2026-06-01T10:10:00+05:30,+919800000001,S1-R1/bonus,S1,bonus,10,S1-R1,false",
			"2026-06-01T10:10:00+05:30,+919800000001,S1-R1/earn,S1,earn,95,S1-R1,false",
			"2026-06-02T11:00:00+05:30,+919800000001,S1-R4/earn,S1,earn,44,S1-R4,false",
			"2026-06-02T11:00:00+05:30,+919800000001,S1-R4/redeem,S1,redeem,-40,S1-R4,false",
			"2026-06-02T12:30:00+05:30,+919800000001,S1-R1/1@S2/clawback,S2,return,-45,S1-R1/1,false",
		}},
		{"point ledger detail at S2", "point-ledger", ReportFilter{Store: "S2", Detail: true}, []string{
			"2026-06-02T12:00:00+05:30,+919800000003,S2-R5/earn,S2,earn,3,S2-R5,false",
			"2026-06-02T12:30:00+05:30,+919800000001,S1-R1/1@S2/clawback,S2,return,-45,S1-R1/1,false",
			"2026-06-03T18:00:00+05:30,+919800000003,S2-R6/earn,S2,earn,45,S2-R6,false",
		}},
		{"statement from the 2nd", "statement", ReportFilter{Member: mA, From: at(2, 0, 0)}, []string{
			"2026-06-02T00:00:00+05:30,,,opening,,,105",
			"2026-06-02T11:00:00+05:30,S1-R4/earn,S1,earn,S1-R4,44,149",
			"2026-06-02T11:00:00+05:30,S1-R4/redeem,S1,redeem,S1-R4,-40,109",
			"2026-06-02T12:30:00+05:30,S1-R1/1@S2/clawback,S2,return,S1-R1/1,-45,64",
			",,,closing,,,64",
		}},
		{"statement at S2 keeps the whole balance", "statement", ReportFilter{Member: mA, Store: "S2"}, []string{
			",,,opening,,,0",
			"2026-06-02T12:30:00+05:30,S1-R1/1@S2/clawback,S2,return,S1-R1/1,-45,64",
			",,,closing,,,64",
		}},
		{"item sales", "item-sales", ReportFilter{}, []string{
			// sku,category,qty,qty_milli,gross,discount,net,paid,free_qty,returned_qty,returned_qty_milli,returned_money
			"BK1,books,5,0,225000,0,225000,224000,0,1,0,45000",
			"PEN1,stationery,4,0,48000,1000,47000,47000,1,0,0,0",
			"X9,,0,1500,7500,0,7500,7500,0,0,0,0",
		}},
		{"item sales at S1 on the 1st", "item-sales", ReportFilter{Store: "S1", From: at(1, 0, 0), To: at(2, 0, 0)}, []string{
			"BK1,books,3,0,135000,0,135000,135000,0,0,0,0",
			"PEN1,stationery,1,0,12000,1000,11000,11000,1,0,0,0",
		}},
		{"attribute sales", "attribute-sales", ReportFilter{}, []string{
			"colour,blue,1,4,0,48000,1000,47000,47000,1,0,0,0",
			"format,paperback,1,5,0,225000,0,225000,224000,0,1,0,45000",
			"lang,en,2,9,0,273000,1000,272000,271000,1,1,0,45000",
		}},
		{"card sales", "card-sales", ReportFilter{}, []string{
			// card,type,member,sales,gross,discount,net,paid,earned,bonus,redeemed,returns,returned_money
			"CA,gold,+919800000001,2,147000,1000,146000,145000,139,10,40,1,45000",
			"CB2,gold,+919800000002,1,36000,0,36000,36000,18,0,0,0,0",
			"CC,classic,+919800000003,2,52500,0,52500,52500,48,0,0,0,0",
		}},
		{"card sales of programme v1", "card-sales", ReportFilter{ProgrammeVersion: "v1", Store: "S2"}, []string{
			"CA,gold,+919800000001,0,0,0,0,0,0,0,0,1,45000",
			"CC,classic,+919800000003,1,45000,0,45000,45000,45,0,0,0,0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := run(t, n, tt.report, tt.f)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestReportsOrderAndRebuild: the indexes of the data set applied in two
// orders (a return before its sale, cards blocked after reissue) are
// byte-equal, and equal to what buildReportIndexes makes from the fold.
func TestReportsOrderAndRebuild(t *testing.T) {
	a, b := fixedNode(t, false), fixedNode(t, true)
	da, db := dumpIndexes(t, a), dumpIndexes(t, b)
	if d := diffDumps(da, db); d != "" {
		t.Fatalf("indexes differ by arrival order:\n%s", d)
	}
	if err := b.db.Update(buildReportIndexes); err != nil {
		t.Fatal(err)
	}
	if d := diffDumps(da, dumpIndexes(t, b)); d != "" {
		t.Fatalf("rebuilt indexes differ from live ones:\n%s", d)
	}
}

// TestReportsIdempotent: applying the events again, or a second event
// carrying an already held sale, return or entries, changes no index.
func TestReportsIdempotent(t *testing.T) {
	n := fixedNode(t, false)
	before := dumpIndexes(t, n)
	s1, s2 := fixedEvents()
	if _, err := n.ApplyEvents(ctx, rawEvents(t, append(s1, s2...))); err != nil {
		t.Fatal(err)
	}
	// S3 replays S1's first sale and S2's return under new identities.
	c := &evb{origin: "S3", store: "S3"}
	for _, ev := range append(s1, s2...) {
		if ev.Sale != nil && ev.Sale.ReceiptID == "S1-R1" || ev.Return != nil {
			c.add(ev)
		}
	}
	c.out[1].Origin = "S2" // a return is one per origin: keep S2's key, new seq
	c.out[1].Seq = uint64(len(s2) + 1)
	for _, ev := range c.out {
		if _, err := n.ApplyEvents(ctx, rawEvents(t, []engine.Event{ev})); err != nil {
			t.Fatal(err)
		}
	}
	if d := diffDumps(before, dumpIndexes(t, n)); d != "" {
		t.Fatalf("re-applying changed the indexes:\n%s", d)
	}
}

// TestReportsMigrateFromVersion4: a version 4 file (no report indexes)
// gets them built at Open.
func TestReportsMigrateFromVersion4(t *testing.T) {
	n := fixedNode(t, false)
	want := dumpIndexes(t, n)
	path := n.cfg.Path
	n.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range reportBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{0, 0, 0, 4})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	n2, err := Open(ctx, Config{Path: path, Store: "HQ", Origin: "HQ", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if d := diffDumps(want, dumpIndexes(t, n2)); d != "" {
		t.Fatalf("migrated indexes differ:\n%s", d)
	}
}

func TestReportFilterErrors(t *testing.T) {
	n := openReportNode(t)
	tests := []struct {
		report string
		f      ReportFilter
		want   error
	}{
		{"no-such-report", ReportFilter{}, ErrUnknownReport},
		{"statement", ReportFilter{}, ErrBadFilter},
		{"card-types", ReportFilter{Member: mA}, ErrBadFilter},
		{"point-ledger", ReportFilter{ProgrammeVersion: "v1"}, ErrBadFilter},
		{"sales-vs-redemption", ReportFilter{Detail: true}, ErrBadFilter},
		{"item-sales", ReportFilter{From: at(2, 0, 0), To: at(1, 0, 0)}, ErrBadFilter},
		{"item-sales", ReportFilter{Store: "S1\x00"}, ErrBadFilter},
	}
	for _, tt := range tests {
		_, err := n.RunReport(ctx, tt.report, tt.f, func([]string) error { return nil }, nil)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s %+v: got %v, want %v", tt.report, tt.f, err, tt.want)
		}
	}
}

// TestReportsListAndProgress: every listed report runs; detail changes
// the header; progress ends at the rows sent; an error from row stops
// the report; a cancelled context stops it.
func TestReportsListAndProgress(t *testing.T) {
	n := fixedNode(t, false)
	for _, info := range n.Reports() {
		f := ReportFilter{}
		if info.Name == "statement" {
			f.Member = mA
		}
		var done, total int64 = -2, -2
		rows := 0
		got, err := n.RunReport(ctx, info.Name, f, func([]string) error { rows++; return nil },
			func(d, t int64) { done, total = d, t })
		if err != nil {
			t.Fatalf("%s: %v", info.Name, err)
		}
		if !slices.Equal(got.Columns, info.Columns) {
			t.Errorf("%s: columns %v, listed %v", info.Name, got.Columns, info.Columns)
		}
		if done != int64(rows) || total != int64(rows) || rows == 0 {
			t.Errorf("%s: %d rows, last progress %d/%d", info.Name, rows, done, total)
		}
	}
	info, _ := run(t, n, "point-ledger", ReportFilter{Detail: true})
	if info.Columns[0] != "at" {
		t.Errorf("detail columns %v", info.Columns)
	}
	stop := errors.New("stop")
	for _, name := range []string{"card-maintenance", "sales-vs-redemption"} { // streamed, collected
		sent := 0
		_, err := n.RunReport(ctx, name, ReportFilter{}, func([]string) error { sent++; return stop }, nil)
		if !errors.Is(err, stop) || sent != 1 {
			t.Errorf("%s: row error: got %v after %d rows", name, err, sent)
		}
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := n.RunReport(c, "card-maintenance", ReportFilter{}, func([]string) error { return nil }, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// dumpIndexes reads every report index bucket.
func dumpIndexes(t testing.TB, n *Node) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		for _, b := range reportBuckets {
			err := tx.Bucket(b).ForEach(func(k, v []byte) error {
				out[fmt.Sprintf("%s %q", b, k)] = string(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffDumps(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only in first: "+k)
		} else if v != w {
			out = append(out, fmt.Sprintf("%s: %q vs %q", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only in second: "+k)
		}
	}
	slices.Sort(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// TestReportsRekeyHooks: the hooks for erasure leave no trace of the
// erased member's id or card number in the indexes and file the rows
// under the pseudonym (card rows dropped); unindexEntry undoes indexEntry.
func TestReportsRekeyHooks(t *testing.T) {
	n := fixedNode(t, false)
	before := dumpIndexes(t, n)
	s1, s2 := fixedEvents()
	const pseudonym = "erased-0001"
	err := n.db.Update(func(tx *bbolt.Tx) error {
		e := engine.Entry{ID: "x/expire", At: at(3, 0, 0).UTC(), Store: "S1", Kind: engine.EntryExpire, Points: -5}
		if err := indexEntry(tx, mB, e); err != nil {
			return err
		}
		if err := unindexEntry(tx, e); err != nil {
			return err
		}
		for _, ev := range append(s1, s2...) {
			if ev.Member != mA {
				continue
			}
			r := ev
			r.Member = pseudonym
			if ev.Enrolment != nil {
				enr := *ev.Enrolment
				enr.Cards = []engine.CardChange{{Number: "****A", Type: "gold"}}
				r.Enrolment = &enr
			}
			if err := reindexErasedEvent(tx, ev, r); err != nil {
				return err
			}
			for _, e := range engine.EventEntries(ev) {
				if err := reindexMovedEntry(tx, pseudonym, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := dumpIndexes(t, n)
	dropped := 0 // the erased member's card rows: a pseudonym holds no cards
	for k := range before {
		if _, ok := after[k]; !ok {
			dropped++
			if !strings.HasPrefix(k, "rpt_card") {
				t.Errorf("erasure dropped %s", k)
			}
		}
	}
	if dropped == 0 || len(after) != len(before)-dropped {
		t.Errorf("%d index keys before, %d after, %d dropped", len(before), len(after), dropped)
	}
	for k, v := range after {
		if strings.Contains(k+v, mA) || strings.Contains(k, `"CA\x00`) {
			t.Errorf("erased member still in %s = %q", k, v)
		}
	}
	_, got := run(t, n, "card-sales", ReportFilter{})
	want := []string{
		"CB2,gold,+919800000002,1,36000,0,36000,36000,18,0,0,0,0",
		"CC,classic,+919800000003,2,52500,0,52500,52500,48,0,0,0,0",
		",,erased-0001,2,147000,1000,146000,145000,139,10,40,1,45000",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("card-sales after erasure:\n%s", strings.Join(got, "\n"))
	}
	_, got = run(t, n, "card-types", ReportFilter{Detail: true})
	if len(got) != 3 || slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, pseudonym) }) {
		t.Errorf("card-types detail after erasure:\n%s", strings.Join(got, "\n"))
	}
}
