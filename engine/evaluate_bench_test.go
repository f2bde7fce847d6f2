package engine

import (
	"fmt"
	"testing"
)

// BenchmarkEvaluate50Lines100Campaigns prices a 50-line basket against 100
// live campaigns of every kind, for a gold member redeeming points.
func BenchmarkEvaluate50Lines100Campaigns(b *testing.B) {
	cats := []string{"books", "pens", "food", "toys", "home"}
	var products []Product
	for i := range 200 {
		products = append(products, prod(fmt.Sprintf("SKU%03d", i), cats[i%len(cats)], []string{"Electrical", "Gift", ""}[i%3]))
	}
	valid := Validity{From: "2026-01-01", To: "2026-12-31", Days: []string{"mon", "wed", "fri"}, Hours: []string{"08:00", "22:00"}}
	var campaigns []Campaign
	for i := range 100 {
		c := Campaign{ID: fmt.Sprintf("C%03d", i), Order: i % 7, Valid: valid,
			Level: []Level{LevelItem, LevelInvoice}[i%2]}
		if i%3 == 0 {
			c.Condition.Items.Categories = []string{cats[i%len(cats)]}
		}
		if i%4 == 0 {
			c.Condition.Value = between(1000, -1)
		}
		switch i % 6 {
		case 0:
			c.Reward.Percent = pctp(int64(5000 + i*100)) // 0.5% and up
		case 1:
			c.Reward.AmountOff = mp(int64(50 + i))
		case 2:
			c.Reward.BonusPoints = pp(int64(i))
		case 3:
			c.Reward.PointsMultiplierPct = ip(110)
		case 4:
			c.Reward.Cashback = &Cashback{Percent: Decimal{Units: 10000}}
		case 5:
			c.Reward.FreeItems = &FreeItems{SKUs: []string{"SKU001"}, Qty: 1}
		}
		campaigns = append(campaigns, c)
	}
	p := newProgramme(products, campaigns...)
	p.Earn.Rates = []EarnRate{{Category: "books", Points: 1, Per: 1000}, {Category: "*", Points: 1, Per: 2000}}
	p.Earn.CardTypes = map[string]CardType{"gold": {MultiplierPct: 150}}
	p.Tiers = []Tier{{Name: "classic"}, {Name: "gold", MinSpend: 1000000, MultiplierPct: 125}}
	lines := make([]Line, 50)
	for i := range lines {
		lines[i] = line(50-i, fmt.Sprintf("SKU%03d", i*3), int64(1+i%4), Money(5000+i*731))
	}
	in := EvalInput{Programme: p, Basket: Basket{Lines: lines}, At: testAt, Store: "S001", Member: member("gold")}
	ev, err := Evaluate(in)
	if err != nil {
		b.Fatal(err)
	}
	if len(ev.Applied) < 50 {
		b.Fatalf("only %d campaigns applied", len(ev.Applied))
	}
	in.RedeemPoints = ev.Points.MaxRedeemPoints / 2
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Evaluate(in); err != nil {
			b.Fatal(err)
		}
	}
}
