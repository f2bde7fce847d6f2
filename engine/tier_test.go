package engine

import "testing"

func TestTierFor(t *testing.T) {
	p := &Programme{Tiers: []Tier{
		{Name: "gold", MinSpend: 2000000, MultiplierPct: 125},
		{Name: "classic", MinSpend: 0},
		{Name: "silver", MinSpend: 1000000},
	}}
	for _, tt := range []struct {
		spend Money
		want  string
	}{{-1, ""}, {0, "classic"}, {999999, "classic"}, {1000000, "silver"}, {1999999, "silver"}, {2000000, "gold"}, {1 << 60, "gold"}} {
		equal(t, "tier", p.TierFor(tt.spend), tt.want)
	}
	equal(t, "no tiers", (&Programme{}).TierFor(5), "")
	equal(t, "gold multiplier", p.tierMultiplierPct("gold"), int64(125))
	equal(t, "silver multiplier", p.tierMultiplierPct("silver"), int64(100))
}

func TestRequiredConsentsGiven(t *testing.T) {
	p := &Programme{Consents: []Consent{{ID: "programme_terms", Required: true}, {ID: "sms_marketing"}}}
	equal(t, "none", p.RequiredConsentsGiven(nil), false)
	equal(t, "marketing only", p.RequiredConsentsGiven(map[string]bool{"sms_marketing": true}), false)
	equal(t, "withdrawn", p.RequiredConsentsGiven(map[string]bool{"programme_terms": false}), false)
	equal(t, "given", p.RequiredConsentsGiven(map[string]bool{"programme_terms": true}), true)
	equal(t, "nothing required", (&Programme{}).RequiredConsentsGiven(nil), true)
}
