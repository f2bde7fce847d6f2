package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedCasesPath is the shared acceptance file, beside the repository.
const seedCasesPath = "../../shared/acceptance/seed-cases.json"

// progZones is a ZoneResolver that knows a few zones without reading the
// zone database; each name always gives the same *time.Location.
func progZones() ZoneResolver {
	known := map[string]*time.Location{
		"Asia/Kolkata":  time.FixedZone("Asia/Kolkata", 5*3600+1800),
		"Europe/Berlin": time.FixedZone("Europe/Berlin", 3600),
	}
	return func(name string) (*time.Location, error) {
		if loc, ok := known[name]; ok {
			return loc, nil
		}
		return nil, fmt.Errorf("unknown time zone %s", name)
	}
}

// progBase is a programme that uses every feature of programme-v1.md.
const progBase = `{"version": "2026-11-23.1", "currency": "INR", "minor_digits": 2,
 "timezone": "Asia/Kolkata", "default_country_code": "+91",
 "catalogue": {"products": [
   {"sku": "000000007", "name": "Kettle", "category": "appliances", "attributes": {"group": "Electrical"}, "price": 88000},
   {"sku": "GOLDCOIN", "name": "Gold coin", "category": "gifts", "price": 50000}],
  "default_product": {"sku": "DEFAULT", "category": "uncategorised"}},
 "earn": {"basis": "net_paid",
  "rates": [{"category": "books", "points": 1, "per": 1000}, {"category": "*", "points": 1, "per": 2000}],
  "card_types": {"gold": {"multiplier_pct": 150}, "classic": {"multiplier_pct": 100}},
  "rounding": "floor"},
 "redeem": {"point_value": 25, "min_points": 100, "max_share_pct": 50, "otp": "above:500", "offline_allowance_points": 0},
 "tiers": [{"name": "gold", "min_spend": 2000000, "multiplier_pct": 125},
  {"name": "classic", "min_spend": 0}, {"name": "silver", "min_spend": 1000000}],
 "tier_window_days": 365,
 "consents": [{"id": "programme_terms", "required": true}, {"id": "sms_marketing"}],
 "campaigns": [
  {"id": "C1", "name": "2.5% off", "level": "invoice", "order": 2,
   "condition": {"value": [100000, 200000]}, "reward": {"percent": 2.5}},
  {"id": "C2", "level": "invoice", "order": 1, "stop": true,
   "valid": {"from": "2026-01-01", "to": "2026-12-31", "days": ["mon", "tue"], "hours": ["09:00", "13:00"]},
   "stores": ["S001"], "members_only": true, "tiers": ["gold"], "groups": ["staff"],
   "condition": {"items": {"skus": [], "categories": ["appliances"], "attributes": {"group": ["Electrical", "Lighting"]}},
    "value": [150000, null], "qty": [1, null]},
   "reward": {"amount_off": 7500}},
  {"id": "C3", "level": "item", "order": 1, "condition": {"items": {"skus": ["000000007"]}},
   "reward": {"free_items": {"skus": ["GOLDCOIN"], "qty": 1}}},
  {"id": "C4", "level": "invoice", "order": 3, "reward": {"free_items": {"attributes": {"group": "Electrical"}, "qty": 1}}},
  {"id": "C5", "level": "item", "order": 2, "reward": {"bonus_points": 100}},
  {"id": "C6", "level": "item", "order": 3, "reward": {"points_multiplier_pct": 200}},
  {"id": "C7", "level": "invoice", "order": 4, "coupon_required": true, "reward": {"cashback": {"percent": 5}}}],
 "coupons": [{"campaign": "C7", "codes": ["WELCOME-7Q2K"], "uses_per_code": 1, "valid_to": "2026-12-31"},
  {"campaign": "C7", "generate": 5000, "prefix": "DIW", "uses_per_code": 1},
  {"campaign": "C7", "codes": ["OFFER-1"], "member": "+919800000001"}]}`

func mustParse(t *testing.T, doc string) *Programme {
	t.Helper()
	p, err := ParseProgramme([]byte(doc), progZones())
	if err != nil {
		t.Fatalf("ParseProgramme: %v", err)
	}
	return p
}

// seedProgrammes returns the programme of every seed acceptance case.
func seedProgrammes(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(seedCasesPath)
	if err != nil {
		t.Fatalf("the seed cases live beside the repository: %v", err)
	}
	var file struct {
		Cases []struct {
			Name      string          `json:"name"`
			Programme json.RawMessage `json:"programme"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", seedCasesPath, err)
	}
	out := make(map[string]json.RawMessage, len(file.Cases))
	for _, c := range file.Cases {
		out[c.Name] = c.Programme
	}
	if len(out) == 0 {
		t.Fatalf("%s has no cases", seedCasesPath)
	}
	return out
}

func TestParseSeedProgrammes(t *testing.T) {
	for name, doc := range seedProgrammes(t) {
		t.Run(name, func(t *testing.T) {
			p, err := ParseProgramme(doc, nil)
			if err != nil {
				t.Fatalf("ParseProgramme: %v", err)
			}
			if p.Location != time.UTC {
				t.Errorf("Location = %v, want UTC", p.Location)
			}
			if got := p.Catalogue.DefaultProduct; got.SKU != "DEFAULT" || got.Category != "uncategorised" {
				t.Errorf("default product = %+v", got)
			}
			roundTrip(t, p)
		})
	}
}

func TestParseProgrammeDecodes(t *testing.T) {
	p := mustParse(t, progBase)
	checks := []struct {
		what      string
		got, want any
	}{
		{"location", p.Location.String(), "Asia/Kolkata"},
		{"percent", *p.Campaigns[0].Reward.Percent, Decimal{Units: 25000}},
		{"value range", fmt.Sprint(*p.Campaigns[0].Condition.Value.Min, *p.Campaigns[0].Condition.Value.Max), "100000 200000"},
		{"open max", p.Campaigns[1].Condition.Value.Max, (*Money)(nil)},
		{"qty min", *p.Campaigns[1].Condition.Qty.Min, int64(1)},
		{"empty list is nil", p.Campaigns[1].Condition.Items.SKUs, []string(nil)},
		{"attribute list", p.Campaigns[1].Condition.Items.Attributes, map[string][]string{"group": {"Electrical", "Lighting"}}},
		{"attribute string", p.Campaigns[3].Reward.FreeItems.Attributes, map[string][]string{"group": {"Electrical"}}},
		{"otp", p.Redeem.OTP, OTPRule{Mode: OTPAbove, Above: 500}},
		{"cashback", p.Campaigns[6].Reward.Cashback.Percent, Decimal{Units: 50000}},
		{"tiers sorted", []string{p.Tiers[0].Name, p.Tiers[1].Name, p.Tiers[2].Name}, []string{"classic", "silver", "gold"}},
		{"card type", p.Earn.CardTypes["gold"].MultiplierPct, int64(150)},
		{"product attrs", p.Catalogue.Products[0].Attributes, map[string]string{"group": "Electrical"}},
		{"coupon member", p.Coupons[2].Member, "+919800000001"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if prod, known := p.Product("GOLDCOIN"); !known || prod.Category != "gifts" {
		t.Errorf("Product(GOLDCOIN) = %+v, %v: the catalogue is not indexed", prod, known)
	}
}

func TestParseProgrammeDefaults(t *testing.T) {
	p := mustParse(t, `{"version": "v", "currency": "EUR", "minor_digits": 2,
		"catalogue": {"products": []}, "earn": {"rates": []}, "redeem": {"point_value": 1},
		"campaigns": [], "tiers": [{"name": "base", "min_spend": 0}]}`)
	checks := []struct {
		what      string
		got, want any
	}{
		{"location", p.Location, time.UTC},
		{"basis", p.Earn.Basis, "net_paid"},
		{"rounding", p.Earn.Rounding, "floor"},
		{"max share", p.Redeem.MaxSharePct, int64(100)},
		{"otp", p.Redeem.OTP, OTPRule{Mode: OTPRequired}},
		{"tier window", p.TierWindowDays, 365},
		{"default product", p.Catalogue.DefaultProduct, Product{SKU: "DEFAULT", Category: "uncategorised"}},
		{"campaigns", p.Campaigns, []Campaign(nil)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// edit is a textual change to progBase; old must occur exactly once.
type edit struct{ old, new string }

func editBase(t *testing.T, edits []edit) string {
	t.Helper()
	doc := progBase
	for _, e := range edits {
		if n := strings.Count(doc, e.old); n != 1 {
			t.Fatalf("edit %q: found %d times in progBase, want once", e.old, n)
		}
		doc = strings.Replace(doc, e.old, e.new, 1)
	}
	return doc
}

func TestParseProgrammeProblems(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		want  []string // problem paths, in order
	}{
		{"typo in a reward", []edit{{`"amount_off": 7500`, `"ammount_off": 7500`}}, []string{"campaigns[1].reward.ammount_off"}},
		{"unknown top-level field", []edit{{`"minor_digits": 2,`, `"minor_digits": 2, "extra": {"a": [1]},`}}, []string{"extra"}},
		{"field name in another case", []edit{{`"currency": "INR"`, `"Currency": "INR"`}}, []string{"Currency", "currency"}},
		{"duplicate key", []edit{{`"currency": "INR",`, `"currency": "INR", "currency": "USD",`}}, []string{"currency"}},
		{"string for an integer", []edit{{`"point_value": 25`, `"point_value": "25"`}}, []string{"redeem.point_value"}},
		{"fraction for an integer", []edit{{`"min_points": 100`, `"min_points": 100.5`}}, []string{"redeem.min_points"}},
		{"exponent for an integer", []edit{{`"min_points": 100`, `"min_points": 1e2`}}, []string{"redeem.min_points"}},
		{"integer out of range", []edit{{`"min_points": 100`, `"min_points": 9223372036854775808`}}, []string{"redeem.min_points"}},
		{"null for a string", []edit{{`"version": "2026-11-23.1"`, `"version": null`}}, []string{"version"}},
		{"object for a list", []edit{{`"stores": ["S001"]`, `"stores": {"S001": true}`}}, []string{"campaigns[1].stores"}},
		{"number in a list of strings", []edit{{`"stores": ["S001"]`, `"stores": ["S001", 2]`}}, []string{"campaigns[1].stores[1]"}},
		{"bad attribute value", []edit{{`"group": ["Electrical", "Lighting"]`, `"group": 5`}}, []string{"campaigns[1].condition.items.attributes.group"}},
		{"empty attribute list", []edit{{`"group": ["Electrical", "Lighting"]`, `"group": []`}}, []string{"campaigns[1].condition.items.attributes.group"}},
		{"version missing", []edit{{`"version": "2026-11-23.1",`, ``}}, []string{"version"}},
		{"currency lower case", []edit{{`"INR"`, `"inr"`}}, []string{"currency"}},
		{"minor digits", []edit{{`"minor_digits": 2`, `"minor_digits": 5`}}, []string{"minor_digits"}},
		{"unknown zone", []edit{{`"Asia/Kolkata"`, `"Mars/Olympus"`}}, []string{"timezone"}},
		{"Local zone", []edit{{`"Asia/Kolkata"`, `"Local"`}}, []string{"timezone"}},
		{"country code", []edit{{`"+91"`, `"91"`}}, []string{"default_country_code"}},
		{"duplicate SKU", []edit{{`"sku": "GOLDCOIN", "name"`, `"sku": "000000007", "name"`}}, []string{"catalogue.products[1].sku"}},
		{"empty SKU and category", []edit{{`"sku": "GOLDCOIN", "name": "Gold coin", "category": "gifts"`, `"sku": "", "name": "Gold coin"`}},
			[]string{"catalogue.products[1].sku", "catalogue.products[1].category"}},
		{"negative price", []edit{{`"price": 50000`, `"price": -1`}}, []string{"catalogue.products[1].price"}},
		{"earn basis", []edit{{`"net_paid"`, `"gross"`}}, []string{"earn.basis"}},
		{"earn rounding", []edit{{`"rounding": "floor"`, `"rounding": "half_up"`}}, []string{"earn.rounding"}},
		{"earn rate", []edit{{`{"category": "books", "points": 1, "per": 1000}`, `{"category": "", "points": -1, "per": 0}`}},
			[]string{"earn.rates[0].category", "earn.rates[0].points", "earn.rates[0].per"}},
		{"card type multiplier", []edit{{`"gold": {"multiplier_pct": 150}`, `"gold card": {"multiplier_pct": 0}`}},
			[]string{`earn.card_types["gold card"].multiplier_pct`}},
		{"card type multiplier too large", []edit{{`"multiplier_pct": 150`, `"multiplier_pct": 10001`}}, []string{"earn.card_types.gold.multiplier_pct"}},
		{"point value", []edit{{`"point_value": 25`, `"point_value": 0`}}, []string{"redeem.point_value"}},
		{"max share over 100", []edit{{`"max_share_pct": 50`, `"max_share_pct": 101`}}, []string{"redeem.max_share_pct"}},
		{"max share zero", []edit{{`"max_share_pct": 50`, `"max_share_pct": 0`}}, []string{"redeem.max_share_pct"}},
		{"otp", []edit{{`"above:500"`, `"sometimes"`}}, []string{"redeem.otp"}},
		{"otp negative", []edit{{`"above:500"`, `"above:-5"`}}, []string{"redeem.otp"}},
		{"offline allowance", []edit{{`"offline_allowance_points": 0`, `"offline_allowance_points": -1`}}, []string{"redeem.offline_allowance_points"}},
		{"duplicate tier", []edit{{`{"name": "silver"`, `{"name": "gold"`}}, []string{"tiers[2].name"}},
		{"same tier spend", []edit{{`"min_spend": 1000000`, `"min_spend": 0`}}, []string{"tiers[2].min_spend"}},
		{"tier window", []edit{{`"tier_window_days": 365`, `"tier_window_days": -1`}}, []string{"tier_window_days"}},
		{"duplicate consent", []edit{{`{"id": "sms_marketing"}`, `{"id": "programme_terms"}`}}, []string{"consents[1].id"}},
		{"two rewards", []edit{{`{"bonus_points": 100}`, `{"bonus_points": 100, "amount_off": 5}`}}, []string{"campaigns[4].reward"}},
		{"no reward", []edit{{`{"points_multiplier_pct": 200}`, `{}`}}, []string{"campaigns[5].reward"}},
		{"percent over 100", []edit{{`"percent": 2.5`, `"percent": 100.5`}}, []string{"campaigns[0].reward.percent"}},
		{"percent zero", []edit{{`"percent": 2.5`, `"percent": 0`}}, []string{"campaigns[0].reward.percent"}},
		{"percent too precise", []edit{{`"percent": 2.5`, `"percent": 2.50001`}}, []string{"campaigns[0].reward.percent"}},
		{"percent exponent", []edit{{`"percent": 2.5`, `"percent": 25e-1`}}, []string{"campaigns[0].reward.percent"}},
		{"percent negative", []edit{{`"percent": 2.5`, `"percent": -2.5`}}, []string{"campaigns[0].reward.percent"}},
		{"percent as string", []edit{{`"percent": 2.5`, `"percent": "2.5"`}}, []string{"campaigns[0].reward.percent"}},
		{"cashback percent", []edit{{`"cashback": {"percent": 5}`, `"cashback": {"percent": 0}`}}, []string{"campaigns[6].reward.cashback.percent"}},
		{"amount off", []edit{{`"amount_off": 7500`, `"amount_off": 0`}}, []string{"campaigns[1].reward.amount_off"}},
		{"bonus points", []edit{{`"bonus_points": 100`, `"bonus_points": 0`}}, []string{"campaigns[4].reward.bonus_points"}},
		{"points multiplier", []edit{{`"points_multiplier_pct": 200`, `"points_multiplier_pct": -1`}}, []string{"campaigns[5].reward.points_multiplier_pct"}},
		{"free items both", []edit{{`{"skus": ["GOLDCOIN"], "qty": 1}`, `{"skus": ["GOLDCOIN"], "attributes": {"group": "x"}, "qty": 1}`}},
			[]string{"campaigns[2].reward.free_items"}},
		{"free items neither, no qty", []edit{{`{"skus": ["GOLDCOIN"], "qty": 1}`, `{}`}},
			[]string{"campaigns[2].reward.free_items.qty", "campaigns[2].reward.free_items"}},
		{"range reversed", []edit{{`[100000, 200000]`, `[200000, 100000]`}}, []string{"campaigns[0].condition.value"}},
		{"range negative", []edit{{`"qty": [1, null]`, `"qty": [-1, null]`}}, []string{"campaigns[1].condition.qty"}},
		{"range of one", []edit{{`[100000, 200000]`, `[100000]`}}, []string{"campaigns[0].condition.value"}},
		{"range of strings", []edit{{`[100000, 200000]`, `["100000", 200000]`}}, []string{"campaigns[0].condition.value"}},
		{"range with fraction", []edit{{`[100000, 200000]`, `[100000.5, 200000]`}}, []string{"campaigns[0].condition.value"}},
		{"range as object", []edit{{`[100000, 200000]`, `{"min": 1}`}}, []string{"campaigns[0].condition.value"}},
		{"campaign id missing", []edit{{`"id": "C5", `, ``}}, []string{"campaigns[4].id"}},
		{"duplicate campaign", []edit{{`"id": "C6"`, `"id": "C5"`}}, []string{"campaigns[5].id"}},
		{"level missing", []edit{{`"level": "item", "order": 2`, `"order": 2`}}, []string{"campaigns[4].level"}},
		{"level unknown", []edit{{`"level": "item", "order": 2`, `"level": "basket", "order": 2`}}, []string{"campaigns[4].level"}},
		{"bad date", []edit{{`"from": "2026-01-01"`, `"from": "2026-02-30"`}}, []string{"campaigns[1].valid.from"}},
		{"from after to", []edit{{`"to": "2026-12-31"`, `"to": "2025-12-31"`}}, []string{"campaigns[1].valid"}},
		{"day", []edit{{`"tue"`, `"Tuesday"`}}, []string{"campaigns[1].valid.days[1]"}},
		{"one hour", []edit{{`["09:00", "13:00"]`, `["09:00"]`}}, []string{"campaigns[1].valid.hours"}},
		{"bad hour", []edit{{`["09:00", "13:00"]`, `["9:00", "24:01"]`}}, []string{"campaigns[1].valid.hours[0]", "campaigns[1].valid.hours[1]"}},
		{"unknown tier", []edit{{`"tiers": ["gold"]`, `"tiers": ["platinum"]`}}, []string{"campaigns[1].tiers[0]"}},
		{"empty store", []edit{{`"stores": ["S001"]`, `"stores": [""]`}}, []string{"campaigns[1].stores[0]"}},
		{"coupon campaign", []edit{{`{"campaign": "C7", "codes": ["WELCOME-7Q2K"]`, `{"campaign": "C99", "codes": ["WELCOME-7Q2K"]`}},
			[]string{"coupons[0].campaign"}},
		{"duplicate code", []edit{{`"codes": ["OFFER-1"]`, `"codes": ["WELCOME-7Q2K"]`}}, []string{"coupons[2].codes[0]"}},
		{"code with space", []edit{{`"codes": ["OFFER-1"]`, `"codes": ["OFFER 1"]`}}, []string{"coupons[2].codes[0]"}},
		{"generate without prefix", []edit{{`"prefix": "DIW", `, ``}}, []string{"coupons[1].prefix"}},
		{"generate negative", []edit{{`"generate": 5000`, `"generate": -1`}}, []string{"coupons[1].generate"}},
		{"no codes", []edit{{`"codes": ["OFFER-1"], `, ``}}, []string{"coupons[2]"}},
		{"uses per code", []edit{{`"prefix": "DIW", "uses_per_code": 1`, `"prefix": "DIW", "uses_per_code": -1`}}, []string{"coupons[1].uses_per_code"}},
		{"valid to", []edit{{`"valid_to": "2026-12-31"`, `"valid_to": "31/12/2026"`}}, []string{"coupons[0].valid_to"}},
		{"trailing data", []edit{{`"member": "+919800000001"}]}`, `"member": "+919800000001"}]} {}`}}, []string{""}},
		{"trailing garbage", []edit{{`"member": "+919800000001"}]}`, `"member": "+919800000001"}]}x`}}, []string{""}},
		{"truncated", []edit{{`"member": "+919800000001"}]}`, `"member": "+919800000001"}]`}}, []string{""}},
		{"syntax error", []edit{{`"minor_digits": 2,`, `"minor_digits": 2,,`}}, []string{""}},
		{"too deep", []edit{{`"minor_digits": 2,`, `"minor_digits": 2, "deep": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,`}},
			[]string{"deep", "deep"}}, // unknown, then too deep while skipping it
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := editBase(t, tt.edits)
			p, err := ParseProgramme([]byte(doc), progZones())
			if err == nil {
				t.Fatalf("ParseProgramme succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("a failed parse returned a programme")
			}
			if !errors.Is(err, ErrInvalidProgramme) {
				t.Errorf("error %v does not wrap ErrInvalidProgramme", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			var got []string
			for _, pr := range ve.Problems {
				got = append(got, pr.Path)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problem paths = %q, want %q\n%v", got, tt.want, err)
			}
		})
	}
}

func TestParseProgrammeReportsEveryProblem(t *testing.T) {
	doc := editBase(t, []edit{
		{`"version": "2026-11-23.1"`, `"version": ""`},
		{`"amount_off": 7500`, `"ammount_off": 7500`},
		{`"point_value": 25`, `"point_value": 0`},
	})
	_, err := ParseProgramme([]byte(doc), progZones())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError", err)
	}
	want := []Problem{
		{"campaigns[1].reward.ammount_off", "unknown field"},
		{"version", "is required"},
		{"redeem.point_value", "must be positive"},
	}
	if !reflect.DeepEqual(ve.Problems, want) {
		t.Errorf("problems = %q, want %q", ve.Problems, want)
	}
	wantText := "engine: invalid programme (3 problems):\n" +
		"campaigns[1].reward.ammount_off: unknown field\n" +
		"version: is required\n" +
		"redeem.point_value: must be positive"
	if got := err.Error(); got != wantText {
		t.Errorf("Error() =\n%s\nwant\n%s", got, wantText)
	}
}

func TestParseProgrammeCapsProblems(t *testing.T) {
	doc := editBase(t, []edit{{`"stores": ["S001"]`, `"stores": [` + strings.TrimSuffix(strings.Repeat("1,", 3*MaxProblems), ",") + `]`}})
	_, err := ParseProgramme([]byte(doc), progZones())
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError", err)
	}
	if got, want := len(ve.Problems), MaxProblems+1; got != want {
		t.Fatalf("%d problems, want %d", got, want)
	}
	if got, want := ve.Problems[MaxProblems].Message, fmt.Sprintf("and %d more problems", 2*MaxProblems); got != want {
		t.Errorf("last problem = %q, want %q", got, want)
	}
}

func TestParseProgrammeRoundTrip(t *testing.T) {
	roundTrip(t, mustParse(t, progBase))
}

// roundTrip checks that json.Marshal → ParseProgramme gives p back, and
// that plain encoding/json reads the marshalled form too.
func roundTrip(t *testing.T, p *Programme) {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	q, err := ParseProgramme(data, progZones())
	if err != nil {
		t.Fatalf("ParseProgramme(json.Marshal(p)): %v\n%s", err, data)
	}
	if !reflect.DeepEqual(q, p) {
		t.Fatalf("round trip changed the programme\n%s", data)
	}
	var plain Programme
	if err := json.Unmarshal(data, &plain); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	plain.Location, plain.productIndex = p.Location, p.productIndex
	if !reflect.DeepEqual(&plain, p) {
		t.Errorf("encoding/json reads the programme differently\n%s", data)
	}
}
