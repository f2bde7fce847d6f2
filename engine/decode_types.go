package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// JSON forms of the programme types that are not plain structs. Each
// UnmarshalJSON is as strict as ParseProgramme and, by the encoding/json
// convention, treats null as "leave unchanged"; ParseProgramme itself
// calls unmarshalLeaf, which decides what null means. Each MarshalJSON
// writes what UnmarshalJSON reads, so a Programme survives
// json.Marshal → ParseProgramme unchanged.

// MarshalJSON writes the range as [min, max], an open bound as null.
func (r MoneyRange) MarshalJSON() ([]byte, error) {
	return marshalRange((*int64)(r.Min), (*int64)(r.Max)), nil
}

// UnmarshalJSON reads [min, max], each an integer or null (open); null for
// the whole range leaves it unchanged.
func (r *MoneyRange) UnmarshalJSON(data []byte) error {
	return unmarshalJSONLeaf(r, data)
}

func (r *MoneyRange) unmarshalLeaf(raw []byte) error {
	lo, hi, err := unmarshalRange(raw)
	if err != nil {
		return err
	}
	r.Min, r.Max = (*Money)(lo), (*Money)(hi)
	return nil
}

// MarshalJSON writes the range as [min, max], an open bound as null.
func (r QtyRange) MarshalJSON() ([]byte, error) {
	return marshalRange(r.Min, r.Max), nil
}

// UnmarshalJSON reads [min, max], each an integer or null (open); null for
// the whole range leaves it unchanged.
func (r *QtyRange) UnmarshalJSON(data []byte) error {
	return unmarshalJSONLeaf(r, data)
}

func (r *QtyRange) unmarshalLeaf(raw []byte) error {
	lo, hi, err := unmarshalRange(raw)
	if err != nil {
		return err
	}
	r.Min, r.Max = lo, hi
	return nil
}

func marshalRange(lo, hi *int64) []byte {
	b := []byte{'['}
	for i, bound := range []*int64{lo, hi} {
		if i > 0 {
			b = append(b, ',')
		}
		if bound == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, *bound, 10)
		}
	}
	return append(b, ']')
}

// errRange is the problem with a range of the wrong shape.
var errRange = errors.New("must be [min, max], each an integer or null")

// unmarshalRange reads [min, max]; null for the whole range is open at
// both ends, as an absent range is.
func unmarshalRange(raw []byte) (lo, hi *int64, err error) {
	if string(raw) == "null" {
		return nil, nil, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, nil, errRange
	}
	var bounds []json.RawMessage
	if err := json.Unmarshal(raw, &bounds); err != nil || len(bounds) != 2 {
		return nil, nil, errRange
	}
	out := [2]*int64{}
	for i, b := range bounds {
		b = bytes.TrimSpace(b)
		if string(b) == "null" {
			continue
		}
		if len(b) == 0 || !(b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
			return nil, nil, errRange
		}
		n, msg := parseIntLiteral(string(b))
		if msg != "" {
			return nil, nil, fmt.Errorf("%s: bound %s", errRange, msg)
		}
		out[i] = &n
	}
	return out[0], out[1], nil
}

// String formats the decimal without trailing zeros: "2", "2.5".
func (d Decimal) String() string {
	const scale = 10000 // 10^DecimalPlaces
	u, sign := uint64(d.Units), ""
	if d.Units < 0 {
		// Negative decimals do not come from ParseProgramme; format them
		// correctly all the same (unsigned, so MinInt64 works too).
		u, sign = -u, "-"
	}
	whole := sign + strconv.FormatUint(u/scale, 10)
	if u%scale == 0 {
		return whole
	}
	frac := fmt.Sprintf("%0*d", DecimalPlaces, u%scale)
	return whole + "." + strings.TrimRight(frac, "0")
}

// MarshalJSON writes the decimal as a JSON number: 2.5.
func (d Decimal) MarshalJSON() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalJSON reads a non-negative JSON number with at most
// DecimalPlaces significant digits after the point and no exponent,
// exactly, from its text.
func (d *Decimal) UnmarshalJSON(data []byte) error {
	return unmarshalJSONLeaf(d, data)
}

func (d *Decimal) unmarshalLeaf(raw []byte) error {
	units, err := parseDecimal(string(raw))
	if err != nil {
		return err
	}
	d.Units = units
	return nil
}

// parseDecimal reads a decimal literal like "2" or "2.5" as units of
// 10^-DecimalPlaces. It never goes through a float.
func parseDecimal(lit string) (int64, error) {
	errShape := errors.New("must be a non-negative number like 2 or 2.5")
	whole, frac, hasPoint := strings.Cut(lit, ".")
	switch {
	case strings.ContainsAny(lit, "eE"):
		return 0, errors.New("must be written without an exponent, like 2.5")
	case whole == "" || !allDigits(whole) || hasPoint && (frac == "" || !allDigits(frac)):
		return 0, errShape
	case len(whole) > 1 && whole[0] == '0':
		return 0, errShape
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > DecimalPlaces {
		return 0, fmt.Errorf("has more than %d digits after the point", DecimalPlaces)
	}
	frac += strings.Repeat("0", DecimalPlaces-len(frac))
	// 14 whole digits keep whole × 10^4 + frac within int64.
	if len(whole) > 14 {
		return 0, errors.New("is out of range")
	}
	w, _ := strconv.ParseInt(whole, 10, 64) // digits only, at most 14
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*10000 + f, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// OTP modes of redeem.otp.
const (
	OTPRequired = "required" // every redemption needs an OTP
	OTPOff      = "off"      // no redemption needs one
	OTPAbove    = "above"    // redemptions of more than OTPRule.Above points need one
)

// String gives the programme form: "required", "off" or "above:<points>".
// The zero OTPRule is "required", the default.
func (o OTPRule) String() string {
	switch o.Mode {
	case "", OTPRequired:
		return OTPRequired
	case OTPAbove:
		return OTPAbove + ":" + strconv.FormatInt(int64(o.Above), 10)
	}
	return o.Mode
}

// MarshalJSON writes "required", "off" or "above:<points>".
func (o OTPRule) MarshalJSON() ([]byte, error) {
	switch o.Mode {
	case "", OTPRequired, OTPOff, OTPAbove:
		return json.Marshal(o.String())
	}
	return nil, fmt.Errorf("engine: OTPRule with unknown mode %q", o.Mode)
}

// UnmarshalJSON reads "required", "off" or "above:<points>".
func (o *OTPRule) UnmarshalJSON(data []byte) error {
	return unmarshalJSONLeaf(o, data)
}

func (o *OTPRule) unmarshalLeaf(raw []byte) error {
	errShape := errors.New(`must be "required", "off" or "above:<points>"`)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return errShape
	}
	switch s {
	case OTPRequired, OTPOff:
		*o = OTPRule{Mode: s}
		return nil
	}
	n, ok := strings.CutPrefix(s, OTPAbove+":")
	if !ok || !allDigits(n) {
		return errShape
	}
	points, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return errors.New("above: points out of range")
	}
	*o = OTPRule{Mode: OTPAbove, Above: Points(points)}
	return nil
}

// unmarshalJSONLeaf is UnmarshalJSON for a jsonLeaf: null leaves it
// unchanged, as encoding/json expects; problems get the package prefix.
func unmarshalJSONLeaf(l jsonLeaf, data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	if err := l.unmarshalLeaf(data); err != nil {
		return fmt.Errorf("engine: %T: %w", l, err)
	}
	return nil
}

// UnmarshalJSON reads an item filter whose attribute values may each be a
// string or a list of strings.
func (f *ItemFilter) UnmarshalJSON(data []byte) error {
	type plain ItemFilter // without methods, so no recursion
	aux := struct {
		*plain
		Attributes stringOrList `json:"attributes,omitempty"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	f.Attributes = aux.Attributes
	return nil
}

// UnmarshalJSON reads free items whose attribute values may each be a
// string or a list of strings.
func (fi *FreeItems) UnmarshalJSON(data []byte) error {
	type plain FreeItems
	aux := struct {
		*plain
		Attributes stringOrList `json:"attributes,omitempty"`
	}{plain: (*plain)(fi)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	fi.Attributes = aux.Attributes
	return nil
}

// stringOrList is an attribute map as written in a programme: each value
// a string or a list of strings.
type stringOrList map[string][]string

func (m *stringOrList) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*m = nil
		return nil
	}
	out := make(stringOrList, len(raw))
	for k, v := range raw {
		var one string
		if json.Unmarshal(v, &one) == nil {
			out[k] = []string{one}
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return fmt.Errorf("engine: attribute %q: must be a string or a list of strings", k)
		}
		out[k] = list
	}
	*m = out
	return nil
}
