package engine

// earnRate returns the first rate whose category is the line's category or
// "*", and false when none matches (the line earns nothing).
func (p *Programme) earnRate(category string) (EarnRate, bool) {
	for _, r := range p.Earn.Rates {
		if r.Category == category || r.Category == "*" {
			return r, true
		}
	}
	return EarnRate{}, false
}

// lineEarn is floor(paid × rate.points × card% × tier% × Π campaign% /
// (rate.per × 100^(2+len(campaignPcts)))): computed exactly and floored
// once (programme-v1, Earning). A missing or non-positive rate earns 0; a
// non-positive campaign percent makes the line earn 0. The percents of
// extraPcts multiply like campaignPcts (the caller passes invoice-level and
// item-level ones without joining them).
func lineEarn(paid Money, rate EarnRate, cardPct, tierPct int64, campaignPcts, extraPcts []int64) (Points, bool) {
	if paid <= 0 || rate.Points <= 0 || rate.Per <= 0 || cardPct <= 0 || tierPct <= 0 {
		return 0, true
	}
	var nb, db [16]int64
	nums := append(nb[:0], int64(paid), int64(rate.Points))
	dens := append(db[:0], int64(rate.Per))
	for _, set := range [...][]int64{{cardPct, tierPct}, campaignPcts, extraPcts} {
		for _, pct := range set {
			if pct <= 0 {
				return 0, true
			}
			n, d := reducePct(pct)
			nums, dens = append(nums, n), append(dens, d)
		}
	}
	q, ok := ratioFloor(nums, dens) // rounded down
	return Points(q), ok
}

// cashbackPoints is floor(paid × percent / (100 × point_value)): points
// worth that share of the money paid, not multiplied.
func cashbackPoints(paid Money, percent Decimal, pv Money) (Points, bool) {
	if paid <= 0 || percent.Units <= 0 || pv <= 0 {
		return 0, true
	}
	// A Decimal percent is units / (100 × 10^DecimalPlaces).
	q, ok := ratioFloor([]int64{int64(paid), percent.Units}, []int64{int64(pv), percentDecimalDen}) // rounded down
	return Points(q), ok
}
