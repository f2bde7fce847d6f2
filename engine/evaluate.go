package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Limits on what one evaluation accepts. They keep every sum within int64
// (MaxBasketLines × MaxLineMoney = 10^18 < 2^63) so that only products
// need wider arithmetic, and they turn absurd input into invalid_params
// instead of an overflow.
const (
	// MaxBasketLines is the most lines one basket may have: far above any
	// real till basket, low enough that per-line work stays trivial.
	MaxBasketLines = 1000
	// MaxLineMoney bounds a line's unit price, amount and gross, in minor
	// units (10^15: ten trillion rupees in paise).
	MaxLineMoney Money = 1_000_000_000_000_000
	// MaxLineQty bounds a line's qty (and qty_milli / 1000): a billion
	// units is beyond any real line.
	MaxLineQty int64 = 1_000_000_000
)

// ErrNoProgramme is returned by Evaluate when EvalInput.Programme is nil.
var ErrNoProgramme = errors.New("engine: no programme to evaluate with")

// Evaluate prices a basket under a programme: it validates the lines,
// applies the campaigns valid at in.At (item level, then invoice level),
// shares the redeemed points among the lines and computes the points they
// earn. See DESIGN.md for the algorithm and the decisions where
// programme-v1 is silent.
//
// A request the programme refuses (malformed lines, an invalid free item
// pick, a redemption out of limits) returns a *Refusal as the error; a
// programme it cannot apply (a malformed campaign) returns another error.
func Evaluate(in EvalInput) (*Evaluation, error) {
	p := in.Programme
	if p == nil {
		return nil, ErrNoProgramme
	}
	lines, ref := validateLines(p, in.Basket.Lines)
	if ref != nil {
		return nil, ref
	}
	e := &evaluator{
		in:      &in,
		p:       p,
		lines:   lines,
		canEarn: in.Member != nil && in.Member.ConsentsOK,
		ev: &Evaluation{
			BillDiscounts:    []Discount{},
			FreeItems:        []FreeItem{},
			Choices:          []Choice{},
			Applied:          []string{},
			CouponsUsed:      []string{},
			ProgrammeVersion: p.Version,
		},
	}
	item, invoice, err := e.liveCampaigns()
	if err != nil {
		return nil, err
	}
	if err := e.runItemLevel(item); err != nil {
		return nil, err
	}
	if err := e.runInvoiceLevel(invoice); err != nil {
		return nil, err
	}
	if err := e.finish(); err != nil {
		return nil, err
	}
	return e.ev, nil
}

// lineState is one line while campaigns run over it.
type lineState struct {
	src       *Line
	pos       int // index in the basket as sent
	prod      Product
	known     bool  // the catalogue knows the SKU
	qtyMilli  int64 // quantity in thousandths, for qty conditions
	gross     Money
	net       Money // running net
	discounts []Discount
	pcts      []int64   // item-level points multipliers, percent
	cashback  []Decimal // item-level cashback percents
	bonus     Points
}

// evaluator carries one evaluation.
type evaluator struct {
	in       *EvalInput
	p        *Programme
	lines    []lineState // ascending line number: the last is the highest
	canEarn  bool        // a member with every required consent
	ev       *Evaluation
	billPcts []int64   // invoice-level points multipliers, percent
	billCash []Decimal // invoice-level cashback percents
	coupons  []string
	overflow bool // a points sum left int64; reported by finish
}

// liveCampaign is a campaign valid now and in scope, with the coupon code
// that unlocked it, if one was needed.
type liveCampaign struct {
	c      *Campaign
	coupon string
}

// liveCampaigns returns the campaigns that may apply to this sale, per
// level, in application order: ascending Order, ties by ID in byte order.
// Points rewards are left out when the sale cannot earn, so that a points
// campaign with stop never blocks a discount for an anonymous customer.
func (e *evaluator) liveCampaigns() (item, invoice []liveCampaign, err error) {
	at := newLocalMoment(e.in.At, e.p.Location)
	for i := range e.p.Campaigns {
		c := &e.p.Campaigns[i]
		kind, err := c.Reward.kind()
		if err != nil {
			return nil, nil, fmt.Errorf("engine: campaign %q: %w", c.ID, err)
		}
		if c.Level != LevelItem && c.Level != LevelInvoice {
			return nil, nil, fmt.Errorf("engine: campaign %q: unknown level %q", c.ID, c.Level)
		}
		ok, err := c.Valid.validAt(at)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: campaign %q: %w", c.ID, err)
		}
		if !ok || (kind.isPoints() && !e.canEarn) {
			continue
		}
		ok, coupon := c.inScope(e.in)
		if !ok {
			continue
		}
		if c.Level == LevelItem {
			item = append(item, liveCampaign{c, coupon})
		} else {
			invoice = append(invoice, liveCampaign{c, coupon})
		}
	}
	byOrder := func(a, b liveCampaign) int {
		return cmp.Or(cmp.Compare(a.c.Order, b.c.Order), cmp.Compare(a.c.ID, b.c.ID))
	}
	slices.SortStableFunc(item, byOrder)
	slices.SortStableFunc(invoice, byOrder)
	return item, invoice, nil
}

// runItemLevel applies the item-level campaigns to each line in turn: every
// campaign whose condition the line meets (on its running net and its
// quantity) applies to it once, until one with stop applies. Lines are
// independent at this level, so going line by line gives what going
// campaign by campaign would, and lets each line's discounts and
// multipliers share one backing array per evaluation.
func (e *evaluator) runItemLevel(campaigns []liveCampaign) error {
	if len(campaigns) == 0 {
		return nil
	}
	type progress struct {
		cands   []string // free-item candidates
		group   string
		skip    bool // a free-item reward with nothing to give
		matched int64
	}
	state := make([]progress, len(campaigns))
	for k, lc := range campaigns {
		if fi := lc.c.Reward.FreeItems; fi != nil {
			state[k].cands, state[k].group = e.p.freeCandidates(fi)
			state[k].skip = len(state[k].cands) == 0
		}
	}
	discounts := make([]Discount, 0, len(e.lines))
	var pcts []int64
	var cashback []Decimal
	for i := range e.lines {
		l := &e.lines[i]
		d0, p0, c0 := len(discounts), len(pcts), len(cashback)
		for k, lc := range campaigns {
			c := lc.c
			if state[k].skip || !c.Condition.Items.matches(&l.prod, l.known) ||
				!c.Condition.Value.contains(l.net) || !c.Condition.Qty.containsMilli(l.qtyMilli) {
				continue
			}
			state[k].matched++
			r := &c.Reward
			switch {
			case r.Percent != nil:
				discounts = l.take(discounts, c.ID, percentOf(l.net, *r.Percent))
			case r.AmountOff != nil:
				discounts = l.take(discounts, c.ID, min(max(*r.AmountOff, 0), l.net)) // never below zero
			case r.BonusPoints != nil:
				l.bonus = e.addPoints(l.bonus, max(*r.BonusPoints, 0))
			case r.PointsMultiplierPct != nil:
				pcts = append(pcts, *r.PointsMultiplierPct)
			case r.Cashback != nil:
				cashback = append(cashback, r.Cashback.Percent)
			}
			if c.Stop {
				break
			}
		}
		// Full slice expressions: a later line's appends never show here.
		l.discounts = discounts[d0:len(discounts):len(discounts)]
		l.pcts = pcts[p0:len(pcts):len(pcts)]
		l.cashback = cashback[c0:len(cashback):len(cashback)]
	}
	for k, lc := range campaigns {
		if state[k].matched == 0 {
			continue
		}
		if fi := lc.c.Reward.FreeItems; fi != nil {
			qty, ok := mulDivFloor(state[k].matched, fi.Qty, 1) // exact: divisor 1
			if !ok {
				return fmt.Errorf("engine: campaign %q: free item quantity overflows", lc.c.ID)
			}
			if ref := e.grantFree(lc.c, state[k].cands, state[k].group, qty); ref != nil {
				return ref
			}
		}
		e.markApplied(lc)
	}
	return nil
}

// take takes d off the line's running net and records it in discounts;
// zero discounts are not listed.
func (l *lineState) take(discounts []Discount, campaign string, d Money) []Discount {
	if d <= 0 {
		return discounts
	}
	l.net -= d
	return append(discounts, Discount{Campaign: campaign, Amount: d})
}

// runInvoiceLevel applies the invoice-level campaigns in order to the
// running bill: with condition.items, value and qty count the matching lines
// only and a discount is shared among them; without, every line.
func (e *evaluator) runInvoiceLevel(campaigns []liveCampaign) error {
	idx := make([]int, 0, len(e.lines))
	for _, lc := range campaigns {
		c := lc.c
		idx = idx[:0]
		var value Money
		var qty int64
		for i := range e.lines {
			l := &e.lines[i]
			if c.Condition.Items.matches(&l.prod, l.known) {
				idx = append(idx, i)
				value += l.net
				qty += l.qtyMilli
			}
		}
		if len(idx) == 0 || !c.Condition.Value.contains(value) || !c.Condition.Qty.containsMilli(qty) {
			continue
		}
		r := &c.Reward
		switch {
		case r.Percent != nil:
			e.shareBillDiscount(c.ID, idx, percentOf(value, *r.Percent))
		case r.AmountOff != nil:
			e.shareBillDiscount(c.ID, idx, min(max(*r.AmountOff, 0), value))
		case r.FreeItems != nil:
			cands, group := e.p.freeCandidates(r.FreeItems)
			if len(cands) == 0 {
				continue // nothing to give: the campaign does not apply
			}
			if ref := e.grantFree(c, cands, group, r.FreeItems.Qty); ref != nil {
				return ref
			}
		case r.BonusPoints != nil:
			e.ev.Bonus = e.addPoints(e.ev.Bonus, max(*r.BonusPoints, 0))
		case r.PointsMultiplierPct != nil:
			e.billPcts = append(e.billPcts, *r.PointsMultiplierPct)
		case r.Cashback != nil:
			e.billCash = append(e.billCash, r.Cashback.Percent)
		}
		e.markApplied(lc)
		if c.Stop {
			break
		}
	}
	return nil
}

// shareBillDiscount takes d (≤ the lines' running nets) off the lines idx
// in proportion to their running nets, rounded down, the last line (highest
// number) taking the remainder, no line below zero.
func (e *evaluator) shareBillDiscount(campaign string, idx []int, d Money) {
	if d <= 0 {
		return
	}
	nets := make([]int64, len(idx))
	for k, i := range idx {
		nets[k] = int64(e.lines[i].net)
	}
	shares := shareOut(int64(d), nets, nets)
	for k, i := range idx {
		e.lines[i].net -= Money(shares[k])
	}
	e.ev.BillDiscounts = append(e.ev.BillDiscounts, Discount{Campaign: campaign, Amount: d})
}

// markApplied lists the campaign as applied and its coupon as used.
func (e *evaluator) markApplied(lc liveCampaign) {
	e.ev.Applied = append(e.ev.Applied, lc.c.ID)
	if lc.coupon != "" {
		e.coupons = append(e.coupons, lc.coupon)
	}
}

// addPoints adds with an overflow flag that finish turns into an error.
func (e *evaluator) addPoints(a, b Points) Points {
	s, ok := addChecked(int64(a), int64(b))
	if !ok {
		e.overflow = true
	}
	return Points(s)
}

// percentOf is v × percent / 100 rounded half up to the minor unit, never
// more than v (a percent above 100 takes the whole value).
func percentOf(v Money, percent Decimal) Money {
	if v <= 0 || percent.Units <= 0 {
		return 0
	}
	d, ok := mulDivHalfUp(int64(v), percent.Units, percentDecimalDen) // rounded half up
	if !ok || d > int64(v) {
		return v
	}
	return Money(d)
}

// finish totals the bill, shares the redeemed points, and computes money
// paid, the earning tier, earn, bonus, cashback and the points offer.
func (e *evaluator) finish() error {
	ev, p, in := e.ev, e.p, e.in
	n := len(e.lines)
	nets := make([]int64, n)
	for i := range e.lines {
		l := &e.lines[i]
		nets[i] = int64(l.net)
		ev.Totals.Gross += l.gross
		ev.Totals.Net += l.net
	}
	ev.Totals.Discount = ev.Totals.Gross - ev.Totals.Net
	pv := p.Redeem.PointValue

	shares := make([]int64, n)
	if in.RedeemPoints != 0 {
		if ref := e.checkRedeem(nets); ref != nil {
			return ref
		}
		shares = redeemShares(in.RedeemPoints, nets, pv)
	}
	ev.Points.Redeem = in.RedeemPoints

	var billPaid Money
	paid := make([]Money, n)
	for i := range e.lines {
		paid[i] = Money(nets[i] - shares[i]*int64(pv)) // shares[i] × pv ≤ nets[i]
		billPaid += paid[i]
	}
	if m := in.Member; m != nil {
		spend, ok := addChecked(int64(m.SpendInWindow), int64(billPaid))
		if !ok {
			return errors.New("engine: member spend in window overflows")
		}
		ev.Tier = p.TierFor(Money(spend))
	}

	ev.Lines = make([]LineResult, n)
	var earn Points
	for i := range e.lines {
		l := &e.lines[i]
		lr := LineResult{
			Line: l.src.Line, SKU: l.src.SKU, Category: l.prod.Category,
			Qty: l.src.Qty, QtyMilli: l.src.QtyMilli,
			Gross: l.gross, Discounts: l.discounts, Net: l.net,
			PointsShare: Points(shares[i]), Paid: paid[i],
		}
		if lr.Discounts == nil {
			lr.Discounts = []Discount{}
		}
		if e.canEarn {
			lr.Earn = e.lineEarn(l, paid[i])
			lr.Bonus = l.bonus
			for _, pct := range l.cashback {
				ev.Cashback = e.addPoints(ev.Cashback, e.cashback(paid[i], pct))
			}
		}
		earn = e.addPoints(earn, lr.Earn)
		earn = e.addPoints(earn, lr.Bonus)
		ev.Lines[l.pos] = lr
	}
	if e.canEarn {
		for _, pct := range e.billCash {
			ev.Cashback = e.addPoints(ev.Cashback, e.cashback(billPaid, pct))
		}
	} else {
		ev.Bonus = 0
	}
	earn = e.addPoints(earn, ev.Bonus)
	earn = e.addPoints(earn, ev.Cashback)
	ev.Points.Earn = earn
	if e.overflow {
		return errors.New("engine: points overflow int64")
	}
	ev.Points.Redeemable, ev.Points.MaxRedeemPoints = e.redeemOffer(nets)

	slices.Sort(e.coupons)
	ev.CouponsUsed = append(ev.CouponsUsed, slices.Compact(e.coupons)...)
	return nil
}

// lineEarn is the line's earn at the earning tier with every multiplier
// that reaches it: card type, tier, invoice-level and its own item-level
// campaigns.
func (e *evaluator) lineEarn(l *lineState, paid Money) Points {
	rate, ok := e.p.earnRate(l.prod.Category)
	if !ok {
		return 0
	}
	m := e.in.Member
	pts, ok := lineEarn(paid, rate, e.p.cardMultiplierPct(m.CardType), e.p.tierMultiplierPct(e.ev.Tier), e.billPcts, l.pcts)
	if !ok {
		e.overflow = true
	}
	return pts
}

func (e *evaluator) cashback(paid Money, pct Decimal) Points {
	pts, ok := cashbackPoints(paid, pct, e.p.Redeem.PointValue)
	if !ok {
		e.overflow = true
	}
	return pts
}

// checkRedeem refuses a redemption that this bill cannot take, in the
// protocol's order: member, consent, limits; then, beyond the limits, the
// points must be worth no more than the bill and must spread over the
// lines in whole points without any line's share exceeding its net. The
// balance is the caller's (CheckRedemption).
func (e *evaluator) checkRedeem(nets []int64) *Refusal {
	in, p := e.in, e.p
	if in.RedeemPoints < 0 {
		return &Refusal{Reason: ReasonInvalidParams, Field: "redeem.points",
			Message: "points to redeem must not be negative"}
	}
	if in.Member == nil {
		return &Refusal{Reason: ReasonInvalidParams, Field: "member",
			Message: "a redemption needs an identified member"}
	}
	if !in.Member.ConsentsOK {
		return &Refusal{Reason: ReasonConsentRequired,
			Message: "the member has not given every required consent"}
	}
	if ref := checkRedeemLimits(p, e.ev.Totals.Net, in.RedeemPoints); ref != nil {
		return ref
	}
	worth, ok := mulDivFloor(int64(in.RedeemPoints), int64(p.Redeem.PointValue), 1) // exact: divisor 1
	if !ok || worth > int64(e.ev.Totals.Net) {
		return &Refusal{Reason: ReasonInvalidParams, Field: "redeem.points",
			Message: "the points are worth more than the bill"}
	}
	if c := redeemCapacity(nets, p.Redeem.PointValue); in.RedeemPoints > c {
		return &Refusal{Reason: ReasonInvalidParams, Field: "redeem.points",
			Message: fmt.Sprintf("at most %d whole points fit the lines of this bill", c),
			Details: map[string]any{"max_points": c}}
	}
	return nil
}

// redeemOffer is what the till may offer: the member's redeemable points
// and the most of them this bill takes, which is 0 below min_points.
func (e *evaluator) redeemOffer(nets []int64) (redeemable, most Points) {
	if !e.canEarn {
		return 0, 0
	}
	redeemable = max(e.in.Member.Redeemable, 0)
	pv := e.p.Redeem.PointValue
	if pv <= 0 {
		return redeemable, 0
	}
	most = min(redeemable, maxRedeemByShare(e.p, e.ev.Totals.Net),
		Points(e.ev.Totals.Net/pv), // rounded down: never worth more than the bill
		redeemCapacity(nets, pv))
	if most < e.p.Redeem.MinPoints {
		most = 0
	}
	return redeemable, most
}
