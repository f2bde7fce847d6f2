package poslog

import (
	"fmt"
	"math"
	"strings"

	"github.com/patron/patron/engine"
)

// maxQuantityUnits bounds a quantity's integer part so that thousandths
// and unit price × quantity stay far inside int64: no till sells a billion
// of anything on one line.
const maxQuantityUnits = 1_000_000_000

// decimal is a parsed decimal numeral: sign, integer digits, fraction digits.
type decimal struct {
	neg  bool
	intg string
	frac string
}

// parseDecimal accepts [+-]?[0-9]+(\.[0-9]+)? with XML whitespace around
// it, nothing else: no exponent, no grouping commas, no leading ".".
func parseDecimal(s string) (decimal, error) {
	s = strings.Trim(s, " \t\r\n")
	var d decimal
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	intg, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(intg) || (hasDot && !allDigits(frac)) {
		return decimal{}, fmt.Errorf("%q is not a decimal number: %w", s, ErrAmount)
	}
	d.intg = strings.TrimLeft(intg, "0")
	d.frac = frac
	return d, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseMoney converts a decimal currency amount exactly into minor units of
// a currency with minorDigits fraction digits. Fraction digits beyond
// minorDigits are accepted only when they are zeros ("3.490" is 349 cents);
// anything else is refused, never rounded.
func parseMoney(s string, minorDigits int) (engine.Money, error) {
	d, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	frac := d.frac
	if len(frac) > minorDigits {
		if strings.Trim(frac[minorDigits:], "0") != "" {
			return 0, fmt.Errorf("%q has %d fraction digits, the currency has %d: %w",
				strings.TrimSpace(s), len(frac), minorDigits, ErrAmount)
		}
		frac = frac[:minorDigits]
	}
	frac += strings.Repeat("0", minorDigits-len(frac))
	v, ok := digitsValue(d.intg + frac)
	if !ok {
		return 0, fmt.Errorf("%q is too large: %w", strings.TrimSpace(s), ErrAmount)
	}
	if d.neg {
		v = -v
	}
	return engine.Money(v), nil
}

// digitsValue is the value of a string of decimal digits, false on
// overflow.
func digitsValue(s string) (int64, bool) {
	var v int64
	for i := 0; i < len(s); i++ {
		digit := int64(s[i] - '0')
		if v > (math.MaxInt64-digit)/10 {
			return 0, false
		}
		v = v*10 + digit
	}
	return v, true
}

// quantity is a parsed quantity: units when integral, thousandths otherwise.
type quantity struct {
	units    int64
	milli    int64
	weighted bool // milli is set
}

// parseQuantity reads a decimal quantity. An integral value ("1", "4") is
// units; a value with a nonzero fraction ("0.65") is thousandths (650).
// More than three fraction digits are rounded half up on the magnitude
// (half away from zero): 0.0625 → 63, -0.0625 → -63. When weighed is set
// (a weight unit of measure) the value is thousandths even if integral.
func parseQuantity(s string, weighed bool) (quantity, error) {
	d, err := parseDecimal(s)
	if err != nil {
		return quantity{}, err
	}
	units, ok := digitsValue(d.intg)
	if !ok || units > maxQuantityUnits {
		return quantity{}, fmt.Errorf("quantity %q is too large: %w", strings.TrimSpace(s), ErrAmount)
	}
	frac := d.frac
	roundUp := false
	if len(frac) > 3 {
		roundUp = frac[3] >= '5'
		frac = frac[:3]
	}
	frac += strings.Repeat("0", 3-len(frac))
	milli, _ := digitsValue(frac)
	milli += units * 1000
	if roundUp {
		milli++
	}
	if d.neg {
		units, milli = -units, -milli
	}
	fractional := strings.Trim(d.frac, "0") != ""
	if !fractional && !weighed {
		return quantity{units: units}, nil
	}
	if milli == 0 {
		return quantity{}, fmt.Errorf("quantity %q rounds to zero thousandths: %w", strings.TrimSpace(s), ErrAmount)
	}
	return quantity{milli: milli, weighted: true}, nil
}
