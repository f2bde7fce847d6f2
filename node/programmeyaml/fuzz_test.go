package programmeyaml

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/patron/patron/engine"
)

// FuzzParseProgrammeYAML: no YAML input may panic or be accepted in a
// form that does not survive a JSON round trip; every refusal is an
// engine.ValidationError.
func FuzzParseProgrammeYAML(f *testing.F) {
	base, err := os.ReadFile("testdata/base.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base)
	f.Add([]byte("version: v1\ncurrency: INR\nminor_digits: 2\nredeem: {point_value: 25}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProgramme(data, nil)
		if err != nil {
			if !errors.Is(err, engine.ErrInvalidProgramme) {
				t.Fatalf("error %v is not ErrInvalidProgramme", err)
			}
			return
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := engine.ParseProgramme(js, nil); err != nil {
			t.Fatalf("accepted YAML does not round-trip through JSON: %v\n%s", err, js)
		}
	})
}
