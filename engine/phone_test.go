package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		raw, cc string
		want    string // "" for an error
	}{
		{"+91 98000-00001", "", "+919800000001"},
		{"+919800000001", "+91", "+919800000001"},
		{"0091 9800000001", "", "+919800000001"},
		{"0091 9800000001", "+44", "+919800000001"},
		{"09800000001", "+91", "+919800000001"},
		{"9800000001", "+91", "+919800000001"},
		{"(080) 1234.5678", "+91", "+918012345678"},
		{"+1 (415) 555-0100", "", "+14155550100"},
		{"07700 900123", "+44", "+447700900123"},
		{"+49 30 1234567", "", "+49301234567"},
		{"12345678", "+1", "+112345678"},
		{"+12345678", "", "+12345678"},               // 8 digits, the shortest
		{"+123456789012345", "", "+123456789012345"}, // 15 digits, the longest
		{"009800000001", "+91", "+9800000001"},       // 00 is always international
		{"0 0 9 1 9800000001", "", "+919800000001"},  // separators go first
		{"+1234567", "", ""},                         // 7 digits
		{"+1234567890123456", "", ""},                // 16 digits
		{"", "+91", ""},
		{"   ", "+91", ""},
		{"0", "+91", ""},
		{"+", "", ""},
		{"00", "", ""},
		{"9800000001", "", ""},      // national without a default country code
		{"09800000001", "", ""},     // likewise
		{"9800000001", "91", ""},    // malformed default country code
		{"9800000001", "+0", ""},    // country codes do not start with 0
		{"9800000001", "+1234", ""}, // nor have four digits
		{"98000abc01", "+91", ""},   // letters
		{"+91 98000 00001 ext 2", "", ""},
		{"+91+9800000001", "", ""},   // a second plus
		{"91+9800000001", "+91", ""}, // a plus in the middle
		{"+0919800000001", "", ""},   // first digit 0
		{"000919800000001", "", ""},  // 00 then a 0
		{"+91\t9800000001", "", ""},  // tabs are not separators
		{"+91 9800000001\n", "", ""},
		{"+٩١٩٨٠٠٠٠٠٠٠١", "", ""}, // only ASCII digits
		{"+91" + strings.Repeat(" ", MaxMobileBytes), "", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeMobile(tt.raw, tt.cc)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("NormalizeMobile(%q, %q) = %q, want an error", tt.raw, tt.cc, got)
		case tt.want == "" && !errors.Is(err, ErrInvalidMobile):
			t.Errorf("NormalizeMobile(%q, %q) error %v does not wrap ErrInvalidMobile", tt.raw, tt.cc, err)
		case tt.want == "" && got != "":
			t.Errorf("NormalizeMobile(%q, %q) returned %q with its error", tt.raw, tt.cc, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("NormalizeMobile(%q, %q) = %q, %v; want %q", tt.raw, tt.cc, got, err, tt.want)
		}
	}
}

// TestNormalizeMobileErrorsHideTheNumber: the number is personal data and
// errors end up in logs.
func TestNormalizeMobileErrorsHideTheNumber(t *testing.T) {
	for _, raw := range []string{"98765432", "+98765432109876543", "98765x4321"} {
		_, err := NormalizeMobile(raw, "")
		if err == nil {
			t.Fatalf("NormalizeMobile(%q) succeeded", raw)
		}
		if strings.Contains(err.Error(), "98765") {
			t.Errorf("error %q repeats the number", err)
		}
	}
}

func FuzzNormalizeMobile(f *testing.F) {
	for _, s := range []string{"+91 98000-00001", "0091 9800000001", "09800000001", "(080) 1234.5678", "", "+", "00", "abc"} {
		f.Add(s, "+91")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, raw, cc string) {
		got, err := NormalizeMobile(raw, cc)
		if err != nil {
			if !errors.Is(err, ErrInvalidMobile) || got != "" {
				t.Fatalf("NormalizeMobile(%q, %q) = %q, %v", raw, cc, got, err)
			}
			return
		}
		digits := strings.TrimPrefix(got, "+")
		if len(got) != len(digits)+1 || len(digits) < 8 || len(digits) > 15 || !allDigits(digits) || digits[0] == '0' {
			t.Fatalf("NormalizeMobile(%q, %q) = %q, not E.164", raw, cc, got)
		}
		// Normalising is idempotent, with or without a country code.
		for _, again := range []string{cc, ""} {
			if twice, err := NormalizeMobile(got, again); err != nil || twice != got {
				t.Fatalf("NormalizeMobile(%q, %q) = %q, %v; want it unchanged", got, again, twice, err)
			}
		}
	})
}
