package engine

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseProgramme checks that ParseProgramme never panics, that every
// failure is a *ValidationError with problems, and that whatever it
// accepts survives json.Marshal → ParseProgramme unchanged. The committed
// corpus (testdata/fuzz/FuzzParseProgramme) holds the seed acceptance
// programmes, the base test programme in JSON and YAML, and edge cases.
func FuzzParseProgramme(f *testing.F) {
	f.Add([]byte(progBase))
	f.Add([]byte(`{"version": "v", "currency": "INR", "minor_digits": 2, "redeem": {"point_value": 1}}`))
	f.Add([]byte("version: v\ncurrency: INR\nminor_digits: 2\nredeem: {point_value: 1, otp: off}\n"))
	f.Add([]byte(`{"campaigns": [{"reward": {"percent": 2.50001}, "condition": {"value": [1, null]}}]} `))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	zones := progZones()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProgramme(data, zones)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || !errors.Is(err, ErrInvalidProgramme) {
				t.Fatalf("error %v (%T) is not a *ValidationError with problems", err, err)
			}
			if len(ve.Problems) > MaxProblems+1 {
				t.Fatalf("%d problems, more than MaxProblems+1", len(ve.Problems))
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("json.Marshal of a parsed programme: %v", err)
		}
		q, err := ParseProgramme(out, zones)
		if err != nil {
			t.Fatalf("a marshalled programme does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(q, p) {
			again, _ := json.Marshal(q)
			t.Fatalf("round trip changed the programme\nfirst:  %s\nsecond: %s", out, again)
		}
	})
}
