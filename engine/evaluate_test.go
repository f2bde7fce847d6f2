package engine

import (
	"testing"
	"time"
)

// seedInvoiceProgramme is the programme of seed cases 1 and 2 and the first
// worked example of programme-v1.md.
func seedInvoiceProgramme() *Programme {
	return newProgramme(
		[]Product{prod("A1", "apparel", ""), prod("A2", "apparel", ""), prod("A3", "apparel", "")},
		Campaign{ID: "C1", Level: LevelInvoice, Order: 2,
			Condition: Condition{Value: between(100000, 200000)}, Reward: Reward{Percent: whole(2)}},
		Campaign{ID: "C2", Level: LevelInvoice, Order: 1,
			Condition: Condition{Value: between(150000, 200000)}, Reward: Reward{AmountOff: mp(7500)}},
	)
}

func seedItemProgramme() *Programme {
	item := ItemFilter{SKUs: []string{"000000007"}}
	return newProgramme(
		[]Product{prod("000000007", "appliances", "Electrical"), prod("GOLDCOIN", "gifts", "")},
		Campaign{ID: "C1", Level: LevelItem, Order: 1,
			Condition: Condition{Items: item, Value: between(75000, 100000)}, Reward: Reward{AmountOff: mp(1500)}},
		Campaign{ID: "C2", Level: LevelItem, Order: 2,
			Condition: Condition{Items: item, Value: between(70000, 140000)},
			Reward:    Reward{FreeItems: &FreeItems{SKUs: []string{"GOLDCOIN"}, Qty: 1}}},
	)
}

func seedFreeGroupProgramme() *Programme {
	return newProgramme(
		[]Product{prod("TV01", "appliances", "Electrical"), prod("IRON1", "appliances", "Electrical"),
			prod("LAMP1", "appliances", "Electrical"), prod("SOFA1", "home", "Furnishing")},
		Campaign{ID: "C9", Level: LevelInvoice, Order: 1,
			Condition: Condition{Value: between(1000000, 1200000)},
			Reward:    Reward{FreeItems: &FreeItems{Attributes: map[string][]string{"group": {"Electrical"}}, Qty: 1}}},
	)
}

// seedPointsProgramme is the programme of the last seed case.
func seedPointsProgramme() *Programme {
	p := newProgramme([]Product{prod("BK1", "books", ""), prod("PEN1", "stationery", "")})
	p.Earn.Rates = []EarnRate{{Category: "books", Points: 1, Per: 1000}, {Category: "*", Points: 1, Per: 2000}}
	p.Earn.CardTypes = map[string]CardType{"gold": {MultiplierPct: 150}, "classic": {MultiplierPct: 100}}
	p.Consents = []Consent{{ID: "sms_marketing"}}
	return p
}

// TestWorkedExamples runs every worked example of programme-v1.md and the
// basket.evaluate steps of seed-cases.json.
func TestWorkedExamples(t *testing.T) {
	tests := []struct {
		name          string
		p             *Programme
		lines         []Line
		choices       []FreeItemChoice
		wantTotals    Totals
		wantApplied   []string
		wantBill      []Discount
		wantFree      []FreeItem
		wantChoices   []Choice
		wantLineNets  []Money
		wantDiscounts [][]Discount
	}{
		{
			name:        "invoice: bill 176000, C2 then C1 on the running net",
			p:           seedInvoiceProgramme(),
			lines:       []Line{line(1, "A1", 1, 100000), line(2, "A2", 1, 76000)},
			wantTotals:  Totals{Gross: 176000, Discount: 10870, Net: 165130},
			wantApplied: []string{"C2", "C1"},
			wantBill:    []Discount{{"C2", 7500}, {"C1", 3370}},
			// C2: 7500 × 100000/176000 = 4261 (floor), line 2 takes 3239;
			// C1 on 95739 and 72761: 3370 × 95739/168500 = 1914, line 2 1456.
			wantLineNets: []Money{100000 - 4261 - 1914, 76000 - 3239 - 1456},
			wantFree:     []FreeItem{}, wantChoices: []Choice{},
		},
		{
			name:        "invoice: bill 132000, only C1",
			p:           seedInvoiceProgramme(),
			lines:       []Line{line(1, "A1", 1, 100000), line(2, "A3", 1, 32000)},
			wantTotals:  Totals{Gross: 132000, Discount: 2640, Net: 129360},
			wantApplied: []string{"C1"},
			wantBill:    []Discount{{"C1", 2640}},
			wantFree:    []FreeItem{}, wantChoices: []Choice{},
		},
		{
			name:          "item: net 88000, Rs 15 off and a gold coin",
			p:             seedItemProgramme(),
			lines:         []Line{line(1, "000000007", 1, 88000)},
			wantTotals:    Totals{Gross: 88000, Discount: 1500, Net: 86500},
			wantApplied:   []string{"C1", "C2"},
			wantBill:      []Discount{},
			wantFree:      []FreeItem{{"C2", "GOLDCOIN", 1}},
			wantChoices:   []Choice{},
			wantLineNets:  []Money{86500},
			wantDiscounts: [][]Discount{{{"C1", 1500}}},
		},
		{
			name:          "item: net 132000, only the gold coin",
			p:             seedItemProgramme(),
			lines:         []Line{line(1, "000000007", 1, 132000)},
			wantTotals:    Totals{Gross: 132000, Discount: 0, Net: 132000},
			wantApplied:   []string{"C2"},
			wantBill:      []Discount{},
			wantFree:      []FreeItem{{"C2", "GOLDCOIN", 1}},
			wantChoices:   []Choice{},
			wantDiscounts: [][]Discount{{}},
		},
		{
			name:        "free item from a group: a choice",
			p:           seedFreeGroupProgramme(),
			lines:       []Line{line(1, "TV01", 1, 1100000)},
			wantTotals:  Totals{Gross: 1100000, Net: 1100000},
			wantApplied: []string{"C9"},
			wantBill:    []Discount{},
			wantFree:    []FreeItem{},
			wantChoices: []Choice{{Campaign: "C9", Group: "Electrical", Qty: 1, SKUs: []string{"IRON1", "LAMP1", "TV01"}}},
		},
		{
			name:        "free item from a group: the pick",
			p:           seedFreeGroupProgramme(),
			lines:       []Line{line(1, "TV01", 1, 1100000)},
			choices:     []FreeItemChoice{{Campaign: "C9", SKU: "LAMP1", Qty: 1}},
			wantTotals:  Totals{Gross: 1100000, Net: 1100000},
			wantApplied: []string{"C9"},
			wantBill:    []Discount{},
			wantFree:    []FreeItem{{"C9", "LAMP1", 1}},
			wantChoices: []Choice{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := evalOK(t, EvalInput{Programme: tt.p, Basket: Basket{Lines: tt.lines},
				Store: "S001", FreeItemChoices: tt.choices})
			equal(t, "totals", ev.Totals, tt.wantTotals)
			equal(t, "applied", ev.Applied, tt.wantApplied)
			equal(t, "bill_discounts", ev.BillDiscounts, tt.wantBill)
			equal(t, "free_items", ev.FreeItems, tt.wantFree)
			equal(t, "choices", ev.Choices, tt.wantChoices)
			for i, want := range tt.wantLineNets {
				equal(t, "line net", ev.Lines[i].Net, want)
			}
			for i, want := range tt.wantDiscounts {
				equal(t, "line discounts", ev.Lines[i].Discounts, want)
			}
			equal(t, "programme version", ev.ProgrammeVersion, "test-1")
		})
	}
}

// TestSeedPointsCase is the last seed case as engine calls: earning by
// category and card type, redemption as a tender, a return in proportion,
// then a redemption above the balance.
func TestSeedPointsCase(t *testing.T) {
	p := seedPointsProgramme()
	basket := Basket{Lines: []Line{line(1, "BK1", 1, 45000), line(2, "PEN1", 1, 12000)}}
	gold := member("gold")

	sale1 := evalOK(t, EvalInput{Programme: p, Basket: basket, Member: gold})
	equal(t, "sale 1 earn", sale1.Points.Earn, Points(76)) // 67 + 9

	gold.Redeemable = 76
	if r := CheckRedemption(p, gold, sale1.Totals.Net, 40); r != nil {
		t.Fatalf("CheckRedemption(40): %v", r)
	}
	sale2 := evalOK(t, EvalInput{Programme: p, Basket: basket, Member: gold, RedeemPoints: 40})
	equal(t, "sale 2 earn", sale2.Points.Earn, Points(74))
	equal(t, "sale 2 shares", []Points{sale2.Lines[0].PointsShare, sale2.Lines[1].PointsShare}, []Points{31, 9})
	equal(t, "sale 2 paid", []Money{sale2.Lines[0].Paid, sale2.Lines[1].Paid}, []Money{44225, 11775})
	equal(t, "sale 2 earn per line", []Points{sale2.Lines[0].Earn, sale2.Lines[1].Earn}, []Points{66, 8})

	ret, err := ComputeReturn(sale2, nil, []ReturnLine{{Line: 1, Qty: 1}})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "clawed back", ret.ClawedBack, Points(66))
	equal(t, "refunded", ret.Refunded, Points(31))
	equal(t, "money", ret.Money, Money(44225))
	equal(t, "complete", ret.Complete, false)

	balance := Fold([]Entry{
		{Kind: EntryEarn, Points: sale1.Points.Earn},
		{Kind: EntryRedeem, Points: -40}, {Kind: EntryEarn, Points: sale2.Points.Earn},
		{Kind: EntryReturn, Points: ret.Refunded - ret.ClawedBack},
	})
	equal(t, "balance", balance, Points(75))

	gold.Redeemable = balance
	pen := Basket{Lines: []Line{line(1, "PEN1", 1, 12000)}}
	sale3 := evalOK(t, EvalInput{Programme: p, Basket: pen, Member: gold})
	r := CheckRedemption(p, gold, sale3.Totals.Net, 480)
	if r == nil || r.Reason != ReasonInsufficientPoints || r.Details["redeemable"] != Points(75) {
		t.Fatalf("CheckRedemption(480): got %+v, want insufficient_points with redeemable 75", r)
	}
}

func TestPercentHalfUp(t *testing.T) {
	tests := []struct {
		net     Money
		percent int64 // Decimal units
		want    Money
	}{
		{net: 100, percent: 25000, want: 3}, // 2.5% of 1.00 = 2.5 → 3
		{net: 99, percent: 25000, want: 2},  // 2.475 → 2
		{net: 20, percent: 25000, want: 1},  // 0.5 → 1
		{net: 19, percent: 25000, want: 0},  // 0.475 → 0
		{net: 176000, percent: 20000, want: 3520},
		{net: 1000, percent: 1_500_000, want: 1000}, // 150% takes the whole value
		{net: 0, percent: 25000, want: 0},
	}
	for _, tt := range tests {
		p := newProgramme(nil, Campaign{ID: "P", Level: LevelInvoice, Reward: Reward{Percent: pctp(tt.percent)}})
		ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "X", 1, tt.net)}}})
		if got := ev.Totals.Discount; got != tt.want {
			t.Errorf("%d × %d units: got %d, want %d", tt.net, tt.percent, got, tt.want)
		}
	}
}

func TestAmountOffClamp(t *testing.T) {
	p := newProgramme(nil,
		Campaign{ID: "I", Level: LevelItem, Order: 1, Reward: Reward{AmountOff: mp(5000)}},
		Campaign{ID: "B", Level: LevelInvoice, Order: 1, Reward: Reward{AmountOff: mp(100000)}},
	)
	ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{
		line(1, "X", 1, 3000), line(2, "Y", 1, 8000)}}})
	equal(t, "line 1 discounts", ev.Lines[0].Discounts, []Discount{{"I", 3000}})
	equal(t, "line 2 discounts", ev.Lines[1].Discounts, []Discount{{"I", 5000}})
	// The bill campaign meets a running net of 3000 and takes only that.
	equal(t, "bill discounts", ev.BillDiscounts, []Discount{{"B", 3000}})
	equal(t, "totals", ev.Totals, Totals{Gross: 11000, Discount: 11000, Net: 0})
	equal(t, "nets", []Money{ev.Lines[0].Net, ev.Lines[1].Net}, []Money{0, 0})
}

func TestStopAndOrderTies(t *testing.T) {
	tests := []struct {
		name      string
		campaigns []Campaign
		want      []string
		wantNet   Money
	}{
		{
			name: "ties by id in byte order",
			campaigns: []Campaign{
				{ID: "b", Level: LevelInvoice, Order: 1, Reward: Reward{AmountOff: mp(100)}},
				{ID: "B", Level: LevelInvoice, Order: 1, Reward: Reward{AmountOff: mp(100)}},
				{ID: "a", Level: LevelInvoice, Order: 0, Reward: Reward{AmountOff: mp(100)}},
			},
			want: []string{"a", "B", "b"}, wantNet: 9700,
		},
		{
			name: "invoice stop ends the invoice level",
			campaigns: []Campaign{
				{ID: "A", Level: LevelInvoice, Order: 1, Stop: true, Reward: Reward{AmountOff: mp(100)}},
				{ID: "B", Level: LevelInvoice, Order: 2, Reward: Reward{AmountOff: mp(100)}},
				{ID: "I", Level: LevelItem, Order: 9, Reward: Reward{AmountOff: mp(100)}},
			},
			want: []string{"I", "A"}, wantNet: 9800,
		},
		{
			name: "a stop that did not apply stops nothing",
			campaigns: []Campaign{
				{ID: "A", Level: LevelInvoice, Order: 1, Stop: true,
					Condition: Condition{Value: between(20000, -1)}, Reward: Reward{AmountOff: mp(100)}},
				{ID: "B", Level: LevelInvoice, Order: 2, Reward: Reward{AmountOff: mp(100)}},
			},
			want: []string{"B"}, wantNet: 9900,
		},
		{
			name: "item stop is per line and leaves the invoice level alone",
			campaigns: []Campaign{
				{ID: "I1", Level: LevelItem, Order: 1, Stop: true, Reward: Reward{AmountOff: mp(100)}},
				{ID: "I2", Level: LevelItem, Order: 2, Reward: Reward{AmountOff: mp(100)}},
				{ID: "B", Level: LevelInvoice, Order: 1, Reward: Reward{AmountOff: mp(100)}},
			},
			want: []string{"I1", "B"}, wantNet: 9800,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgramme(nil, tt.campaigns...)
			ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "X", 1, 10000)}}})
			equal(t, "applied", ev.Applied, tt.want)
			equal(t, "net", ev.Totals.Net, tt.wantNet)
		})
	}
}

func TestItemStopPerLine(t *testing.T) {
	p := newProgramme([]Product{prod("A", "a", ""), prod("B", "b", "")},
		Campaign{ID: "I1", Level: LevelItem, Order: 1, Stop: true,
			Condition: Condition{Items: ItemFilter{SKUs: []string{"A"}}}, Reward: Reward{AmountOff: mp(100)}},
		Campaign{ID: "I2", Level: LevelItem, Order: 2, Reward: Reward{AmountOff: mp(10)}},
	)
	ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "A", 1, 1000), line(2, "B", 1, 1000)}}})
	equal(t, "line 1", ev.Lines[0].Discounts, []Discount{{"I1", 100}})
	equal(t, "line 2", ev.Lines[1].Discounts, []Discount{{"I2", 10}})
	equal(t, "applied", ev.Applied, []string{"I1", "I2"})
}

// TestValidityInZone checks dates, days and hours at their boundaries in a
// zone east of UTC (Asia/Kolkata, +05:30).
func TestValidityInZone(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	c := Campaign{ID: "W", Level: LevelInvoice, Reward: Reward{AmountOff: mp(1)},
		Valid: Validity{From: "2026-06-01", To: "2026-06-30", Days: []string{"mon", "wed"}, Hours: []string{"09:00", "13:00"}}}
	p := newProgramme(nil, c)
	p.Location = ist
	night := newProgramme(nil, Campaign{ID: "N", Level: LevelInvoice, Reward: Reward{AmountOff: mp(1)},
		Valid: Validity{Hours: []string{"22:00", "02:00"}}})
	night.Location = ist
	tests := []struct {
		name string
		p    *Programme
		at   time.Time // local
		want bool
	}{
		{"start of the window", p, time.Date(2026, 6, 3, 9, 0, 0, 0, ist), true},
		{"a minute before", p, time.Date(2026, 6, 3, 8, 59, 59, 0, ist), false},
		{"last minute included", p, time.Date(2026, 6, 3, 13, 0, 59, 0, ist), true},
		{"after the last minute", p, time.Date(2026, 6, 3, 13, 1, 0, 0, ist), false},
		{"tuesday", p, time.Date(2026, 6, 2, 10, 0, 0, 0, ist), false},
		{"first date, monday", p, time.Date(2026, 6, 1, 10, 0, 0, 0, ist), true},
		{"last date is a tuesday", p, time.Date(2026, 6, 30, 10, 0, 0, 0, ist), false},
		{"after the last date (wed 1 jul)", p, time.Date(2026, 7, 1, 10, 0, 0, 0, ist), false},
		{"before the first date (wed 27 may)", p, time.Date(2026, 5, 27, 10, 0, 0, 0, ist), false},
		// 2026-06-01 03:30 UTC is 09:00 on Monday 1 June in Kolkata.
		{"UTC instant, local monday 09:00", p, time.Date(2026, 6, 1, 3, 30, 0, 0, time.UTC), true},
		// 2026-05-31 22:00 UTC is Monday 1 June 03:30 local: outside hours.
		{"UTC sunday, local monday night", p, time.Date(2026, 5, 31, 22, 0, 0, 0, time.UTC), false},
		{"over midnight: 23:30", night, time.Date(2026, 6, 3, 23, 30, 0, 0, ist), true},
		{"over midnight: 02:00", night, time.Date(2026, 6, 3, 2, 0, 30, 0, ist), true},
		{"over midnight: 12:00", night, time.Date(2026, 6, 3, 12, 0, 0, 0, ist), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := evalOK(t, EvalInput{Programme: tt.p, At: tt.at, Basket: Basket{Lines: []Line{line(1, "X", 1, 100)}}})
			if got := len(ev.Applied) == 1; got != tt.want {
				t.Errorf("applied at %v: got %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestMalformedValidityIsAnError(t *testing.T) {
	p := newProgramme(nil, Campaign{ID: "W", Level: LevelInvoice, Reward: Reward{AmountOff: mp(1)},
		Valid: Validity{Hours: []string{"9:00", "13:00"}}})
	_, err := Evaluate(EvalInput{Programme: p, At: testAt, Basket: Basket{Lines: []Line{line(1, "X", 1, 100)}}})
	if err == nil {
		t.Fatal("got no error for hours \"9:00\"")
	}
	if _, ok := err.(*Refusal); ok {
		t.Fatalf("a malformed programme is not a refusal: %v", err)
	}
}

func TestScopes(t *testing.T) {
	off := Reward{AmountOff: mp(100)}
	campaigns := []Campaign{
		{ID: "store", Level: LevelInvoice, Stores: []string{"S002"}, Reward: off},
		{ID: "members", Level: LevelInvoice, MembersOnly: true, Reward: off},
		{ID: "tier", Level: LevelInvoice, Tiers: []string{"gold"}, Reward: off},
		{ID: "group", Level: LevelInvoice, Groups: []string{"staff"}, Reward: off},
		{ID: "coupon", Level: LevelInvoice, CouponRequired: true, Reward: off},
		{ID: "category", Level: LevelItem, Condition: Condition{Items: ItemFilter{Categories: []string{"books"}}}, Reward: off},
		{ID: "unknown-sku", Level: LevelItem, Condition: Condition{Items: ItemFilter{SKUs: []string{"NOPE"}}}, Reward: off},
		{ID: "default-cat", Level: LevelItem, Condition: Condition{Items: ItemFilter{Categories: []string{"uncategorised"}}}, Reward: off},
	}
	p := newProgramme([]Product{prod("BK", "books", "")}, campaigns...)
	staffGold := member("")
	staffGold.Tier, staffGold.Groups = "gold", []string{"walk-in", "staff"}
	silver := member("")
	silver.Tier = "silver"
	tests := []struct {
		name    string
		store   string
		m       *MemberFacts
		coupons []AcceptedCoupon
		sku     string
		want    []string
		used    []string
	}{
		{name: "anonymous at S001", store: "S001", sku: "BK", want: []string{"category"}},
		{name: "store S002", store: "S002", sku: "BK", want: []string{"category", "store"}},
		{name: "silver member", store: "S001", m: silver, sku: "BK", want: []string{"category", "members"}},
		{name: "gold staff", store: "S001", m: staffGold, sku: "BK", want: []string{"category", "group", "members", "tier"}},
		{name: "coupon for another campaign", store: "S001", sku: "BK",
			coupons: []AcceptedCoupon{{Code: "X1", Campaign: "other"}}, want: []string{"category"}, used: []string{}},
		{name: "coupon", store: "S001", sku: "BK",
			coupons: []AcceptedCoupon{{Code: "Z9", Campaign: "coupon"}, {Code: "A1", Campaign: "coupon"}},
			want:    []string{"category", "coupon"}, used: []string{"A1"}},
		{name: "unknown sku is the default product", store: "S001", sku: "NOPE", want: []string{"default-cat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := evalOK(t, EvalInput{Programme: p, Store: tt.store, Member: tt.m, Coupons: tt.coupons,
				Basket: Basket{Lines: []Line{line(1, tt.sku, 1, 100000)}}})
			equal(t, "applied", ev.Applied, tt.want)
			if tt.used != nil {
				equal(t, "coupons used", ev.CouponsUsed, tt.used)
			}
		})
	}
}

func TestInvoiceItemsCountMatchingLinesOnly(t *testing.T) {
	p := newProgramme([]Product{prod("BK", "books", ""), prod("PN", "pens", "")},
		Campaign{ID: "B", Level: LevelInvoice,
			Condition: Condition{Items: ItemFilter{Categories: []string{"books"}}, Value: between(1000, 2000), Qty: QtyRange{Min: ip(2)}},
			Reward:    Reward{Percent: whole(10)}})
	ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{
		line(1, "BK", 1, 600), line(2, "PN", 1, 5000), line(3, "BK", 1, 900)}}})
	equal(t, "bill discounts", ev.BillDiscounts, []Discount{{"B", 150}})
	// 150 × 600/1500 = 60 on line 1, line 3 (the last matching) takes 90.
	equal(t, "nets", []Money{ev.Lines[0].Net, ev.Lines[1].Net, ev.Lines[2].Net}, []Money{540, 5000, 810})

	one := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "BK", 1, 1500), line(2, "PN", 1, 10)}}})
	equal(t, "qty 1 of books does not meet qty [2, null]", one.Applied, []string{})
}

func TestMultipliersCompose(t *testing.T) {
	p := newProgramme([]Product{prod("X", "x", "")},
		Campaign{ID: "M", Level: LevelInvoice, Reward: Reward{PointsMultiplierPct: ip(200)}})
	p.Earn.CardTypes = map[string]CardType{"gold": {MultiplierPct: 150}}
	p.Tiers = []Tier{{Name: "classic"}, {Name: "gold", MinSpend: 100000, MultiplierPct: 125}}
	m := member("gold")
	m.SpendInWindow = 95000 // this sale's 10000 crosses into gold
	ev := evalOK(t, EvalInput{Programme: p, Member: m, Basket: Basket{Lines: []Line{line(1, "X", 1, 10000)}}})
	equal(t, "tier", ev.Tier, "gold")
	// 10000 × 1 × 1.5 × 1.25 × 2 / 10000 = 3.75 → 3
	equal(t, "earn", ev.Points.Earn, Points(3))

	m.SpendInWindow = 0
	ev = evalOK(t, EvalInput{Programme: p, Member: m, Basket: Basket{Lines: []Line{line(1, "X", 1, 40000)}}})
	equal(t, "tier", ev.Tier, "classic")
	equal(t, "earn", ev.Points.Earn, Points(12)) // 4 × 1.5 × 2
}

func TestCashbackAndBonus(t *testing.T) {
	books := ItemFilter{Categories: []string{"books"}}
	p := newProgramme([]Product{prod("BK", "books", ""), prod("PN", "pens", "")},
		Campaign{ID: "IB", Level: LevelItem, Condition: Condition{Items: books}, Reward: Reward{BonusPoints: pp(10)}},
		Campaign{ID: "BB", Level: LevelInvoice, Order: 1, Reward: Reward{BonusPoints: pp(100)}},
		Campaign{ID: "CB", Level: LevelInvoice, Order: 2, Reward: Reward{Cashback: &Cashback{Percent: Decimal{Units: 25000}}}},
		Campaign{ID: "M", Level: LevelInvoice, Order: 3, Reward: Reward{PointsMultiplierPct: ip(300)}},
	)
	in := EvalInput{Programme: p, Member: member(""), Basket: Basket{Lines: []Line{
		line(1, "BK", 2, 50000), line(2, "PN", 1, 30000), line(3, "BK", 1, 10000)}}}
	ev := evalOK(t, in)
	equal(t, "line bonus", []Points{ev.Lines[0].Bonus, ev.Lines[1].Bonus, ev.Lines[2].Bonus}, []Points{10, 0, 10})
	equal(t, "bill bonus", ev.Bonus, Points(100))
	// 2.5% of 140000 = 3500 money = 140 points at 25; not multiplied.
	equal(t, "cashback", ev.Cashback, Points(140))
	// earn: 100000/10000 × 3 = 30, 9, 3.
	equal(t, "line earn", []Points{ev.Lines[0].Earn, ev.Lines[1].Earn, ev.Lines[2].Earn}, []Points{30, 9, 3})
	equal(t, "total", ev.Points.Earn, Points(30+9+3+10+10+100+140))

	in.Member = nil
	anon := evalOK(t, in)
	equal(t, "anonymous earn", anon.Points.Earn, Points(0))
	equal(t, "anonymous applied", anon.Applied, []string{})

	in.Member = member("")
	in.Member.ConsentsOK = false
	noConsent := evalOK(t, in)
	equal(t, "no consent earn", noConsent.Points, PointsOffer{})
}

func TestItemCashback(t *testing.T) {
	p := newProgramme([]Product{prod("BK", "books", "")},
		Campaign{ID: "C", Level: LevelItem, Condition: Condition{Items: ItemFilter{SKUs: []string{"BK"}}},
			Reward: Reward{Cashback: &Cashback{Percent: *whole(5)}}})
	ev := evalOK(t, EvalInput{Programme: p, Member: member(""), Basket: Basket{Lines: []Line{
		line(1, "BK", 1, 10499), line(2, "BK", 1, 10499), line(3, "X", 1, 10000)}}})
	// per line: floor(10499 × 5% / 25) = floor(20.998) = 20; per bill it would be 41.
	equal(t, "cashback", ev.Cashback, Points(40))
}

func TestGross(t *testing.T) {
	amount := Money(1234)
	tests := []struct {
		name string
		l    Line
		want Money
	}{
		{"units", Line{Line: 1, SKU: "X", Qty: 3, UnitPrice: 1999}, 5997},
		{"weighed half up", Line{Line: 1, SKU: "X", QtyMilli: 1500, UnitPrice: 333}, 500}, // 499.5 → 500
		{"weighed down", Line{Line: 1, SKU: "X", QtyMilli: 1499, UnitPrice: 333}, 499},    // 499.167
		{"weighed exact", Line{Line: 1, SKU: "X", QtyMilli: 250, UnitPrice: 8000}, 2000},  // 2000
		{"amount overrides", Line{Line: 1, SKU: "X", Qty: 3, UnitPrice: 1999, Amount: &amount}, 1234},
		{"zero price", Line{Line: 1, SKU: "X", Qty: 3}, 0},
	}
	p := newProgramme(nil)
	for _, tt := range tests {
		ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{tt.l}}})
		if got := ev.Lines[0].Gross; got != tt.want {
			t.Errorf("%s: gross %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestWeighedQtyCondition(t *testing.T) {
	p := newProgramme(nil, Campaign{ID: "Q", Level: LevelItem,
		Condition: Condition{Qty: QtyRange{Min: ip(1), Max: ip(2)}}, Reward: Reward{AmountOff: mp(1)}})
	for _, tt := range []struct {
		milli int64
		want  bool
	}{{999, false}, {1000, true}, {1500, true}, {2000, true}, {2001, false}} {
		ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{{Line: 1, SKU: "X", QtyMilli: tt.milli, UnitPrice: 1000}}}})
		if got := len(ev.Applied) == 1; got != tt.want {
			t.Errorf("qty_milli %d: applied %v, want %v", tt.milli, got, tt.want)
		}
	}
}

func TestLineValidation(t *testing.T) {
	neg := Money(-1)
	tests := []struct {
		name  string
		lines []Line
		field string
	}{
		{"no lines", nil, "basket.lines"},
		{"too many lines", make([]Line, MaxBasketLines+1), "basket.lines"},
		{"line zero", []Line{{Line: 0, SKU: "X", Qty: 1}}, "basket.lines[0].line"},
		{"duplicate", []Line{line(1, "X", 1, 1), line(2, "X", 1, 1), line(1, "Y", 1, 1)}, "basket.lines[2].line"},
		{"no sku", []Line{{Line: 1, Qty: 1}}, "basket.lines[0].sku"},
		{"no qty", []Line{{Line: 1, SKU: "X"}}, "basket.lines[0].qty"},
		{"negative qty", []Line{{Line: 1, SKU: "X", Qty: -1}}, "basket.lines[0].qty"},
		{"both qtys", []Line{{Line: 1, SKU: "X", Qty: 1, QtyMilli: 1}}, "basket.lines[0].qty_milli"},
		{"negative price", []Line{line(1, "X", 1, 5), line(2, "X", 1, -5)}, "basket.lines[1].unit_price"},
		{"negative amount", []Line{{Line: 1, SKU: "X", Qty: 1, Amount: &neg}}, "basket.lines[0].amount"},
		{"absurd amount", []Line{{Line: 1, SKU: "X", Qty: 1, Amount: mp(int64(MaxLineMoney) + 1)}}, "basket.lines[0].amount"},
		{"absurd gross", []Line{line(1, "X", MaxLineQty, 1_000_000_000)}, "basket.lines[0].unit_price"},
		{"absurd qty", []Line{line(1, "X", MaxLineQty+1, 1)}, "basket.lines[0].qty"},
	}
	p := newProgramme(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(EvalInput{Programme: p, At: testAt, Basket: Basket{Lines: tt.lines}})
			r := refusalOf(t, err)
			equal(t, "reason", r.Reason, ReasonInvalidParams)
			equal(t, "field", r.Field, tt.field)
		})
	}
}

func TestFreeItemChoiceValidation(t *testing.T) {
	p := seedFreeGroupProgramme()
	basket := Basket{Lines: []Line{line(1, "TV01", 1, 1100000)}}
	for _, picks := range [][]FreeItemChoice{
		{{Campaign: "C9", SKU: "SOFA1", Qty: 1}},
		{{Campaign: "C9", SKU: "LAMP1", Qty: 2}},
		{{Campaign: "C9", SKU: "LAMP1", Qty: 0}},
	} {
		_, err := Evaluate(EvalInput{Programme: p, At: testAt, Basket: basket, FreeItemChoices: picks})
		r := refusalOf(t, err)
		equal(t, "field", r.Field, "free_item_choices")
	}
	// A pick for a campaign that does not apply is ignored.
	ev := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "TV01", 1, 100)}},
		FreeItemChoices: []FreeItemChoice{{Campaign: "C9", SKU: "LAMP1", Qty: 1}}})
	equal(t, "free items", ev.FreeItems, []FreeItem{})
}

func TestItemFreeItemsPerLine(t *testing.T) {
	p := newProgramme([]Product{prod("A", "a", ""), prod("G1", "gift", "Gift"), prod("G2", "gift", "Gift")},
		Campaign{ID: "F", Level: LevelItem, Condition: Condition{Items: ItemFilter{SKUs: []string{"A"}}},
			Reward: Reward{FreeItems: &FreeItems{Attributes: map[string][]string{"group": {"Gift"}}, Qty: 1}}})
	basket := Basket{Lines: []Line{line(1, "A", 1, 100), line(2, "A", 3, 100), line(3, "B", 1, 100)}}
	ev := evalOK(t, EvalInput{Programme: p, Basket: basket})
	equal(t, "choices", ev.Choices, []Choice{{Campaign: "F", Group: "Gift", Qty: 2, SKUs: []string{"G1", "G2"}}})
	ev = evalOK(t, EvalInput{Programme: p, Basket: basket, FreeItemChoices: []FreeItemChoice{
		{Campaign: "F", SKU: "G2", Qty: 1}, {Campaign: "F", SKU: "G1", Qty: 1}}})
	equal(t, "free items", ev.FreeItems, []FreeItem{{"F", "G1", 1}, {"F", "G2", 1}})
	equal(t, "totals unchanged", ev.Totals, Totals{Gross: 500, Net: 500})
}

func TestLineOrderDoesNotMatter(t *testing.T) {
	p := seedInvoiceProgramme()
	a := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "A1", 1, 100000), line(2, "A2", 1, 76000)}}})
	b := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(2, "A2", 1, 76000), line(1, "A1", 1, 100000)}}})
	equal(t, "line 1", b.Lines[1], a.Lines[0])
	equal(t, "line 2", b.Lines[0], a.Lines[1])
}

func TestRedemptionInEvaluate(t *testing.T) {
	p := newProgramme(nil)
	p.Redeem.MinPoints = 10
	p.Redeem.MaxSharePct = 50
	basket := Basket{Lines: []Line{line(1, "X", 1, 10000)}}
	tests := []struct {
		name   string
		m      *MemberFacts
		points Points
		reason string
		field  string
	}{
		{"anonymous", nil, 10, ReasonInvalidParams, "member"},
		{"no consent", &MemberFacts{Redeemable: 100}, 10, ReasonConsentRequired, ""},
		{"below min", member(""), 9, ReasonInvalidParams, "redeem.points"},
		{"above share", member(""), 201, ReasonInvalidParams, "redeem.points"}, // 50% of 10000 = 200 points
		{"negative", member(""), -1, ReasonInvalidParams, "redeem.points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(EvalInput{Programme: p, At: testAt, Basket: basket, Member: tt.m, RedeemPoints: tt.points})
			r := refusalOf(t, err)
			equal(t, "reason", r.Reason, tt.reason)
			equal(t, "field", r.Field, tt.field)
		})
	}
	ev := evalOK(t, EvalInput{Programme: p, Basket: basket, Member: member("")})
	equal(t, "offer", ev.Points, PointsOffer{Earn: 1, Redeemable: 1_000_000, MaxRedeemPoints: 200})
	ev = evalOK(t, EvalInput{Programme: p, Basket: basket, Member: member(""), RedeemPoints: 200})
	equal(t, "paid", ev.Lines[0].Paid, Money(5000))
	equal(t, "redeem", ev.Points.Redeem, Points(200))
	small := evalOK(t, EvalInput{Programme: p, Basket: Basket{Lines: []Line{line(1, "X", 1, 400)}}, Member: member("")})
	equal(t, "max below min_points is 0", small.Points.MaxRedeemPoints, Points(0))
}

// TestRedemptionExcess: the last line's remainder share would be worth
// more than its net, so the excess moves to earlier lines, last first.
func TestRedemptionExcess(t *testing.T) {
	p := newProgramme(nil)
	p.Redeem.PointValue = 100
	basket := Basket{Lines: []Line{line(1, "X", 1, 1000), line(2, "X", 1, 1000), line(3, "X", 1, 150)}}
	// 21 points × 100 = 2100 ≤ 2150. Floors: 21×1000/2150 = 9, 9; the last
	// would take 3 (300 > 150): it keeps 1, line 2 takes 1, line 1 takes 1.
	ev := evalOK(t, EvalInput{Programme: p, Basket: basket, Member: member(""), RedeemPoints: 21})
	equal(t, "shares", []Points{ev.Lines[0].PointsShare, ev.Lines[1].PointsShare, ev.Lines[2].PointsShare}, []Points{10, 10, 1})
	equal(t, "paid", []Money{ev.Lines[0].Paid, ev.Lines[1].Paid, ev.Lines[2].Paid}, []Money{0, 0, 50})

	// Lines each worth less than a point cannot take whole points.
	_, err := Evaluate(EvalInput{Programme: p, At: testAt, Member: member(""), RedeemPoints: 1,
		Basket: Basket{Lines: []Line{line(1, "X", 1, 60), line(2, "X", 1, 60)}}})
	equal(t, "field", refusalOf(t, err).Field, "redeem.points")
}

func TestEvaluateArraysNeverNil(t *testing.T) {
	ev := evalOK(t, EvalInput{Programme: newProgramme(nil), Basket: Basket{Lines: []Line{line(1, "X", 1, 1)}}})
	if ev.BillDiscounts == nil || ev.FreeItems == nil || ev.Choices == nil || ev.Applied == nil ||
		ev.CouponsUsed == nil || ev.Lines == nil || ev.Lines[0].Discounts == nil {
		t.Fatalf("nil array in %+v", ev)
	}
}

func TestNoProgramme(t *testing.T) {
	if _, err := Evaluate(EvalInput{}); err != ErrNoProgramme {
		t.Fatalf("got %v, want ErrNoProgramme", err)
	}
}
