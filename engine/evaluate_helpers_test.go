package engine

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// Builders for programmes as Go literals: tests must not depend on
// ParseProgramme.

func mp(v int64) *Money         { m := Money(v); return &m }
func pp(v int64) *Points        { p := Points(v); return &p }
func ip(v int64) *int64         { return &v }
func pctp(units int64) *Decimal { return &Decimal{Units: units} }

// between is the inclusive money range [lo, hi]; a negative bound is open.
func between(lo, hi int64) MoneyRange {
	var r MoneyRange
	if lo >= 0 {
		r.Min = mp(lo)
	}
	if hi >= 0 {
		r.Max = mp(hi)
	}
	return r
}

// whole is a whole percent as a Decimal.
func whole(pct int64) *Decimal { return pctp(pct * decimalScale) }

// newProgramme returns an indexed programme with the given products (sku,
// category, optional attribute group), a flat rate of 1 point per 100.00
// and point_value 25.
func newProgramme(products []Product, campaigns ...Campaign) *Programme {
	p := &Programme{
		Version:     "test-1",
		Currency:    "INR",
		MinorDigits: 2,
		Catalogue: Catalogue{
			Products:       products,
			DefaultProduct: Product{SKU: "DEFAULT", Category: "uncategorised"},
		},
		Earn: EarnRules{Basis: "net_paid", Rounding: "floor",
			Rates: []EarnRate{{Category: "*", Points: 1, Per: 10000}}},
		Redeem:    RedeemRules{PointValue: 25, MaxSharePct: 100, OTP: OTPRule{Mode: "off"}},
		Campaigns: campaigns,
		Location:  time.UTC,
	}
	p.IndexCatalogue()
	return p
}

func prod(sku, category, group string) Product {
	p := Product{SKU: sku, Category: category}
	if group != "" {
		p.Attributes = map[string]string{"group": group}
	}
	return p
}

func line(n int, sku string, qty int64, price Money) Line {
	return Line{Line: n, SKU: sku, Qty: qty, UnitPrice: price}
}

// member is a consenting member with the given card type.
func member(card string) *MemberFacts {
	return &MemberFacts{ID: "+919800000001", CardType: card, ConsentsOK: true, Redeemable: 1_000_000, Balance: 1_000_000}
}

var testAt = time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC) // a Wednesday

func evalOK(t *testing.T, in EvalInput) *Evaluation {
	t.Helper()
	if in.At.IsZero() {
		in.At = testAt
	}
	ev, err := Evaluate(in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return ev
}

func refusalOf(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("got error %v, want a *Refusal", err)
	}
	return r
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}
