package engine

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecimalJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    int64  // Units
		out     string // MarshalJSON
		wantErr bool
	}{
		{in: "2", want: 20000, out: "2"},
		{in: "2.5", want: 25000, out: "2.5"},
		{in: "0.0001", want: 1, out: "0.0001"},
		{in: "100", want: 1000000, out: "100"},
		{in: "12.3400", want: 123400, out: "12.34"},
		{in: "2.50000000", want: 25000, out: "2.5"}, // zeros past the fourth place are exact
		{in: "0", want: 0, out: "0"},
		{in: "99999999999999.9999", want: 999999999999999999, out: "99999999999999.9999"},
		{in: "2.50001", wantErr: true},
		{in: "2e1", wantErr: true},
		{in: "25E-1", wantErr: true},
		{in: "-2", wantErr: true},
		{in: "-0", wantErr: true},
		{in: "02", wantErr: true},
		{in: ".5", wantErr: true},
		{in: "5.", wantErr: true},
		{in: `"2.5"`, wantErr: true},
		{in: "999999999999999", wantErr: true},
		{in: "[2]", wantErr: true},
		{in: "true", wantErr: true},
	}
	for _, tt := range tests {
		var d Decimal
		err := d.UnmarshalJSON([]byte(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("Decimal.UnmarshalJSON(%s) = %d, want an error", tt.in, d.Units)
			} else if !strings.HasPrefix(err.Error(), "engine: ") {
				t.Errorf("Decimal.UnmarshalJSON(%s) error %q lacks the package prefix", tt.in, err)
			}
			continue
		}
		if err != nil || d.Units != tt.want {
			t.Errorf("Decimal.UnmarshalJSON(%s) = %d, %v; want %d", tt.in, d.Units, err, tt.want)
			continue
		}
		out, err := json.Marshal(d)
		if err != nil || string(out) != tt.out {
			t.Errorf("json.Marshal(Decimal{%d}) = %s, %v; want %s", d.Units, out, err, tt.out)
		}
	}
	// null leaves the value alone, as encoding/json expects of unmarshalers.
	d := Decimal{Units: 7}
	if err := json.Unmarshal([]byte("null"), &d); err != nil || d.Units != 7 {
		t.Errorf("null: %d, %v", d.Units, err)
	}
}

func TestDecimalString(t *testing.T) {
	for _, tt := range []struct {
		units int64
		want  string
	}{
		{0, "0"}, {1, "0.0001"}, {10, "0.001"}, {25000, "2.5"}, {-25000, "-2.5"}, {-1, "-0.0001"},
		{-9223372036854775808, "-922337203685477.5808"},
	} {
		if got := (Decimal{Units: tt.units}).String(); got != tt.want {
			t.Errorf("Decimal{%d}.String() = %q, want %q", tt.units, got, tt.want)
		}
	}
}

func TestOTPRuleJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    OTPRule
		wantErr bool
	}{
		{in: `"required"`, want: OTPRule{Mode: OTPRequired}},
		{in: `"off"`, want: OTPRule{Mode: OTPOff}},
		{in: `"above:500"`, want: OTPRule{Mode: OTPAbove, Above: 500}},
		{in: `"above:0"`, want: OTPRule{Mode: OTPAbove}},
		{in: `"above:"`, wantErr: true},
		{in: `"above:-1"`, wantErr: true},
		{in: `"above:1.5"`, wantErr: true},
		{in: `"above:99999999999999999999"`, wantErr: true},
		{in: `"Required"`, wantErr: true},
		{in: `""`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `500`, wantErr: true},
	}
	for _, tt := range tests {
		var o OTPRule
		err := json.Unmarshal([]byte(tt.in), &o)
		if (err != nil) != tt.wantErr || !tt.wantErr && o != tt.want {
			t.Errorf("OTPRule from %s = %+v, %v; want %+v, error %v", tt.in, o, err, tt.want, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		out, err := json.Marshal(o)
		if err != nil || string(out) != tt.in {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", o, out, err, tt.in)
		}
	}
	if out, err := json.Marshal(OTPRule{}); err != nil || string(out) != `"required"` {
		t.Errorf("the zero OTPRule marshals as %s, %v; want the default, \"required\"", out, err)
	}
	if _, err := json.Marshal(OTPRule{Mode: "sometimes"}); err == nil {
		t.Errorf("an OTPRule with an unknown mode marshalled")
	}
}

func TestRangeJSON(t *testing.T) {
	m := func(v int64) *Money { return (*Money)(&v) }
	q := func(v int64) *int64 { return &v }
	tests := []struct {
		in      string
		want    MoneyRange
		wantErr bool
	}{
		{in: `[150000, 200000]`, want: MoneyRange{Min: m(150000), Max: m(200000)}},
		{in: `[1, null]`, want: MoneyRange{Min: m(1)}},
		{in: `[null,null]`, want: MoneyRange{}},
		{in: ` [ -5 , 0 ] `, want: MoneyRange{Min: m(-5), Max: m(0)}}, // sign is the validator's business
		{in: `[1]`, wantErr: true},
		{in: `[1, 2, 3]`, wantErr: true},
		{in: `[1.5, 2]`, wantErr: true},
		{in: `["1", 2]`, wantErr: true},
		{in: `[1, 9223372036854775808]`, wantErr: true},
		{in: `{"min": 1}`, wantErr: true},
		{in: `150000`, wantErr: true},
	}
	for _, tt := range tests {
		var r MoneyRange
		err := json.Unmarshal([]byte(tt.in), &r)
		if (err != nil) != tt.wantErr || !tt.wantErr && !reflect.DeepEqual(r, tt.want) {
			t.Errorf("MoneyRange from %s = %v, %v; want %v, error %v", tt.in, r, err, tt.want, tt.wantErr)
		}
		var qr QtyRange
		if err := json.Unmarshal([]byte(tt.in), &qr); (err != nil) != tt.wantErr {
			t.Errorf("QtyRange from %s: error %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
	for _, tt := range []struct {
		r    any
		want string
	}{
		{MoneyRange{}, `[null,null]`},
		{MoneyRange{Min: m(1)}, `[1,null]`},
		{MoneyRange{Max: m(7)}, `[null,7]`},
		{QtyRange{Min: q(1), Max: q(2)}, `[1,2]`},
	} {
		if out, err := json.Marshal(tt.r); err != nil || string(out) != tt.want {
			t.Errorf("json.Marshal(%v) = %s, %v; want %s", tt.r, out, err, tt.want)
		}
	}
}

// TestAttributesWithEncodingJSON checks that plain encoding/json reads a
// string attribute value as a list of one, as ParseProgramme does.
func TestAttributesWithEncodingJSON(t *testing.T) {
	var f ItemFilter
	if err := json.Unmarshal([]byte(`{"skus": ["A"], "attributes": {"group": "Electrical", "size": ["S", "M"]}}`), &f); err != nil {
		t.Fatal(err)
	}
	want := ItemFilter{SKUs: []string{"A"}, Attributes: map[string][]string{"group": {"Electrical"}, "size": {"S", "M"}}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("ItemFilter = %+v, want %+v", f, want)
	}
	var fi FreeItems
	if err := json.Unmarshal([]byte(`{"attributes": {"group": "Electrical"}, "qty": 1}`), &fi); err != nil {
		t.Fatal(err)
	}
	if wantFI := (FreeItems{Attributes: map[string][]string{"group": {"Electrical"}}, Qty: 1}); !reflect.DeepEqual(fi, wantFI) {
		t.Errorf("FreeItems = %+v, want %+v", fi, wantFI)
	}
	if err := json.Unmarshal([]byte(`{"attributes": {"group": 5}}`), &f); err == nil {
		t.Errorf("a number attribute value was accepted")
	}
}

func TestYAMLNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2.5", "2.5"}, {"+2.5", "2.5"}, {".5", "0.5"}, {"5.", "5"}, {"-1.5", "-1.5"},
		{"1e3", "1e3"}, {"1.5E+3", "1.5e3"}, {"007.5", "7.5"}, {"0.0", "0.0"},
		{".inf", ""}, {"-.Inf", ""}, {".nan", ""}, {".", ""}, {"1.2.3", ""}, {"1e", ""}, {"1_0.5", ""},
	}
	for _, tt := range tests {
		got, ok := yamlNumber(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("yamlNumber(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestParseProgrammeLimits(t *testing.T) {
	big := make([]byte, MaxProgrammeBytes+1)
	big[0] = '{'
	_, err := ParseProgramme(big, nil)
	if !errors.Is(err, ErrInvalidProgramme) || !strings.Contains(err.Error(), "MaxProgrammeBytes") {
		t.Errorf("oversized JSON: %v", err)
	}
	bigYAML := []byte(strings.Repeat("#", MaxProgrammeYAMLBytes+1))
	if _, err := ParseProgramme(bigYAML, nil); err == nil || !strings.Contains(err.Error(), "MaxProgrammeYAMLBytes") {
		t.Errorf("oversized YAML: %v", err)
	}
	if _, err := ParseProgramme([]byte("{\"version\": \"\xff\"}"), nil); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestParseProgrammeZones(t *testing.T) {
	const doc = `{"version": "v", "currency": "INR", "minor_digits": 2, "redeem": {"point_value": 1}, "timezone": %q}`
	tests := []struct {
		tz    string
		zones ZoneResolver
		want  string // Location name; "" for an error
	}{
		{"", nil, "UTC"},
		{"UTC", nil, "UTC"},
		{"Asia/Kolkata", nil, ""},
		{"Asia/Kolkata", progZones(), "Asia/Kolkata"},
		{"Nowhere/Else", progZones(), ""},
		{"Local", progZones(), ""},
		{"X", func(string) (*time.Location, error) { return nil, nil }, ""},
	}
	for _, tt := range tests {
		p, err := ParseProgramme([]byte(strings.Replace(doc, "%q", `"`+tt.tz+`"`, 1)), tt.zones)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("timezone %q: parsed, want an error", tt.tz)
		case tt.want != "" && err != nil:
			t.Errorf("timezone %q: %v", tt.tz, err)
		case tt.want != "" && p.Location.String() != tt.want:
			t.Errorf("timezone %q: Location %v, want %s", tt.tz, p.Location, tt.want)
		}
	}
}

func TestProblemPaths(t *testing.T) {
	var root *path
	tests := []struct {
		p    *path
		want string
	}{
		{root, ""},
		{root.field("campaigns").elem(3).field("reward"), "campaigns[3].reward"},
		{root.field("earn").field("card_types").field("gold card").field("multiplier_pct"), `earn.card_types["gold card"].multiplier_pct`},
		{root.field("a.b"), `["a.b"]`},
		{root.field(""), `[""]`},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("path = %q, want %q", got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"campaigns[1].reward", "campaigns[1].reward.percent", true},
		{"campaigns[1].reward", "campaigns[1].reward", true},
		{"campaigns[1]", "campaigns[10]", false},
		{"campaigns[1].rew", "campaigns[1].reward", false},
		{"stores", "stores[0]", true},
		{"", "version", false},
	} {
		if got := pathOverlaps(tt.a, tt.b); got != tt.want {
			t.Errorf("pathOverlaps(%q, %q) = %v", tt.a, tt.b, got)
		}
		if got := pathOverlaps(tt.b, tt.a); got != tt.want {
			t.Errorf("pathOverlaps(%q, %q) = %v", tt.b, tt.a, got)
		}
	}
}

// TestDecoderKnowsProgrammeTypes walks every type a Programme holds and
// checks that the JSON decoder supports each kind, so that a field added
// to the contract cannot make ParseProgramme panic on a real document.
func TestDecoderKnowsProgrammeTypes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, at string) []string
	walk = func(ty reflect.Type, at string) (bad []string) {
		if seen[ty] {
			return nil
		}
		seen[ty] = true
		if reflect.PointerTo(ty).Implements(jsonLeafType) {
			return nil
		}
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice:
			return walk(ty.Elem(), at+"[]")
		case reflect.Map:
			if ty.Key().Kind() != reflect.String {
				bad = append(bad, at+": map key "+ty.Key().String())
			}
			return append(bad, walk(ty.Elem(), at+"{}")...)
		case reflect.Struct:
			d := newJSONDecoder(nil, false)
			for name, i := range d.fieldsOf(ty) {
				bad = append(bad, walk(ty.Field(i).Type, at+"."+name)...)
			}
			return bad
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return nil
		}
		return []string{at + ": " + ty.String()}
	}
	if bad := walk(reflect.TypeFor[Programme](), "programme"); len(bad) > 0 {
		t.Errorf("the programme decoder does not support: %q", bad)
	}
}
