package engine

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// Property tests: random programmes and baskets against the invariants of
// programme-v1. rapid prints the seed of a failure; replay it with
// -rapid.seed=<seed>.

var propCategories = []string{"books", "pens", "food"}

func genCampaign(t *rapid.T, i int) Campaign {
	c := Campaign{
		ID:    fmt.Sprintf("C%02d", rapid.IntRange(0, 40).Draw(t, "id")),
		Level: rapid.SampledFrom([]Level{LevelItem, LevelInvoice}).Draw(t, "level"),
		Order: rapid.IntRange(0, 3).Draw(t, "order"),
		Stop:  rapid.IntRange(0, 4).Draw(t, "stop") == 0,
	}
	c.ID = fmt.Sprintf("%s-%d", c.ID, i) // unique, still unordered
	if rapid.Bool().Draw(t, "filter") {
		c.Condition.Items.Categories = []string{rapid.SampledFrom(propCategories).Draw(t, "cat")}
	}
	if rapid.Bool().Draw(t, "min") {
		c.Condition.Value.Min = mp(rapid.Int64Range(0, 50000).Draw(t, "vmin"))
	}
	if rapid.Bool().Draw(t, "max") {
		c.Condition.Value.Max = mp(rapid.Int64Range(0, 400000).Draw(t, "vmax"))
	}
	switch rapid.IntRange(0, 6).Draw(t, "kind") {
	case 0:
		c.Reward.Percent = pctp(rapid.Int64Range(0, 1_200_000).Draw(t, "pct"))
	case 1:
		c.Reward.AmountOff = mp(rapid.Int64Range(0, 60000).Draw(t, "off"))
	case 2:
		c.Reward.BonusPoints = pp(rapid.Int64Range(0, 500).Draw(t, "bonus"))
	case 3:
		c.Reward.PointsMultiplierPct = ip(rapid.Int64Range(0, 400).Draw(t, "mult"))
	case 4:
		c.Reward.Cashback = &Cashback{Percent: Decimal{Units: rapid.Int64Range(0, 200_000).Draw(t, "cash")}}
	case 5:
		c.Reward.FreeItems = &FreeItems{SKUs: []string{"G1"}, Qty: 1}
	default:
		c.Reward.AmountOff = mp(rapid.Int64Range(0, 100).Draw(t, "small"))
	}
	return c
}

func genProgramme(t *rapid.T) *Programme {
	products := []Product{prod("B", "books", ""), prod("P", "pens", ""), prod("F", "food", ""), prod("G1", "gift", "")}
	n := rapid.IntRange(0, 8).Draw(t, "campaigns")
	cs := make([]Campaign, n)
	for i := range cs {
		cs[i] = genCampaign(t, i)
	}
	p := newProgramme(products, cs...)
	p.Earn.Rates = []EarnRate{{Category: "books", Points: 3, Per: 1000}, {Category: "*", Points: 1, Per: Money(rapid.Int64Range(1, 5000).Draw(t, "per"))}}
	p.Earn.CardTypes = map[string]CardType{"gold": {MultiplierPct: 150}}
	p.Tiers = []Tier{{Name: "base"}, {Name: "top", MinSpend: 100000, MultiplierPct: 125}}
	p.Redeem.PointValue = Money(rapid.Int64Range(1, 300).Draw(t, "pv"))
	return p
}

func genBasket(t *rapid.T) []Line {
	n := rapid.IntRange(1, 8).Draw(t, "lines")
	nums := rapid.Permutation([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}).Draw(t, "numbers")
	lines := make([]Line, n)
	for i := range lines {
		l := Line{Line: nums[i], SKU: rapid.SampledFrom([]string{"B", "P", "F", "UNKNOWN"}).Draw(t, "sku"),
			UnitPrice: Money(rapid.Int64Range(0, 60000).Draw(t, "price"))}
		if rapid.Bool().Draw(t, "weighed") {
			l.QtyMilli = rapid.Int64Range(1, 5000).Draw(t, "milli")
		} else {
			l.Qty = rapid.Int64Range(1, 6).Draw(t, "qty")
		}
		if rapid.IntRange(0, 5).Draw(t, "amount?") == 0 {
			l.Amount = mp(rapid.Int64Range(0, 90000).Draw(t, "amount"))
		}
		lines[i] = l
	}
	return lines
}

// genInput draws a programme, basket and member, and a redemption the bill
// can take.
func genInput(t *rapid.T) EvalInput {
	in := EvalInput{Programme: genProgramme(t), Basket: Basket{Lines: genBasket(t)}, At: testAt, Store: "S001"}
	if rapid.Bool().Draw(t, "member") {
		in.Member = &MemberFacts{ID: "m", CardType: rapid.SampledFrom([]string{"", "gold"}).Draw(t, "card"),
			ConsentsOK: rapid.IntRange(0, 5).Draw(t, "noconsent") != 0, Redeemable: 1_000_000,
			SpendInWindow: Money(rapid.Int64Range(0, 200000).Draw(t, "spend"))}
	}
	ev, err := Evaluate(in)
	if err != nil {
		t.Fatalf("Evaluate without redemption: %v", err)
	}
	if most := ev.Points.MaxRedeemPoints; most > 0 && rapid.Bool().Draw(t, "redeem") {
		in.RedeemPoints = Points(rapid.Int64Range(1, int64(most)).Draw(t, "points"))
	}
	return in
}

func TestPropEvaluateInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		ev, err := Evaluate(in)
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		pv := in.Programme.Redeem.PointValue
		var gross, net, itemDisc Money
		var shares Points
		for _, l := range ev.Lines {
			var ld Money
			for _, d := range l.Discounts {
				if d.Amount <= 0 {
					t.Fatalf("line %d: discount %+v not positive", l.Line, d)
				}
				ld += d.Amount
			}
			if l.Net < 0 || l.Net > l.Gross || ld > l.Gross-l.Net {
				t.Fatalf("line %d: gross %d, item discounts %d, net %d", l.Line, l.Gross, ld, l.Net)
			}
			if l.PointsShare < 0 || Money(l.PointsShare)*pv > l.Net || l.Paid != l.Net-Money(l.PointsShare)*pv {
				t.Fatalf("line %d: net %d, share %d, paid %d", l.Line, l.Net, l.PointsShare, l.Paid)
			}
			gross += l.Gross
			net += l.Net
			itemDisc += ld
			shares += l.PointsShare
		}
		var billDisc Money
		for _, d := range ev.BillDiscounts {
			billDisc += d.Amount
		}
		if ev.Totals != (Totals{Gross: gross, Discount: gross - net, Net: net}) || itemDisc+billDisc != ev.Totals.Discount {
			t.Fatalf("totals %+v; lines gross %d net %d; discounts item %d bill %d", ev.Totals, gross, net, itemDisc, billDisc)
		}
		if shares != in.RedeemPoints {
			t.Fatalf("shares sum to %d, redeemed %d", shares, in.RedeemPoints)
		}
		if in.Member == nil || !in.Member.ConsentsOK {
			if ev.Points.Earn != 0 {
				t.Fatalf("a sale that cannot earn earned %d", ev.Points.Earn)
			}
		}
	})
}

func TestPropLineOrderDoesNotMatter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		a, err := Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := rapid.Permutation(in.Basket.Lines).Draw(t, "shuffled")
		in.Basket.Lines = shuffled
		b, err := Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		byLine := func(ev *Evaluation) map[int]LineResult {
			m := map[int]LineResult{}
			for _, l := range ev.Lines {
				m[l.Line] = l
			}
			return m
		}
		if !reflect.DeepEqual(byLine(a), byLine(b)) {
			t.Fatalf("lines differ:\n%+v\n%+v", a.Lines, b.Lines)
		}
		a.Lines, b.Lines = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("evaluations differ:\n%+v\n%+v", a, b)
		}
	})
}

func TestPropFullReturnGivesEverythingBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sale, err := Evaluate(genInput(t))
		if err != nil {
			t.Fatal(err)
		}
		var prior []ReturnResult
		for range rapid.IntRange(0, 4).Draw(t, "partials") {
			left := RemainingLines(sale, prior)
			if len(left) == 0 {
				break
			}
			var req []ReturnLine
			for _, rl := range left {
				if !rapid.Bool().Draw(t, "take") {
					continue
				}
				if rl.Qty > 0 {
					rl.Qty = rapid.Int64Range(1, rl.Qty).Draw(t, "qty")
				} else {
					rl.QtyMilli = rapid.Int64Range(1, rl.QtyMilli).Draw(t, "milli")
				}
				req = append(req, rl)
			}
			if len(req) == 0 {
				continue
			}
			r, err := ComputeReturn(sale, prior, req)
			if err != nil {
				t.Fatalf("partial return %+v: %v", req, err)
			}
			prior = append(prior, *r)
		}
		if left := RemainingLines(sale, prior); len(left) > 0 {
			r, err := ComputeReturn(sale, prior, left)
			if err != nil {
				t.Fatalf("final return %+v: %v", left, err)
			}
			if !r.Complete {
				t.Fatal("final return not complete")
			}
			prior = append(prior, *r)
		}
		var money, paid Money
		var clawed, refunded Points
		for _, r := range prior {
			money += r.Money
			clawed += r.ClawedBack
			refunded += r.Refunded
			for _, l := range r.Lines {
				if l.Money < 0 || l.Earn < 0 || l.PointsShare < 0 {
					t.Fatalf("negative return line %+v", l)
				}
			}
		}
		for _, l := range sale.Lines {
			paid += l.Paid
		}
		if money != paid || clawed != sale.Points.Earn || refunded != sale.Points.Redeem {
			t.Fatalf("returned money %d points %d/%d; sale paid %d earned %d redeemed %d",
				money, clawed, refunded, paid, sale.Points.Earn, sale.Points.Redeem)
		}
	})
}

// TestPropShareOut checks the sharing rule against a reference: parts sum
// to the total, stay within their caps, and only the last part's excess
// moves.
func TestPropShareOut(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 10).Draw(t, "n")
		weights := make([]int64, n)
		var sum int64
		for i := range weights {
			weights[i] = rapid.Int64Range(0, 1_000_000).Draw(t, "w")
			sum += weights[i]
		}
		total := rapid.Int64Range(0, sum).Draw(t, "total")
		got := shareOut(total, weights, weights)
		var s int64
		for i, g := range got {
			if g < 0 || g > weights[i] {
				t.Fatalf("part %d = %d outside [0, %d]", i, g, weights[i])
			}
			if i < n-1 && sum > 0 && g < total*weights[i]/sum {
				t.Fatalf("part %d = %d below its floor share", i, g)
			}
			s += g
		}
		if s != total {
			t.Fatalf("parts sum to %d, want %d", s, total)
		}
	})
}
