package programmeyaml

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

func TestParseProgrammeYAML(t *testing.T) {
	const head = "version: v1\ncurrency: INR\nminor_digits: 2\nredeem: {point_value: 25}\n"
	tests := []struct {
		name    string
		doc     string
		want    []string // problem paths; nil: it parses
		message string   // a substring of the first problem's message
	}{
		{name: "minimal", doc: head},
		{name: "otp off stays a string", doc: "version: v1\ncurrency: INR\nminor_digits: 2\nredeem: {point_value: 25, otp: off}\n"},
		{name: "leading-zero SKU", doc: head + "catalogue: {products: [{sku: 000000007, category: x}]}\n",
			want: []string{"catalogue.products[0].sku"}, message: "leading zero"},
		{name: "number for a string", doc: head + "catalogue: {products: [{sku: 7, category: x}]}\n",
			want: []string{"catalogue.products[0].sku"}, message: "quote it in YAML"},
		{name: "hex", doc: head + "tier_window_days: 0x10\n", want: []string{"tier_window_days"}},
		{name: "octal", doc: head + "tier_window_days: 0o10\n", want: []string{"tier_window_days"}},
		{name: "underscores", doc: head + "tier_window_days: 1_0\n", want: []string{"tier_window_days"}},
		{name: "infinity", doc: head + "campaigns: [{id: C1, level: invoice, reward: {percent: .inf}}]\n",
			want: []string{"campaigns[0].reward.percent"}},
		{name: "float for an integer", doc: head + "tier_window_days: 1.0\n", want: []string{"tier_window_days"}},
		{name: "alias", doc: head + "campaigns:\n - &c {id: C1, level: invoice, reward: {amount_off: 1}}\n - *c\n",
			want: []string{"campaigns[1]"}, message: "aliases"},
		{name: "merge key", doc: head + "campaigns:\n - {<<: {id: C1}, level: invoice, reward: {amount_off: 1}}\n",
			want: []string{"campaigns[0]"}, message: "merge"},
		{name: "binary", doc: head + "consents: [{id: !!binary aGk=}]\n", want: []string{"consents[0].id"}},
		{name: "custom tag", doc: head + "consents: [{id: !thing x}]\n", want: []string{"consents[0].id"}},
		{name: "two documents", doc: head + "---\n" + head, want: []string{""}},
		{name: "syntax", doc: head + "currency: [\n", want: []string{""}},
		{name: "duplicate key", doc: head + "currency: USD\n", want: []string{"currency"}, message: "duplicate"},
		{name: "empty", doc: "", want: []string{""}},
		{name: "comment only", doc: "# nothing\n", want: []string{""}},
		{name: "not a mapping", doc: "- a\n- b\n", want: []string{""}},
		{name: "too deep", doc: head + "x: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", want: []string{"x" + strings.Repeat("[0]", engine.MaxProgrammeDepth)}},
		{name: "unknown field", doc: head + "ammount_off: 5\n", want: []string{"ammount_off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProgramme([]byte(tt.doc), nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParseProgramme: %v", err)
				}
				if p.Redeem.OTP.Mode == "" || p.Version != "v1" {
					t.Errorf("programme = %+v", p)
				}
				return
			}
			var ve *engine.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v, want a *engine.ValidationError", err)
			}
			var got []string
			for _, pr := range ve.Problems {
				got = append(got, pr.Path)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problem paths = %q, want %q\n%v", got, tt.want, err)
			}
			if !strings.Contains(ve.Problems[0].Message, tt.message) {
				t.Errorf("first problem %q does not mention %q", ve.Problems[0].Message, tt.message)
			}
		})
	}
}

// TestYAMLEqualsJSON checks that a programme written in YAML the way a
// person writes it parses to exactly the programme its JSON form does.
func TestYAMLEqualsJSON(t *testing.T) {
	zones := func(name string) (*time.Location, error) {
		return time.FixedZone(name, 5*3600+1800), nil // one zone object per name is enough here
	}
	parse := func(file string) *engine.Programme {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseProgramme(data, zones)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p.Location = nil // FixedZone gives a new pointer per call
		return p
	}
	fromJSON, fromYAML := parse("testdata/base.json"), parse("testdata/base.yaml")
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		a, _ := json.MarshalIndent(fromYAML, "", " ")
		b, _ := json.MarshalIndent(fromJSON, "", " ")
		t.Errorf("YAML and JSON programmes differ\nYAML: %s\nJSON: %s", a, b)
	}
}

func TestJSONOnlyCallerRefusesYAML(t *testing.T) {
	data, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.ParseProgramme(data, nil); !errors.Is(err, engine.ErrInvalidProgramme) {
		t.Fatalf("engine.ParseProgramme of YAML: %v, want ErrInvalidProgramme", err)
	}
}
