package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// offersProgramme has three coupon campaigns and rules for books, pens
// (by SKU) and toys, with personal offer settings spliced in.
func offersProgramme(t *testing.T, settings string) *Programme {
	t.Helper()
	doc := `{"version": "po-1", "currency": "INR", "minor_digits": 2,
	  "earn": {"rates": [{"category": "*", "points": 1, "per": 1000}]},
	  "redeem": {"point_value": 25},
	  "campaigns": [
	    {"id": "P-BOOKS", "name": "10% off books", "level": "item", "order": 1, "coupon_required": true,
	     "condition": {"items": {"categories": ["books"]}}, "reward": {"percent": 10}},
	    {"id": "P-PEN", "level": "item", "order": 2, "coupon_required": true, "valid": {"to": "2026-06-20"},
	     "condition": {"items": {"skus": ["PEN1"]}}, "reward": {"amount_off": 5000}},
	    {"id": "P-TOYS", "level": "item", "order": 3, "coupon_required": true,
	     "condition": {"items": {"categories": ["toys"]}}, "reward": {"bonus_points": 100}},
	    {"id": "OPEN", "level": "invoice", "order": 4, "reward": {"percent": 2.5}}],
	  "personal_offers": ` + settings + `}`
	p, err := ParseProgramme([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const offerRules = `{"rules": [{"category": "books", "campaign": "P-BOOKS"}, {"sku": "PEN1", "campaign": "P-PEN"},
	{"category": "toys", "campaign": "P-TOYS"}]`

func TestPersonalOffersDefaults(t *testing.T) {
	p := offersProgramme(t, offerRules+`}`)
	want := &PersonalOffers{Rules: p.PersonalOffers.Rules, ValidDays: DefaultOfferValidDays, PerMember: 1, Prefix: DefaultOfferPrefix}
	if !reflect.DeepEqual(p.PersonalOffers, want) {
		t.Errorf("got %+v, want %+v", p.PersonalOffers, want)
	}
}

func TestPersonalOffersValidation(t *testing.T) {
	tests := []struct {
		name, settings string
		want           []string // problem paths and messages
	}{
		{"no rules", `{"rules": []}`, []string{"personal_offers.rules: needs at least one rule"}},
		{"both category and sku", `{"rules": [{"category": "books", "sku": "BK1", "campaign": "P-BOOKS"}]}`,
			[]string{"personal_offers.rules[0]: needs exactly one of category and sku"}},
		{"neither", `{"rules": [{"campaign": "P-BOOKS"}]}`, []string{"personal_offers.rules[0]: needs exactly one"}},
		{"unknown campaign", `{"rules": [{"category": "books", "campaign": "NOPE"}]}`,
			[]string{`personal_offers.rules[0].campaign: no campaign with id "NOPE"`}},
		{"campaign without coupons", `{"rules": [{"category": "books", "campaign": "OPEN"}]}`,
			[]string{`personal_offers.rules[0].campaign: campaign "OPEN" must be coupon_required`}},
		{"duplicate rule", `{"rules": [{"category": "books", "campaign": "P-BOOKS"}, {"category": "books", "campaign": "P-TOYS"}]}`,
			[]string{"personal_offers.rules[1]: duplicate category:books, also personal_offers.rules[0]"}},
		{"bad numbers", `{"rules": [{"category": "books", "campaign": "P-BOOKS"}], "min_visits": -1, "recent_days": -2,
			"valid_days": 400, "per_member": 17, "prefix": "po"}`, []string{
			"personal_offers.min_visits: must not be negative", "personal_offers.recent_days: must be between",
			"personal_offers.valid_days: must be between 1 and 366", "personal_offers.per_member: must be between 1 and 16",
			"personal_offers.prefix: must be up to 16"}},
		{"unknown field", `{"rules": [{"category": "books", "campaign": "P-BOOKS", "value": 5}]}`,
			[]string{"personal_offers.rules[0].value: unknown field"}},
		{"fractional", `{"rules": [{"category": "books", "campaign": "P-BOOKS"}], "valid_days": 2.5}`,
			[]string{"personal_offers.valid_days"}},
		{"not an object", `[]`, []string{"personal_offers: must be"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"version": "v", "currency": "INR", "minor_digits": 2, "earn": {"rates": []}, "redeem": {"point_value": 25},
			  "campaigns": [{"id": "P-BOOKS", "level": "item", "order": 1, "coupon_required": true, "reward": {"percent": 10}},
			    {"id": "P-TOYS", "level": "item", "order": 2, "coupon_required": true, "reward": {"percent": 5}},
			    {"id": "OPEN", "level": "invoice", "order": 3, "reward": {"percent": 1}}],
			  "personal_offers": ` + tc.settings + `}`
			_, err := ParseProgramme([]byte(doc), nil)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ve.Problems), len(tc.want), err)
			}
			for i, w := range tc.want {
				if got := ve.Problems[i].String(); !strings.HasPrefix(got, w) {
					t.Errorf("problem %d: got %q, want it to start with %q", i, got, w)
				}
			}
		})
	}
}

func TestChoosePersonalOffers(t *testing.T) {
	const member = "+919800000001"
	const today = 20607 // 2026-06-03
	books := PatternItem{Key: "books", Qty: 3, Amount: 120000}
	toys := PatternItem{Key: "toys", Qty: 3, Amount: 150000} // same units, more money: ranks first
	pen := PatternItem{Key: "PEN1", Qty: 5, Amount: 10000}
	gone := PatternItem{Key: "toys", Qty: 0, Amount: 0} // all returned
	code := func(c string, round int) string { return PersonalOfferCode("PO", member, c, round) }
	booksOffer := func(round int) IssuedOffer {
		return IssuedOffer{Code: code("P-BOOKS", round), Campaign: "P-BOOKS", ValidTo: "2026-07-02", Value: "10% off", For: "category:books"}
	}
	toysOffer := IssuedOffer{Code: code("P-TOYS", 0), Campaign: "P-TOYS", ValidTo: "2026-07-02", Value: "100 bonus points", For: "category:toys"}
	penOffer := IssuedOffer{Code: code("P-PEN", 0), Campaign: "P-PEN", ValidTo: "2026-06-20", Value: "INR 50.00 off", For: "sku:PEN1"}
	facts := func(visits, last int64, cats, skus []PatternItem, held map[string]HeldOffers) OfferFacts {
		return OfferFacts{Member: member, Visits: visits, LastVisit: last, Categories: cats, SKUs: skus, Held: held, Today: today}
	}
	tests := []struct {
		name     string
		settings string
		facts    OfferFacts
		want     []IssuedOffer
	}{
		{"top category with a rule", offerRules + `}`, facts(2, today, []PatternItem{books}, nil, nil), []IssuedOffer{booksOffer(0)}},
		{"ranked by units then money", offerRules + `}`, facts(2, today, []PatternItem{books, toys}, nil, nil), []IssuedOffer{toysOffer}},
		{"a SKU rule ranks with the categories", offerRules + `, "per_member": 3}`,
			facts(2, today, []PatternItem{books, toys}, []PatternItem{pen}, nil), []IssuedOffer{penOffer, toysOffer, booksOffer(0)}},
		{"returned items do not count", offerRules + `}`, facts(2, today, []PatternItem{books, gone}, nil, nil), []IssuedOffer{booksOffer(0)}},
		{"too few visits", offerRules + `, "min_visits": 3}`, facts(2, today, []PatternItem{books}, nil, nil), nil},
		{"no visit", offerRules + `}`, facts(0, 0, []PatternItem{books}, nil, nil), nil},
		{"not recent", offerRules + `, "recent_days": 30}`, facts(2, today-31, []PatternItem{books}, nil, nil), nil},
		{"recent enough", offerRules + `, "recent_days": 30}`, facts(2, today-30, []PatternItem{books}, nil, nil), []IssuedOffer{booksOffer(0)}},
		{"holds a current offer: per_member reached", offerRules + `}`,
			facts(2, today, []PatternItem{books, toys}, nil, map[string]HeldOffers{"P-TOYS": {Issued: 1, Current: 1}}), nil},
		{"holds one, room for another campaign", offerRules + `, "per_member": 2}`,
			facts(2, today, []PatternItem{books, toys}, nil, map[string]HeldOffers{"P-TOYS": {Issued: 1, Current: 1}}), []IssuedOffer{booksOffer(0)}},
		{"a past offer: the next round", offerRules + `}`,
			facts(2, today, []PatternItem{books}, nil, map[string]HeldOffers{"P-BOOKS": {Issued: 2}}), []IssuedOffer{booksOffer(2)}},
		{"campaign ended", offerRules + `}`,
			OfferFacts{Member: member, Visits: 2, LastVisit: today + 20, SKUs: []PatternItem{pen}, Today: today + 20}, nil},
		{"no rule for what was bought", offerRules + `}`, facts(5, today, []PatternItem{{Key: "food", Qty: 9}}, nil, nil), nil},
		{"valid_days and prefix", `{"rules": [{"category": "books", "campaign": "P-BOOKS"}], "valid_days": 1, "prefix": "BK-"}`,
			facts(1, today, []PatternItem{books}, nil, nil), []IssuedOffer{{Code: PersonalOfferCode("BK-", member, "P-BOOKS", 0),
				Campaign: "P-BOOKS", ValidTo: "2026-06-03", Value: "10% off", For: "category:books"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := offersProgramme(t, tc.settings)
			got := p.ChoosePersonalOffers(tc.facts)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := (&Programme{}).ChoosePersonalOffers(facts(9, today, []PatternItem{books}, nil, nil)); got != nil {
		t.Errorf("without personal_offers: %+v", got)
	}
}

func TestPersonalOfferCode(t *testing.T) {
	a := PersonalOfferCode("PO", "+919800000001", "P-BOOKS", 0)
	if len(a) != 12 || !strings.HasPrefix(a, "PO") || strings.ContainsAny(a[2:], "ILOU") {
		t.Errorf("code %q", a)
	}
	for _, other := range []string{
		PersonalOfferCode("PO", "+919800000002", "P-BOOKS", 0),
		PersonalOfferCode("PO", "+919800000001", "P-TOYS", 0),
		PersonalOfferCode("PO", "+919800000001", "P-BOOKS", 1),
	} {
		if other == a {
			t.Errorf("%q repeats for other facts", a)
		}
	}
	if again := PersonalOfferCode("PO", "+919800000001", "P-BOOKS", 0); again != a {
		t.Errorf("not deterministic: %q, %q", a, again)
	}
}

func TestTopPatternItems(t *testing.T) {
	items := []PatternItem{{Key: "b", Qty: 2, Amount: 10}, {Key: "a", Qty: 2, Amount: 10}, {Key: "c", Qty: 2, Amount: 30},
		{Key: "w", QtyMilli: 1500, Amount: 5}, {Key: "z", Qty: 5}, {Key: "gone"}, {Key: "v", Qty: 2, QtyMilli: 1}}
	got := TopPatternItems(items, 0)
	var keys []string
	for _, it := range got {
		keys = append(keys, it.Key)
	}
	if want := "z v c a b w"; strings.Join(keys, " ") != want {
		t.Errorf("got %v, want %s", keys, want)
	}
	if got := TopPatternItems(items, 2); len(got) != 2 || got[0].Key != "z" {
		t.Errorf("limit 2: %+v", got)
	}
}

func TestFormatMinor(t *testing.T) {
	for _, tc := range []struct {
		v      int64
		digits int
		want   string
	}{{5000, 2, "50.00"}, {5, 2, "0.05"}, {0, 2, "0.00"}, {-1250, 2, "-12.50"}, {7, 0, "7"}, {12345, 3, "12.345"}} {
		if got := formatMinor(tc.v, tc.digits); got != tc.want {
			t.Errorf("formatMinor(%d, %d) = %q, want %q", tc.v, tc.digits, got, tc.want)
		}
	}
}
