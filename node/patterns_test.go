package node

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

const (
	memberA = "+919800000001"
	memberB = "+919800000002"
	memberC = "+919800000003"
)

// patternOp is one step of a pattern case: a sale or a return on h.
type patternOp func(t *testing.T, h *harness)

// sell completes a sale of lines for member ("" anonymous) as receipt no.
func sell(no, member string, lines ...engine.Line) patternOp {
	return func(t *testing.T, h *harness) {
		t.Helper()
		req := SaleRequest{ReceiptNo: no, Basket: &engine.Basket{Lines: lines}}
		if member != "" {
			req.Member = mobile(member)
		}
		if _, err := h.CompleteSale(ctx, "T01", req); err != nil {
			t.Fatal(err)
		}
	}
}

// giveBack returns lines of the sale with receipt no.
func giveBack(no, returnNo string, lines ...engine.ReturnLine) patternOp {
	return func(t *testing.T, h *harness) {
		t.Helper()
		if _, err := h.Return(ctx, "T01", ReturnRequest{ReceiptID: receiptIDOf(t, h, no), ReturnNo: returnNo, Lines: lines}); err != nil {
			t.Fatal(err)
		}
	}
}

// voidSale returns what is left of the sale with receipt no.
func voidSale(no string) patternOp {
	return func(t *testing.T, h *harness) {
		t.Helper()
		if _, err := h.Void(ctx, "T01", VoidRequest{ReceiptID: receiptIDOf(t, h, no)}); err != nil {
			t.Fatal(err)
		}
	}
}

// nextDay moves the clock a day on.
func nextDay(_ *testing.T, h *harness) { h.clock.Advance(24 * time.Hour) }

// receiptIDOf finds the receipt id of receipt no at terminal T01.
func receiptIDOf(t *testing.T, h *harness, no string) string {
	t.Helper()
	var id string
	err := h.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketReceipts).ForEach(func(k, v []byte) error {
			var rec receiptRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			if rec.Sale.ReceiptNo == no {
				id = string(k)
			}
			return nil
		})
	})
	if err != nil || id == "" {
		t.Fatalf("receipt %s: %q, %v", no, id, err)
	}
	return id
}

func line(n int, sku string, qty int64, price engine.Money) engine.Line {
	return engine.Line{Line: n, SKU: sku, Qty: qty, UnitPrice: price}
}

// patternString renders a pattern as "visits first..last recency |
// categories | skus", each item key:qty/milli/amount.
func patternString(p *BuyingPattern) string {
	items := func(its []engine.PatternItem) string {
		var parts []string
		for _, it := range its {
			parts = append(parts, it.Key+":"+itoa(it.Qty)+"/"+itoa(it.QtyMilli)+"/"+itoa(int64(it.Amount)))
		}
		return strings.Join(parts, " ")
	}
	return itoa(p.Visits) + " " + p.FirstVisit + ".." + p.LastVisit + " " + itoa(p.RecencyDays) + " | " +
		items(p.Categories) + " | " + items(p.SKUs)
}

// TestBuyingPattern: sales add up per SKU and category; returns take
// their lines off and a whole return the visit; ranking is by units,
// thousandths, money, then name. Prices: BK1 (books) 45000, PEN1
// (stationery) 12000; RICE is not in the catalogue (uncategorised).
func TestBuyingPattern(t *testing.T) {
	tests := []struct {
		name string
		ops  []patternOp
		want string
	}{
		{"no visit", nil, "0 .. -1 |  | "},
		{"two sales on two days", []patternOp{
			sell("1", memberA, line(1, "BK1", 2, 45000), line(2, "PEN1", 3, 12000)), nextDay,
			sell("2", memberA, line(1, "BK1", 1, 45000)),
		}, "2 2026-06-03..2026-06-04 0 | books:3/0/135000 stationery:3/0/36000 | BK1:3/0/135000 PEN1:3/0/36000"},
		{"a partial return takes its lines off", []patternOp{
			sell("1", memberA, line(1, "BK1", 2, 45000), line(2, "PEN1", 3, 12000)),
			giveBack("1", "R1", engine.ReturnLine{Line: 2, Qty: 2}),
		}, "1 2026-06-03..2026-06-03 0 | books:2/0/90000 stationery:1/0/12000 | BK1:2/0/90000 PEN1:1/0/12000"},
		{"a whole return takes the visit off; what is all returned is left out", []patternOp{
			sell("1", memberA, line(1, "BK1", 1, 45000)), nextDay,
			sell("2", memberA, line(1, "PEN1", 4, 12000)),
			voidSale("2"),
		}, "1 2026-06-03..2026-06-04 0 | books:1/0/45000 | BK1:1/0/45000"},
		{"weighed lines count in thousandths, after units", []patternOp{
			sell("1", memberA, engine.Line{Line: 1, SKU: "RICE", QtyMilli: 1500, UnitPrice: 8000}, line(2, "PEN1", 1, 12000)),
		}, "1 2026-06-03..2026-06-03 0 | stationery:1/0/12000 uncategorised:0/1500/12000 | PEN1:1/0/12000 RICE:0/1500/12000"},
		{"equal units: more money first, then the name", []patternOp{
			sell("1", memberA, line(1, "PEN2", 1, 12000), line(2, "PEN1", 1, 12000), line(3, "BK1", 1, 45000)),
		}, "1 2026-06-03..2026-06-03 0 | books:1/0/45000 stationery:1/0/12000 uncategorised:1/0/12000 | BK1:1/0/45000 PEN1:1/0/12000 PEN2:1/0/12000"},
		{"anonymous sales and other members count nothing", []patternOp{
			sell("1", "", line(1, "BK1", 5, 45000)),
			sell("2", memberB, line(1, "BK1", 5, 45000)),
		}, "0 .. -1 |  | "},
		{"recency counts days to today", []patternOp{
			sell("1", memberA, line(1, "BK1", 1, 45000)), nextDay, nextDay, nextDay,
		}, "1 2026-06-03..2026-06-03 3 | books:1/0/45000 | BK1:1/0/45000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "off")
			h.enroll(t, "9800000001", "", "")
			h.enroll(t, "9800000002", "", "")
			for _, op := range tc.ops {
				op(t, h)
			}
			got, err := h.BuyingPattern(ctx, memberA)
			if err != nil {
				t.Fatal(err)
			}
			if s := patternString(got); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
	h := newHarness(t, "off")
	_, err := h.BuyingPattern(ctx, memberC)
	wantReason(t, err, ReasonMemberNotFound)
}

// TestBuyingPatternTopTen: at most MaxPatternItems of each.
func TestBuyingPatternTopTen(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "9800000001", "", "")
	var lines []engine.Line
	for i := range 12 {
		lines = append(lines, line(i+1, "X"+string(rune('A'+i)), int64(i+1), 1000))
	}
	sell("1", memberA, lines...)(t, h)
	got, err := h.BuyingPattern(ctx, memberA)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.SKUs) != MaxPatternItems || got.SKUs[0].Key != "XL" || got.SKUs[9].Key != "XC" || len(got.Categories) != 1 {
		t.Errorf("got %s", patternString(got))
	}
}

// dumpBucket renders a bucket's pairs in key order.
func dumpBucket(t testing.TB, n *Node, name []byte) string {
	t.Helper()
	var b strings.Builder
	err := n.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(name)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			b.WriteString(hex.EncodeToString(k) + "=" + hex.EncodeToString(v) + "\n")
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestBuyingPatternOrderIndependent: a node that receives a store's
// returns before the sales they return ends with the same index as the
// nodes that saw them in order, whatever the batches; a file without
// the index builds the same one; applying everything again changes
// nothing.
func TestBuyingPatternOrderIndependent(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	clock := &fakeClock{t: testStart}
	s1, s2, x := newPeer(t, "S1", clock, nil), newPeer(t, "S2", clock, nil), newPeer(t, "X", clock, nil)
	if _, err := s1.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"9800000001", "9800000002"} {
		if _, err := s1.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
			t.Fatal(err)
		}
	}
	var receipts []string
	for i, m := range []string{memberA, memberA, memberB} {
		rc, err := s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: itoa(int64(i)), Member: mobile(m),
			Basket: &engine.Basket{Lines: []engine.Line{line(1, "BK1", 3, 45000), line(2, "PEN1", 2, 12000)}}})
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, rc.ReceiptID)
		clock.Advance(time.Hour)
	}
	pull(t, rng, s1, s2)
	// Returns at S2: part of the first sale, all of the second.
	if _, err := s2.Return(ctx, "T01", ReturnRequest{ReceiptID: receipts[0], ReturnNo: "1",
		Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Void(ctx, "T01", VoidRequest{ReceiptID: receipts[1]}); err != nil {
		t.Fatal(err)
	}
	// X hears of S2's returns first, then of everything.
	s2Events, err := s2.EventsAfter(ctx, s2.Origin(), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.ApplyEvents(ctx, s2Events); err != nil {
		t.Fatal(err)
	}
	pull(t, rng, s2, x)
	pull(t, rng, s2, s1)
	want := dumpBucket(t, s1.Node, bucketPatterns)
	for _, p := range []*peer{s2, x} {
		if got := dumpBucket(t, p.Node, bucketPatterns); got != want {
			t.Errorf("%s index\n%s\nwant (S1)\n%s", p.Origin(), got, want)
		}
	}
	got, err := x.BuyingPattern(ctx, memberA)
	if err != nil {
		t.Fatal(err)
	}
	if s, w := patternString(got), "1 2026-06-03..2026-06-03 0 | books:2/0/90000 stationery:2/0/24000 | BK1:2/0/90000 PEN1:2/0/24000"; s != w {
		t.Errorf("A at X: %s, want %s", s, w)
	}
	// Everything again, from the start: nothing changes.
	for _, o := range []string{s1.Origin(), s2.Origin()} {
		evs, err := s1.EventsAfter(ctx, o, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if got := dumpBucket(t, x.Node, bucketPatterns); got != want {
		t.Errorf("after a replay:\n%s\nwant\n%s", got, want)
	}
	// Drop the index: the next look builds the same.
	if err := x.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketPatterns) }); err != nil {
		t.Fatal(err)
	}
	if _, err := x.BuyingPattern(ctx, memberA); err != nil {
		t.Fatal(err)
	}
	if got := dumpBucket(t, x.Node, bucketPatterns); got != want {
		t.Errorf("rebuilt:\n%s\nwant\n%s", got, want)
	}
}

// TestMovePatterns: an erased member's pattern adds into its pseudonym's.
func TestMovePatterns(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "9800000001", "", "")
	h.enroll(t, "9800000002", "", "")
	sell("1", memberA, line(1, "BK1", 2, 45000))(t, h)
	nextDay(t, h)
	sell("2", memberB, line(1, "BK1", 1, 45000), line(2, "PEN1", 1, 12000))(t, h)
	err := h.db.Update(func(tx *bbolt.Tx) error {
		if err := movePatterns(tx, memberB, memberA); err != nil {
			return err
		}
		return movePatterns(tx, memberB, memberA) // again: nothing left to move
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.BuyingPattern(ctx, memberA)
	if err != nil {
		t.Fatal(err)
	}
	if s, w := patternString(got), "2 2026-06-03..2026-06-04 0 | books:3/0/135000 stationery:1/0/12000 | BK1:3/0/135000 PEN1:1/0/12000"; s != w {
		t.Errorf("got %s, want %s", s, w)
	}
	if d := dumpBucket(t, h.Node, bucketPatterns); strings.Contains(d, hex.EncodeToString([]byte(memberB))) {
		t.Errorf("B's keys remain:\n%s", d)
	}
}

// TestPatternValuesStrict: values decode only in their exact form.
func TestPatternValuesStrict(t *testing.T) {
	good := patternSums{Qty: 3, QtyMilli: -1500, Amount: 135000}.encode()
	if s, err := decodePatternSums(good); err != nil || s != (patternSums{3, -1500, 135000}) {
		t.Fatalf("%+v, %v", s, err)
	}
	for _, bad := range [][]byte{{}, {2, 0, 0, 0}, {binaryVersion, 0, 0}, append(bytes.Clone(good), 0),
		{binaryVersion, 0x80, 0x00, 0, 0}} {
		if _, err := decodePatternSums(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
		if _, err := decodeVisits(bad); err == nil {
			t.Errorf("%x decoded as visits", bad)
		}
	}
}
