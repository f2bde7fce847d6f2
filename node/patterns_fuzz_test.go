package node

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var writePatternCorpus = flag.Bool("write-pattern-corpus", false,
	"rewrite testdata/fuzz/FuzzDecodePatternRecords from patternSeeds")

// patternSeeds are stored values of patterns.go and offers.go, good and bad.
func patternSeeds() map[string][]byte {
	return map[string][]byte{
		"sums":          patternSums{Qty: 3, QtyMilli: 1500, Amount: 135000}.encode(),
		"visits":        visitSums{Visits: 2, First: 20607, Last: 20608, Seen: true}.encode(),
		"not-shortest":  {binaryVersion, 0x80, 0x00, 0, 0},
		"trailing":      {binaryVersion, 2, 4, 6, 0},
		"offer":         []byte(`{"v":1,"campaign":"P-BOOKS","valid_to":"2026-07-03","value":"10% off","for":"category:books","programme":"po-1","at":"2026-06-04T10:00:00Z","stamp":{"hlc":{"wall":1,"logical":0},"origin":"HQ"}}`),
		"offer-unknown": []byte(`{"v":1,"campaign":"P","valid_to":"2026-07-03","programme":"p","at":"2026-06-04T10:00:00Z","stamp":{"hlc":{"wall":1,"logical":0},"origin":"HQ"},"member":"+91"}`),
	}
}

// FuzzDecodePatternRecords: the pattern and offer decoders never panic,
// fail only with ErrCorrupt, and what decodes encodes to the same bytes
// (binary values) or round-trips (offer records).
func FuzzDecodePatternRecords(f *testing.F) {
	for _, data := range patternSeeds() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := decodePatternSums(data); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("sums: %v is not ErrCorrupt", err)
			}
		} else if data != nil && !bytes.Equal(s.encode(), data) {
			t.Fatalf("sums %+v encode to %x, not %x", s, s.encode(), data)
		}
		if v, err := decodeVisits(data); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("visits: %v is not ErrCorrupt", err)
			}
		} else if data != nil && !bytes.Equal(v.encode(), data) {
			t.Fatalf("visits %+v encode to %x, not %x", v, v.encode(), data)
		}
		var rec offerRecord
		if err := decodeJSON(data, &rec); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("offer: %v is not ErrCorrupt", err)
			}
			return
		}
		roundTrip(t, &rec, &offerRecord{})
	})
}

// TestWritePatternCorpus rewrites the committed seed corpus with
// -write-pattern-corpus; without it, it checks the corpus is current.
func TestWritePatternCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodePatternRecords")
	for name, data := range patternSeeds() {
		path := filepath.Join(dir, name)
		want := []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
		if *writePatternCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (rewrite with -write-pattern-corpus)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale (rewrite with -write-pattern-corpus)", path)
		}
	}
}
