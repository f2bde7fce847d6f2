package poslog

import (
	"errors"
	"fmt"
)

// Limits bound what Parse accepts, so that a hostile or broken file costs
// bounded memory and time. A zero Max field takes its default; MinorDigits
// is used as given.
type Limits struct {
	// MaxBytes caps the file size. Default 32 MiB: a busy store's day of
	// POSLog is a few MB (the sample day of one store is 0.9 MB).
	MaxBytes int64
	// MaxDepth caps element nesting. Default 64: POSLog nests about 8
	// deep, vendor extensions a few more.
	MaxDepth int
	// MaxLineItems caps the line items (sale, return, tender, tax, ...)
	// of one transaction, or the items of one bill. Default 10,000: a
	// supermarket trolley is a few hundred.
	MaxLineItems int
	// MaxTransactions caps transactions in one file. Default 100,000:
	// a file is at most a store's day.
	MaxTransactions int
	// MaxTokens caps XML tokens (elements, text, comments) in one file, so
	// that a file of tiny tokens cannot keep the parser busy within
	// MaxBytes. Default 8,000,000: the sample day is about 90,000.
	MaxTokens int
	// MinorDigits is the number of fraction digits of the currency
	// (2 for INR and USD, 0 for JPY): an amount with more nonzero fraction
	// digits is refused with ErrAmount. Used as given, 0 included;
	// DefaultLimits sets 2. Valid range 0 to 6.
	MinorDigits int
}

// The defaults of Limits; reasons at the fields.
const (
	DefaultMaxBytes        = 32 << 20
	DefaultMaxDepth        = 64
	DefaultMaxLineItems    = 10_000
	DefaultMaxTransactions = 100_000
	DefaultMaxTokens       = 8_000_000
	// maxMinorDigits keeps 10^digits and the amounts far from int64 limits.
	maxMinorDigits = 6
)

// DefaultLimits returns the default limits for a currency with two minor
// digits.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:        DefaultMaxBytes,
		MaxDepth:        DefaultMaxDepth,
		MaxLineItems:    DefaultMaxLineItems,
		MaxTransactions: DefaultMaxTransactions,
		MaxTokens:       DefaultMaxTokens,
		MinorDigits:     2,
	}
}

// withDefaults fills zero Max fields and reports every invalid field.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxLineItems == 0 {
		l.MaxLineItems = d.MaxLineItems
	}
	if l.MaxTransactions == 0 {
		l.MaxTransactions = d.MaxTransactions
	}
	if l.MaxTokens == 0 {
		l.MaxTokens = d.MaxTokens
	}
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBytes", l.MaxBytes},
		{"MaxDepth", int64(l.MaxDepth)},
		{"MaxLineItems", int64(l.MaxLineItems)},
		{"MaxTransactions", int64(l.MaxTransactions)},
		{"MaxTokens", int64(l.MaxTokens)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("poslog: limits: %s is negative (%d)", f.name, f.v))
		}
	}
	if l.MinorDigits < 0 || l.MinorDigits > maxMinorDigits {
		errs = append(errs, fmt.Errorf("poslog: limits: MinorDigits %d outside 0..%d", l.MinorDigits, maxMinorDigits))
	}
	return l, errors.Join(errs...)
}
