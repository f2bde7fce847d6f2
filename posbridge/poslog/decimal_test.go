package poslog

import (
	"errors"
	"testing"

	"github.com/patron/patron/engine"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in     string
		digits int
		want   engine.Money
		ok     bool
	}{
		{"3.49", 2, 349, true},
		{"-1.00", 2, -100, true},
		{" 0.5\n", 2, 50, true},
		{"+12", 2, 1200, true},
		{"1234.50", 2, 123450, true},
		{"3.490", 2, 349, true}, // trailing zeros are exact
		{"007.10", 2, 710, true},
		{"1200", 0, 1200, true},
		{"12.5", 3, 12500, true},
		{"92233720368547758.07", 2, 9223372036854775807, true},
		{"92233720368547758.08", 2, 0, false}, // overflows int64
		{"3.499", 2, 0, false},                // never rounded
		{"1,234.50", 2, 0, false},
		{"1e3", 2, 0, false},
		{".5", 2, 0, false},
		{"5.", 2, 0, false},
		{"", 2, 0, false},
		{"-", 2, 0, false},
		{"--1", 2, 0, false},
		{"1.5", 0, 0, false},
		{"NaN", 2, 0, false},
		{"1 000", 2, 0, false},
		{"٣.٤٩", 2, 0, false}, // non-ASCII digits
	}
	for _, tt := range tests {
		got, err := parseMoney(tt.in, tt.digits)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("parseMoney(%q, %d) = %d, %v; want %d", tt.in, tt.digits, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrAmount) {
			t.Errorf("parseMoney(%q, %d) = %d, %v; want ErrAmount", tt.in, tt.digits, got, err)
		}
	}
}

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in      string
		weighed bool
		units   int64
		milli   int64
		ok      bool
	}{
		{"1", false, 1, 0, true},
		{"4", false, 4, 0, true},
		{"2.00", false, 2, 0, true}, // integral value: units
		{"-1", false, -1, 0, true},
		{"0.65", false, 0, 650, true},
		{"1.47", false, 0, 1470, true},
		{"-7.21", false, 0, -7210, true},
		{"1.250", false, 0, 1250, true},
		{"1", true, 0, 1000, true}, // a weight unit of measure
		{"1.00", true, 0, 1000, true},
		// Beyond three fraction digits: half up on the magnitude.
		{"0.0625", false, 0, 63, true},
		{"0.0624", false, 0, 62, true},
		{"-0.0625", false, 0, -63, true},
		{"2.9995", false, 0, 3000, true},
		{"0.0004", false, 0, 0, false}, // rounds to nothing
		{"0", true, 0, 0, false},
		{"1000000001", false, 0, 0, false},
		{"1.2.3", false, 0, 0, false},
		{"1e2", false, 0, 0, false},
	}
	for _, tt := range tests {
		got, err := parseQuantity(tt.in, tt.weighed)
		if tt.ok && (err != nil || got.units != tt.units || got.milli != tt.milli) {
			t.Errorf("parseQuantity(%q, %v) = %+v, %v; want units %d milli %d", tt.in, tt.weighed, got, err, tt.units, tt.milli)
		}
		if !tt.ok && !errors.Is(err, ErrAmount) {
			t.Errorf("parseQuantity(%q, %v) = %+v, %v; want ErrAmount", tt.in, tt.weighed, got, err)
		}
	}
}
