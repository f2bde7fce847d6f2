package engine

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidMobile is wrapped by every error from NormalizeMobile: the
// text is not a mobile number the normalisation rules accept.
var ErrInvalidMobile = errors.New("engine: invalid mobile number")

// MaxMobileBytes bounds the raw text NormalizeMobile looks at: the longest
// E.164 number, 16 bytes, fits four times over with any formatting a till
// adds, and nothing longer is worth scanning.
const MaxMobileBytes = 64

// E.164 allows at most 15 digits, country code included; 8 is the
// shortest the programme's markets use.
const (
	minMobileDigits = 8
	maxMobileDigits = 15
)

// NormalizeMobile turns a mobile number as typed at a till into E.164,
// the member id (pos-protocol-v1.md): spaces, dashes, dots and parentheses
// are dropped; a leading "00" becomes "+"; a number without "+" is
// national and gets defaultCountryCode (like "+91") after dropping one
// leading "0". The result is "+" and 8 to 15 digits, the first not 0.
// Anything else, and a national number without a default country code,
// is an error wrapping ErrInvalidMobile. Errors do not repeat the number,
// which is personal data.
func NormalizeMobile(raw, defaultCountryCode string) (string, error) {
	if len(raw) > MaxMobileBytes {
		return "", fmt.Errorf("engine: mobile number longer than %d bytes: %w", MaxMobileBytes, ErrInvalidMobile)
	}
	var b strings.Builder
	b.Grow(len(raw) + len(defaultCountryCode))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+' && b.Len() == 0:
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("engine: mobile number may hold only digits, a leading '+', spaces, dashes, dots and parentheses: %w", ErrInvalidMobile)
		}
	}
	s := b.String()
	switch {
	case strings.HasPrefix(s, "+"):
	case strings.HasPrefix(s, "00"):
		s = "+" + s[2:]
	case defaultCountryCode == "":
		return "", fmt.Errorf("engine: national mobile number without a default country code: %w", ErrInvalidMobile)
	case !isCountryCode(defaultCountryCode):
		return "", fmt.Errorf("engine: default country code is not \"+\" and 1 to 3 digits: %w", ErrInvalidMobile)
	default:
		s = defaultCountryCode + strings.TrimPrefix(s, "0")
	}
	digits := s[1:]
	if n := len(digits); n < minMobileDigits || n > maxMobileDigits {
		return "", fmt.Errorf("engine: mobile number has %d digits, want %d to %d: %w", n, minMobileDigits, maxMobileDigits, ErrInvalidMobile)
	}
	if digits[0] == '0' {
		return "", fmt.Errorf("engine: mobile country code starts with 0: %w", ErrInvalidMobile)
	}
	return s, nil
}

// isCountryCode reports whether s is a calling code like "+91": "+" and
// 1 to 3 digits, the first not 0.
func isCountryCode(s string) bool {
	if len(s) < 2 || len(s) > 4 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return allDigits(s[1:])
}
