package engine

import "testing"

// returnSale is a sale with an item bonus, a bill bonus, cashback and a
// redemption, for return tests.
func returnSale(t *testing.T) *Evaluation {
	t.Helper()
	p := newProgramme([]Product{prod("BK", "books", ""), prod("PN", "pens", "")},
		Campaign{ID: "IB", Level: LevelItem, Condition: Condition{Items: ItemFilter{SKUs: []string{"BK"}}}, Reward: Reward{BonusPoints: pp(7)}},
		Campaign{ID: "BB", Level: LevelInvoice, Order: 1, Reward: Reward{BonusPoints: pp(50)}},
		Campaign{ID: "CB", Level: LevelInvoice, Order: 2, Reward: Reward{Cashback: &Cashback{Percent: *whole(1)}}},
	)
	p.Earn.Rates = []EarnRate{{Category: "*", Points: 1, Per: 1000}}
	ev := evalOK(t, EvalInput{Programme: p, Member: member(""), RedeemPoints: 101, Basket: Basket{Lines: []Line{
		line(1, "BK", 3, 33333), line(2, "PN", 7, 1111), {Line: 3, SKU: "PN", QtyMilli: 2500, UnitPrice: 4001}}}})
	if ev.Bonus != 50 || ev.Cashback == 0 || ev.Lines[0].Bonus != 7 {
		t.Fatalf("sale setup: %+v", ev)
	}
	return ev
}

func TestReturnPieceByPieceIsExact(t *testing.T) {
	sale := returnSale(t)
	var prior []ReturnResult
	steps := [][]ReturnLine{
		{{Line: 1, Qty: 1}, {Line: 2, Qty: 3}},
		{{Line: 3, QtyMilli: 1}, {Line: 2, Qty: 1}},
		{{Line: 1, Qty: 1}, {Line: 3, QtyMilli: 1000}},
		{{Line: 2, Qty: 3}, {Line: 1, Qty: 1}},
	}
	for i, lines := range steps {
		r, err := ComputeReturn(sale, prior, lines)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.Complete {
			t.Fatalf("step %d: complete too early", i)
		}
		prior = append(prior, *r)
	}
	last, err := ComputeReturn(sale, prior, RemainingLines(sale, prior))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "remaining after", RemainingLines(sale, append(prior, *last)), []ReturnLine{})
	if !last.Complete {
		t.Fatal("last return not complete")
	}
	prior = append(prior, *last)
	var money Money
	var clawed, refunded Points
	for _, r := range prior {
		money += r.Money
		clawed += r.ClawedBack
		refunded += r.Refunded
	}
	var paid Money
	for _, l := range sale.Lines {
		paid += l.Paid
	}
	equal(t, "money", money, paid)
	equal(t, "clawed back", clawed, sale.Points.Earn)
	equal(t, "refunded", refunded, sale.Points.Redeem)
}

func TestReturnBonusOnlyWhenComplete(t *testing.T) {
	sale := returnSale(t)
	r1, err := ComputeReturn(sale, nil, []ReturnLine{{Line: 1, Qty: 3}})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "line 1 whole: earn only", r1.ClawedBack, sale.Lines[0].Earn)
	equal(t, "no bonus yet", r1.Lines[0].Bonus, Points(0))
	r2, err := ComputeReturn(sale, []ReturnResult{*r1}, RemainingLines(sale, []ReturnResult{*r1}))
	if err != nil {
		t.Fatal(err)
	}
	want := sale.Lines[1].Earn + sale.Lines[2].Earn + sale.Bonus + sale.Cashback + sale.Lines[0].Bonus
	equal(t, "rest with every bonus", r2.ClawedBack, want)
	equal(t, "complete", r2.Complete, true)
}

func TestReturnRefusals(t *testing.T) {
	sale := returnSale(t)
	done, err := ComputeReturn(sale, nil, []ReturnLine{{Line: 2, Qty: 5}})
	if err != nil {
		t.Fatal(err)
	}
	prior := []ReturnResult{*done}
	tests := []struct {
		name  string
		lines []ReturnLine
		field string
	}{
		{"nothing", nil, "lines"},
		{"unknown line", []ReturnLine{{Line: 9, Qty: 1}}, "lines[0].line"},
		{"duplicate", []ReturnLine{{Line: 1, Qty: 1}, {Line: 1, Qty: 1}}, "lines[1].line"},
		{"zero", []ReturnLine{{Line: 1}}, "lines[0].qty"},
		{"negative", []ReturnLine{{Line: 1, Qty: -1}}, "lines[0].qty"},
		{"too many", []ReturnLine{{Line: 1, Qty: 4}}, "lines[0].qty"},
		{"more than remains", []ReturnLine{{Line: 2, Qty: 3}}, "lines[0].qty"},
		{"milli for units", []ReturnLine{{Line: 1, QtyMilli: 1000}}, "lines[0].qty_milli"},
		{"units for weighed", []ReturnLine{{Line: 3, Qty: 1}}, "lines[0].qty"},
		{"weighed too much", []ReturnLine{{Line: 3, QtyMilli: 2501}}, "lines[0].qty_milli"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ComputeReturn(sale, prior, tt.lines)
			r := refusalOf(t, err)
			equal(t, "reason", r.Reason, ReasonInvalidParams)
			equal(t, "field", r.Field, tt.field)
		})
	}
}

// Each return rounds its own proportion down (floor(5 × 1/3) = 1 twice);
// the completing return takes the rest (3), so the three give back 5.
func TestReturnProportionRoundsDown(t *testing.T) {
	sale := &Evaluation{Lines: []LineResult{{Line: 1, Qty: 3, Paid: 100, PointsShare: 10, Earn: 5}}}
	r1, _ := ComputeReturn(sale, nil, []ReturnLine{{Line: 1, Qty: 1}})
	equal(t, "first third", r1.Lines[0], ReturnedLine{Line: 1, Qty: 1, Money: 33, PointsShare: 3, Earn: 1})
	r2, _ := ComputeReturn(sale, []ReturnResult{*r1}, []ReturnLine{{Line: 1, Qty: 1}})
	equal(t, "second third", r2.Lines[0], ReturnedLine{Line: 1, Qty: 1, Money: 33, PointsShare: 3, Earn: 1})
	r3, _ := ComputeReturn(sale, []ReturnResult{*r1, *r2}, []ReturnLine{{Line: 1, Qty: 1}})
	equal(t, "last third", r3.Lines[0], ReturnedLine{Line: 1, Qty: 1, Money: 34, PointsShare: 4, Earn: 3})
	equal(t, "complete", r3.Complete, true)
}
