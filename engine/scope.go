package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// localMoment is the evaluation time in the programme's zone, reduced to
// what validity windows look at.
type localMoment struct {
	date    int // yyyymmdd
	weekday time.Weekday
	minute  int // minutes since local midnight, seconds dropped
}

func newLocalMoment(at time.Time, loc *time.Location) localMoment {
	if loc == nil {
		loc = time.UTC
	}
	t := at.In(loc)
	y, m, d := t.Date()
	return localMoment{
		date:    y*10000 + int(m)*100 + d,
		weekday: t.Weekday(),
		minute:  t.Hour()*60 + t.Minute(),
	}
}

// validAt reports whether the validity window contains the moment. Dates
// are inclusive local dates; hours are inclusive at minute granularity
// (["09:00", "13:00"] covers 09:00:00 to 13:00:59), and a window whose
// start is after its end runs over midnight. It errors on a malformed
// window rather than guessing.
func (v *Validity) validAt(at localMoment) (bool, error) {
	if v.From != "" {
		from, ok := parseDate(v.From)
		if !ok {
			return false, fmt.Errorf("valid.from %q is not YYYY-MM-DD", v.From)
		}
		if at.date < from {
			return false, nil
		}
	}
	if v.To != "" {
		to, ok := parseDate(v.To)
		if !ok {
			return false, fmt.Errorf("valid.to %q is not YYYY-MM-DD", v.To)
		}
		if at.date > to {
			return false, nil
		}
	}
	if len(v.Days) > 0 {
		found := false
		for _, name := range v.Days {
			d, ok := parseDay(name)
			if !ok {
				return false, fmt.Errorf("valid.days: unknown day %q", name)
			}
			found = found || d == at.weekday
		}
		if !found {
			return false, nil
		}
	}
	if len(v.Hours) > 0 {
		if len(v.Hours) != 2 {
			return false, fmt.Errorf("valid.hours needs [from, to], got %d values", len(v.Hours))
		}
		from, ok1 := parseHourMinute(v.Hours[0])
		to, ok2 := parseHourMinute(v.Hours[1])
		if !ok1 || !ok2 {
			return false, fmt.Errorf("valid.hours %q is not [\"HH:MM\", \"HH:MM\"]", v.Hours)
		}
		if from <= to {
			return from <= at.minute && at.minute <= to, nil
		}
		return at.minute >= from || at.minute <= to, nil // over midnight
	}
	return true, nil
}

func parseDay(name string) (time.Weekday, bool) {
	switch strings.ToLower(name) {
	case "sun":
		return time.Sunday, true
	case "mon":
		return time.Monday, true
	case "tue":
		return time.Tuesday, true
	case "wed":
		return time.Wednesday, true
	case "thu":
		return time.Thursday, true
	case "fri":
		return time.Friday, true
	case "sat":
		return time.Saturday, true
	}
	return 0, false
}

// parseDate reads "YYYY-MM-DD" as yyyymmdd without allocating.
func parseDate(s string) (int, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, false
	}
	return y*10000 + m*100 + d, true
}

// parseHourMinute reads "HH:MM" as minutes since midnight; "24:00" is
// accepted as the end of the day.
func parseHourMinute(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	if !ok1 || !ok2 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// inScope reports whether the campaign's store, member, tier, group and
// coupon scopes admit this sale; coupon is the presented code that unlocks
// it ("" when none is needed or none was presented).
func (c *Campaign) inScope(in *EvalInput) (ok bool, coupon string) {
	if len(c.Stores) > 0 && !slices.Contains(c.Stores, in.Store) {
		return false, ""
	}
	m := in.Member
	if c.MembersOnly && m == nil {
		return false, ""
	}
	if len(c.Tiers) > 0 && (m == nil || !slices.Contains(c.Tiers, m.Tier)) {
		return false, ""
	}
	if len(c.Groups) > 0 {
		if m == nil || !slices.ContainsFunc(m.Groups, func(g string) bool { return slices.Contains(c.Groups, g) }) {
			return false, ""
		}
	}
	if c.CouponRequired {
		// The smallest code in byte order, so the choice does not depend on
		// the order the till presented the codes in.
		for _, ac := range in.Coupons {
			if ac.Campaign == c.ID && (coupon == "" || ac.Code < coupon) {
				coupon = ac.Code
			}
		}
		if coupon == "" {
			return false, ""
		}
	}
	return true, coupon
}

// matches reports whether a line's product passes the filter. Unknown SKUs
// (known false) never match a SKU list: they are the default product and
// match only category and attribute rules that the default product meets.
func (f *ItemFilter) matches(prod *Product, known bool) bool {
	if len(f.SKUs) > 0 && (!known || !slices.Contains(f.SKUs, prod.SKU)) {
		return false
	}
	if len(f.Categories) > 0 && !slices.Contains(f.Categories, prod.Category) {
		return false
	}
	return attributesMatch(f.Attributes, prod.Attributes)
}

// empty reports whether the filter selects every line.
func (f *ItemFilter) empty() bool {
	return len(f.SKUs) == 0 && len(f.Categories) == 0 && len(f.Attributes) == 0
}

// attributesMatch: every attribute named with at least one value must have
// one of those values. Map order does not matter: the result is an AND.
func attributesMatch(want map[string][]string, have map[string]string) bool {
	if len(want) == 0 {
		return true // the common case; skips starting a map iteration
	}
	for k, vals := range want {
		if len(vals) == 0 {
			continue
		}
		v, ok := have[k]
		if !ok || !slices.Contains(vals, v) {
			return false
		}
	}
	return true
}

// contains reports whether v is within the inclusive range.
func (r *MoneyRange) contains(v Money) bool {
	return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

// containsMilli reports whether a quantity in thousandths of a unit is
// within the range, whose bounds are whole units: exact, no rounding, so
// 1.5 kg is within [1, null] and not within [2, null].
func (r *QtyRange) containsMilli(qtyMilli int64) bool {
	return (r.Min == nil || qtyMilli >= scaleThousand(*r.Min)) &&
		(r.Max == nil || qtyMilli <= scaleThousand(*r.Max))
}
