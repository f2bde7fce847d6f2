package engine

import "fmt"

// CheckRedemption decides whether member m may spend points on a bill whose
// net (after every discount) is billNet. The checks run in the protocol's
// order and the first failure is returned: the member (nil →
// invalid_params, field "member"), consent (consent_required), the
// programme's limits (below min_points, or above max_share_pct of the bill
// net → invalid_params, field "redeem.points"), then the balance (more than
// m.Redeemable → insufficient_points with details.redeemable). It returns
// nil when the redemption may go ahead; OTP and offline allowance are the
// caller's.
func CheckRedemption(p *Programme, m *MemberFacts, billNet Money, points Points) *Refusal {
	if m == nil {
		return &Refusal{Reason: ReasonInvalidParams, Field: "member",
			Message: "a redemption needs an identified member"}
	}
	if !m.ConsentsOK {
		return &Refusal{Reason: ReasonConsentRequired,
			Message: "the member has not given every required consent"}
	}
	if r := checkRedeemLimits(p, billNet, points); r != nil {
		return r
	}
	if points > m.Redeemable {
		return &Refusal{Reason: ReasonInsufficientPoints,
			Message: fmt.Sprintf("%d points asked, %d redeemable", points, m.Redeemable),
			Details: map[string]any{"redeemable": m.Redeemable}}
	}
	return nil
}

// checkRedeemLimits applies min_points and max_share_pct to a redemption of
// points (> 0 expected; ≤ 0 is refused too) on a bill of billNet.
func checkRedeemLimits(p *Programme, billNet Money, points Points) *Refusal {
	limit := func(msg string, details map[string]any) *Refusal {
		return &Refusal{Reason: ReasonInvalidParams, Field: "redeem.points",
			Message: msg, Details: details}
	}
	if points <= 0 {
		return limit("points to redeem must be positive", nil)
	}
	if p.Redeem.PointValue <= 0 {
		return limit("the programme gives points no value", nil)
	}
	if points < p.Redeem.MinPoints {
		return limit(fmt.Sprintf("at least %d points must be redeemed", p.Redeem.MinPoints),
			map[string]any{"min_points": p.Redeem.MinPoints})
	}
	if most := maxRedeemByShare(p, billNet); points > most {
		return limit(fmt.Sprintf("at most %d points may be redeemed on this bill", most),
			map[string]any{"max_points": most})
	}
	return nil
}

// maxRedeemByShare is floor(billNet × max_share_pct / (100 × point_value)),
// the most points max_share_pct allows on the bill (0 when points have no
// value). max_share_pct 0 reads as "not set", that is 100, like the other
// percent settings.
func maxRedeemByShare(p *Programme, billNet Money) Points {
	pv := p.Redeem.PointValue
	if pv <= 0 || billNet <= 0 {
		return 0
	}
	pct := pctOrHundred(p.Redeem.MaxSharePct)
	q, ok := ratioFloor([]int64{int64(billNet), pct}, []int64{int64(pv), 100}) // rounded down
	if !ok {
		panic("engine: max redeem points overflow") // billNet ≤ 10^18, pct small: cannot happen
	}
	return Points(q)
}

// redeemCapacity is how many whole points the lines can absorb without a
// line's points share being worth more than its net: Σ floor(net / pv).
func redeemCapacity(nets []int64, pv Money) Points {
	if pv <= 0 {
		return 0
	}
	var c int64
	for _, n := range nets {
		c += n / int64(pv) // rounded down: a line takes whole points only
	}
	return Points(c)
}

// redeemShares shares points among lines in proportion to their nets,
// each share rounded down, the last line taking the remainder, and any
// excess of the last share over its net moved to the earlier lines, last
// first, each up to its net (programme-v1, Earning). The caller ensures
// points × pv ≤ Σ nets and points ≤ redeemCapacity.
func redeemShares(points Points, nets []int64, pv Money) []int64 {
	caps := make([]int64, len(nets))
	for i, n := range nets {
		caps[i] = n / int64(pv) // rounded down: whole points within the net
	}
	return shareOut(int64(points), nets, caps)
}
