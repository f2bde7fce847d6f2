package engine

import (
	"math"
	"math/big"
	"math/bits"
)

// Exact integer arithmetic for money and points. Every product is formed in
// 128 bits (math/bits), falling back to math/big when even that is not
// enough, so no intermediate ever overflows; each function names its
// rounding. Inputs are non-negative: callers clamp before calling.

// decimalScale is 10^DecimalPlaces, the number of Decimal units in one.
const decimalScale = 10_000

// percentDecimalDen turns "money × Decimal percent" into money: a percent
// is 1/100 and a Decimal unit is 1/decimalScale.
const percentDecimalDen = 100 * decimalScale

// mulDivFloor returns floor(a × b / c) for a, b ≥ 0 and c > 0, and false
// when the quotient does not fit an int64.
func mulDivFloor(a, b, c int64) (int64, bool) {
	q, _, ok := mulDivRem(a, b, c)
	return q, ok
}

// mulDivHalfUp returns a × b / c rounded half up (ties away from zero, the
// inputs being non-negative), and false when it does not fit an int64.
func mulDivHalfUp(a, b, c int64) (int64, bool) {
	q, r, ok := mulDivRem(a, b, c)
	if !ok {
		return 0, false
	}
	if r >= c-r { // 2r ≥ c without overflowing 2r
		if q == math.MaxInt64 {
			return 0, false
		}
		q++
	}
	return q, true
}

// mulDivRem returns the floor quotient and the remainder of a × b / c for
// a, b ≥ 0 and c > 0, computed in 128 bits.
func mulDivRem(a, b, c int64) (q, r int64, ok bool) {
	if a < 0 || b < 0 || c <= 0 {
		panic("engine: mulDivRem needs a, b ≥ 0 and c > 0")
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, 0, false // quotient ≥ 2^64
	}
	uq, ur := bits.Div64(hi, lo, uint64(c))
	if uq > math.MaxInt64 {
		return 0, 0, false
	}
	return int64(uq), int64(ur), true
}

// ratioFloor returns floor(Π nums / Π dens) for nums ≥ 0 and dens > 0,
// exactly, and false when the result does not fit an int64. The numerator
// is formed in 128 bits (math/big beyond) and divided by each factor of
// the denominator in turn.
func ratioFloor(nums, dens []int64) (int64, bool) {
	var hi, lo uint64 = 0, 1
	fast := true
	for _, n := range nums {
		if n < 0 {
			panic("engine: ratioFloor needs non-negative factors")
		}
		if n == 0 {
			return 0, true
		}
		h1, l1 := bits.Mul64(lo, uint64(n))
		h2, l2 := bits.Mul64(hi, uint64(n))
		var carry uint64
		h1, carry = bits.Add64(h1, l2, 0)
		if h2 != 0 || carry != 0 {
			fast = false
			break
		}
		hi, lo = h1, l1
	}
	if !fast {
		return ratioFloorBig(nums, dens)
	}
	// floor(floor(x / a) / b) = floor(x / (a × b)) for positive integers,
	// so dividing by one factor at a time is exact.
	for _, v := range dens {
		if v <= 0 {
			panic("engine: ratioFloor needs positive divisors")
		}
		qhi := hi / uint64(v)                             // rounded down, with the remainder carried below
		qlo, _ := bits.Div64(hi%uint64(v), lo, uint64(v)) // rounded down
		hi, lo = qhi, qlo
	}
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// ratioFloorBig is ratioFloor in math/big, for products beyond 128 bits
// (many stacked multipliers).
func ratioFloorBig(nums, dens []int64) (int64, bool) {
	num, den := big.NewInt(1), big.NewInt(1)
	var f big.Int
	for _, n := range nums {
		num.Mul(num, f.SetInt64(n))
	}
	for _, v := range dens {
		den.Mul(den, f.SetInt64(v))
	}
	num.Quo(num, den) // truncation is floor: both are non-negative
	if !num.IsInt64() {
		return 0, false
	}
	return num.Int64(), true
}

// reducePct returns pct/100 as a fraction in lowest terms (110% → 11/10),
// so that stacked multipliers stay within the 128-bit fast path.
func reducePct(pct int64) (num, den int64) {
	a, b := pct, int64(100)
	for b != 0 {
		a, b = b, a%b
	}
	if a <= 0 {
		return pct, 100
	}
	return pct / a, 100 / a // exact: a divides both
}

// addChecked returns a + b and false on int64 overflow.
func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// scaleThousand returns v × 1000 saturated to the int64 range: quantity
// bounds in whole units compared against thousandths.
func scaleThousand(v int64) int64 {
	switch {
	case v > math.MaxInt64/1000: // rounded down: the largest v that scales
		return math.MaxInt64
	case v < math.MinInt64/1000: // toward zero: the smallest v that scales
		return math.MinInt64
	}
	return v * 1000
}

// shareOut splits total among len(weights) parts in proportion to weights:
// every part but the last is floor(total × w / Σw), the last takes the
// remainder. If that puts the last part above its cap, the excess moves to
// the earlier parts, last first, each up to its cap. It requires
// 0 ≤ total ≤ Σ caps and total × w / Σw ≤ cap for every part but the last
// (true when total ≤ Σw and cap ≥ floor(w × total / Σw)); it panics
// otherwise, as that is a broken invariant of its callers.
func shareOut(total int64, weights, caps []int64) []int64 {
	out := make([]int64, len(weights))
	if total == 0 || len(weights) == 0 {
		if total != 0 {
			panic("engine: shareOut of a non-zero total among no parts")
		}
		return out
	}
	var sum int64
	for _, w := range weights {
		sum += w // callers bound Σw by MaxBasketLines × MaxLineMoney
	}
	if sum <= 0 {
		panic("engine: shareOut with no weight")
	}
	last := len(weights) - 1
	rest := total
	for i := 0; i < last; i++ {
		s, ok := mulDivFloor(total, weights[i], sum) // rounded down
		if !ok || s > caps[i] {
			panic("engine: shareOut share above its cap")
		}
		out[i] = s
		rest -= s
	}
	out[last] = rest
	if excess := out[last] - caps[last]; excess > 0 {
		out[last] = caps[last]
		for i := last - 1; i >= 0 && excess > 0; i-- {
			take := min(caps[i]-out[i], excess)
			out[i] += take
			excess -= take
		}
		if excess > 0 {
			panic("engine: shareOut total above the caps")
		}
	}
	return out
}
