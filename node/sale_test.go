package node

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/patron/patron/engine"
)

// TestSeedCase replays the points case of shared/acceptance/seed-cases.json.
func TestSeedCase(t *testing.T) {
	h := newHarness(t, "off")
	m, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: "+919800000001", FirstName: "Asha", LastName: "Rao",
		Card:     &CardRequest{Number: "GOLD-0001", Type: "gold"},
		Consents: map[string]bool{"sms_marketing": true, "programme_terms": true}})
	if err != nil {
		t.Fatal(err)
	}
	if m.MemberID != "+919800000001" || m.Points.Balance != 0 {
		t.Fatalf("enrol: %s", mustJSON(t, m))
	}
	basket := &engine.Basket{Lines: []engine.Line{
		{Line: 1, SKU: "BK1", Qty: 1, UnitPrice: 45000}, {Line: 2, SKU: "PEN1", Qty: 1, UnitPrice: 12000}}}
	sale1 := SaleRequest{ReceiptNo: "0001", Member: &Identifier{Card: "GOLD-0001"}, Basket: basket,
		Tenders: []Tender{{Type: "cash", Amount: 57000}}}
	steps := []struct {
		name string
		req  SaleRequest
		want ReceiptPoints
	}{
		{"earn", sale1, ReceiptPoints{Earned: 76, Balance: 76}},
		{"replay", sale1, ReceiptPoints{Earned: 76, Balance: 76}},
		{"redeem", SaleRequest{ReceiptNo: "0002", Member: mobile("+919800000001"), Basket: basket,
			Redeem:  &RedeemRequest{Points: 40},
			Tenders: []Tender{{Type: "points", Amount: 1000}, {Type: "cash", Amount: 56000}}},
			ReceiptPoints{Earned: 74, Redeemed: 40, Balance: 110}},
	}
	for _, s := range steps {
		rc, err := h.CompleteSale(ctx, "T01", s.req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if rc.Points != s.want {
			t.Errorf("%s: got %+v, want %+v", s.name, rc.Points, s.want)
		}
	}
	ret, err := h.Return(ctx, "T01", ReturnRequest{ReceiptID: "S001-T01-0002", ReturnNo: "R-0001",
		Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ReturnPoints{ClawedBack: 66, Refunded: 31, Balance: 75}); ret.Points != want {
		t.Errorf("return points %+v, want %+v", ret.Points, want)
	}
	if want := (Refund{Money: 44225, Points: 31}); ret.Refund != want {
		t.Errorf("refund %+v, want %+v", ret.Refund, want)
	}
	_, err = h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "0003", Member: mobile("+919800000001"),
		Basket:  &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "PEN1", Qty: 1, UnitPrice: 12000}}},
		Redeem:  &RedeemRequest{Points: 480},
		Tenders: []Tender{{Type: "points", Amount: 12000}}})
	wantReason(t, err, engine.ReasonInsufficientPoints)
	h.checkFold(t, "+919800000001")
}

func TestSaleReplayAndConflict(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	req := SaleRequest{ReceiptNo: "0001", Member: mobile("+919800000001"), Basket: books(2, 10000),
		Tenders: []Tender{{Type: "cash", Amount: 20000}}}
	first, err := h.CompleteSale(ctx, "T01", req)
	if err != nil {
		t.Fatal(err)
	}
	if !has(first.ReceiptText, "Points earned: 20") || !has(first.ReceiptText, "Points balance: 20") ||
		first.ReceiptID != "S001-T01-0001" || first.ProgrammeVersion != "test-1" {
		t.Errorf("receipt %s", mustJSON(t, first))
	}
	// State changes between the sale and its retry: the retry still gets
	// the stored answer, byte for byte.
	h.clock.Advance(3600e9)
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "0002", Member: mobile("+919800000001"),
		Basket: books(1, 10000)}); err != nil {
		t.Fatal(err)
	}
	again, err := h.CompleteSale(ctx, "T01", req)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, first), mustJSON(t, again); a != b {
		t.Errorf("replay differs:\n%s\n%s", a, b)
	}
	// The same receipt number on another terminal is another receipt.
	if _, err := h.CompleteSale(ctx, "T02", req); err != nil {
		t.Errorf("other terminal: %v", err)
	}
	conflicting := req
	conflicting.Basket = books(3, 10000)
	conflicting.Tenders = nil
	_, err = h.CompleteSale(ctx, "T01", conflicting)
	wantReason(t, err, ReasonReceiptConflict)
	h.checkFold(t, "+919800000001")
}

func TestSaleChecks(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	tests := []struct {
		name   string
		req    SaleRequest
		reason string
		field  string
	}{
		{"no receipt_no", SaleRequest{Basket: books(1, 100)}, ReasonInvalidParams, "receipt_no"},
		{"long receipt_no", SaleRequest{ReceiptNo: fmt.Sprintf("%065d", 1), Basket: books(1, 100)}, ReasonInvalidParams, "receipt_no"},
		{"no basket", SaleRequest{ReceiptNo: "1"}, ReasonInvalidParams, "basket"},
		{"unknown member", SaleRequest{ReceiptNo: "1", Basket: books(1, 100), Member: mobile("+919800000009")}, ReasonMemberNotFound, ""},
		{"unknown coupon", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Coupons: []string{"NOPE"}}, ReasonCouponInvalid, ""},
		{"expect differs", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Expect: &Expect{Net: ptr(engine.Money(9999))}}, ReasonEvaluationChanged, ""},
		{"tenders short", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Tenders: []Tender{{Type: "cash", Amount: 9000}}}, ReasonInvalidParams, "tenders"},
		{"points tender without redeem", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Member: mobile("+919800000001"),
			Tenders: []Tender{{Type: "points", Amount: 2500}, {Type: "cash", Amount: 7500}}}, ReasonInvalidParams, "tenders"},
		{"redeem without member", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Redeem: &RedeemRequest{Points: 1}}, ReasonInvalidParams, "member"},
		{"insufficient", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Member: mobile("+919800000001"), Redeem: &RedeemRequest{Points: 1}}, engine.ReasonInsufficientPoints, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.CompleteSale(ctx, "T01", tt.req)
			r := wantReason(t, err, tt.reason)
			if r.Field != tt.field {
				t.Errorf("got field %q, want %q", r.Field, tt.field)
			}
			if tt.reason == ReasonEvaluationChanged {
				if ev, ok := r.Details["evaluation"].(*engine.Evaluation); !ok || ev.Totals.Net != 10000 {
					t.Errorf("evaluation_changed data: %v", r.Details)
				}
			}
		})
	}
	// Nothing refused was recorded: receipt "1" is still free.
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100)}); err != nil {
		t.Errorf("anonymous sale: %v", err)
	}
}

// TestConcurrentRedeem: 20 tills redeem 100 points each from a balance of
// 1000 at once; exactly 10 succeed and the balance never goes negative.
func TestConcurrentRedeem(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "CL-1", "classic")
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "seed", Basket: books(1, 1000000), Member: mobile("+919800000001")})
	if err != nil || rc.Points.Balance != 1000 {
		t.Fatalf("seed sale: %v %+v", err, rc)
	}
	const tills = 20
	var wg sync.WaitGroup
	results := make([]error, tills)
	for i := range tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = h.CompleteSale(ctx, fmt.Sprintf("T%02d", i), SaleRequest{ReceiptNo: "r",
				Member: mobile("+919800000001"), Basket: books(1, 2500), Redeem: &RedeemRequest{Points: 100},
				Tenders: []Tender{{Type: "points", Amount: 2500}}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		} else {
			wantReason(t, err, engine.ReasonInsufficientPoints)
		}
	}
	if ok != 10 {
		t.Errorf("%d redemptions succeeded, want 10", ok)
	}
	if bal := h.checkFold(t, "+919800000001"); bal != 0 {
		t.Errorf("balance %d, want 0", bal)
	}
}

func TestReturnPieceByPiece(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	// 3 × Rs 100 of books: 30 points, no redemption.
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(3, 10000), Member: mobile("+919800000001")})
	if err != nil {
		t.Fatal(err)
	}
	var clawed engine.Points
	var money engine.Money
	for i := 1; i <= 3; i++ {
		req := ReturnRequest{ReceiptID: rc.ReceiptID, ReturnNo: fmt.Sprintf("R%d", i), Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}}
		ret, err := h.Return(ctx, "T01", req)
		if err != nil {
			t.Fatalf("return %d: %v", i, err)
		}
		again, err := h.Return(ctx, "T01", req)
		if err != nil || mustJSON(t, again) != mustJSON(t, ret) {
			t.Fatalf("return %d replay: %v %s", i, err, mustJSON(t, again))
		}
		clawed += ret.Points.ClawedBack
		money += ret.Refund.Money
		if ret.Complete != (i == 3) {
			t.Errorf("return %d complete = %v", i, ret.Complete)
		}
	}
	if clawed != 30 || money != 30000 {
		t.Errorf("returned %d points and %d money, want 30 and 30000", clawed, money)
	}
	_, err = h.Return(ctx, "T01", ReturnRequest{ReceiptID: rc.ReceiptID, ReturnNo: "R1", Lines: []engine.ReturnLine{{Line: 1, Qty: 2}}})
	wantReason(t, err, ReasonReceiptConflict)
	_, err = h.Return(ctx, "T01", ReturnRequest{ReceiptID: rc.ReceiptID, ReturnNo: "R4", Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}})
	wantReason(t, err, ReasonInvalidParams)
	_, err = h.Return(ctx, "T01", ReturnRequest{ReceiptID: "S001-T01-404", ReturnNo: "R1", Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}})
	wantReason(t, err, ReasonNotFound)
	if bal := h.checkFold(t, "+919800000001"); bal != 0 {
		t.Errorf("balance %d, want 0", bal)
	}
	m, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile("+919800000001")})
	if err != nil {
		t.Fatal(err)
	}
	_ = m
}

func TestVoidAndCoupons(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	h.enroll(t, "+919800000002", "", "")
	sale := SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Member: mobile("+919800000001"), Coupons: []string{"WELCOME-1"}}
	rc, err := h.CompleteSale(ctx, "T01", sale)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Totals.Net != 9000 || mustJSON(t, rc.Discounts) != `[{"campaign":"C7","amount":1000}]` {
		t.Fatalf("coupon sale: %s", mustJSON(t, rc))
	}
	second := sale
	second.ReceiptNo = "2"
	_, err = h.CompleteSale(ctx, "T01", second)
	wantReason(t, err, ReasonCouponUsed)
	_, err = h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "WELCOME-1"})
	wantReason(t, err, ReasonCouponUsed)

	// A partial return keeps the use; the void completes the receipt and
	// gives it back.
	rc2, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "3", Member: mobile("+919800000001"),
		Basket:  &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: 1, UnitPrice: 10000}, {Line: 2, SKU: "PEN1", Qty: 1, UnitPrice: 4000}}},
		Coupons: []string{"OLD-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Return(ctx, "T01", ReturnRequest{ReceiptID: rc2.ReceiptID, ReturnNo: "R1", Lines: []engine.ReturnLine{{Line: 2, Qty: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, err = h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "OLD-1"})
	wantReason(t, err, ReasonCouponUsed)
	v, err := h.Void(ctx, "T01", VoidRequest{ReceiptID: rc2.ReceiptID})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Complete || v.ReturnID != "S001-T01-3/VOID" {
		t.Errorf("void %s", mustJSON(t, v))
	}
	again, err := h.Void(ctx, "T01", VoidRequest{ReceiptID: rc2.ReceiptID})
	if err != nil || mustJSON(t, again) != mustJSON(t, v) {
		t.Errorf("void replay: %v", err)
	}
	if c, err := h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "OLD-1"}); err != nil || !c.Valid || c.Campaign != "C7" {
		t.Errorf("released coupon: %v %+v", err, c)
	}
	_, err = h.Void(ctx, "T01", VoidRequest{ReceiptID: rc2.ReceiptID, ReturnNo: "V2"})
	wantReason(t, err, ReasonInvalidParams)

	tests := []struct {
		name   string
		code   string
		member *Identifier
		reason string
	}{
		{"unknown", "NOPE", nil, ReasonCouponInvalid},
		{"personal, anonymous", "ASHA-ONLY", nil, ReasonCouponInvalid},
		{"personal, other member", "ASHA-ONLY", mobile("+919800000002"), ReasonCouponInvalid},
		{"personal, owner", "ASHA-ONLY", mobile("+919800000001"), ""},
		{"generated", GeneratedCouponCode("test-1", "C7", "DIW", 2), nil, ""},
		{"last valid day", "SHORT-1", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: tt.code, Member: tt.member})
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tt.reason)
		})
	}
	m, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile("+919800000001")})
	if err != nil || len(m.Offers) != 1 || m.Offers[0].Code != "ASHA-ONLY" {
		t.Errorf("offers: %v %s", err, mustJSON(t, m))
	}
	// valid_to is inclusive in the programme's zone (IST): 2026-06-03
	// 23:59 IST is 18:29 UTC.
	h.clock.Advance(8*3600e9 + 29*60e9)
	if _, err := h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "SHORT-1"}); err != nil {
		t.Errorf("23:59 IST: %v", err)
	}
	h.clock.Advance(60e9)
	_, err = h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "SHORT-1"})
	wantReason(t, err, ReasonCouponExpired)
	h.checkFold(t, "+919800000001")
}

func TestLedgerPaging(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	for i := range 25 {
		h.clock.Advance(60e9)
		if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: fmt.Sprint(i), Basket: books(1, 1000*engine.Money(i+1)),
			Member: mobile("+919800000001")}); err != nil {
			t.Fatal(err)
		}
	}
	var all []LedgerEntry
	cursor, pages := "", 0
	for {
		page, err := h.Ledger(ctx, "T01", LedgerRequest{MemberID: "+919800000001", Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, page.Entries...)
		if cursor = page.Cursor; cursor == "" {
			break
		}
	}
	if pages != 3 || len(all) != 25 {
		t.Fatalf("%d pages, %d entries", pages, len(all))
	}
	var running engine.Points
	for i, e := range all {
		running += e.Points
		if e.Balance != running || e.Kind != engine.EntryEarn || e.Ref != fmt.Sprintf("S001-T01-%d", i) || e.Points != engine.Points(i+1) {
			t.Fatalf("entry %d: %+v (running %d)", i, e, running)
		}
	}
	from, to := all[5].At, all[7].At
	page, err := h.Ledger(ctx, "T01", LedgerRequest{MemberID: "+919800000001", From: &from, To: &to})
	if err != nil || len(page.Entries) != 3 || page.Entries[0].Balance != all[5].Balance {
		t.Errorf("from/to: %v %s", err, mustJSON(t, page))
	}
	_, err = h.Ledger(ctx, "T01", LedgerRequest{MemberID: "+919800000002", Cursor: "AAAA"})
	wantReason(t, err, ReasonInvalidParams)
	_, err = h.Ledger(ctx, "T01", LedgerRequest{MemberID: "+919800000002"})
	wantReason(t, err, ReasonMemberNotFound)
	empty, err := h.Ledger(ctx, "T01", LedgerRequest{MemberID: "+919800000001", From: ptr(h.clock.Now().Add(1e9))})
	if err != nil || mustJSON(t, empty) != `{"entries":[],"cursor":""}` {
		t.Errorf("empty page: %v %s", err, mustJSON(t, empty))
	}
}

func TestEvaluate(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "GOLD-1", "gold")
	at := testStart
	ev, err := h.Evaluate(ctx, "T01", EvaluateRequest{Basket: books(1, 45000), Member: &Identifier{Card: "GOLD-1"},
		Coupons: []string{"WELCOME-1"}, At: &at})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Totals.Net != 44000 || ev.Points.Earn != 66 {
		t.Errorf("evaluation %s", mustJSON(t, ev))
	}
	// Evaluation changes nothing: the coupon is still unused.
	if _, err := h.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: "WELCOME-1"}); err != nil {
		t.Error(err)
	}
	raw, _ := json.Marshal(ev)
	if len(raw) == 0 {
		t.Error("empty evaluation")
	}
}
