package engine

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var writeOffersCorpus = flag.Bool("write-offers-corpus", false,
	"rewrite testdata/fuzz/FuzzDecodeOffersEvent from offersEvents")

// offersEvents are an offers.issued event and one redacted for a
// pseudonym (an erased member's).
func offersEvents() []Event {
	at := time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)
	ev := Event{Origin: "HQ", Seq: 9, HLC: HLC{Wall: at.UnixNano()}, Kind: EventOffersIssued, Member: "+919800000001",
		Store: "HQ", At: at, Offers: &OffersIssued{Programme: "p-1", Offers: []IssuedOffer{
			{Code: "PO8Z4K2M1QXA", Campaign: "P-BOOKS", ValidTo: "2026-07-02", Value: "10% off", For: "category:books"},
			{Code: "PO3J7T0N5RWB", Campaign: "P-PENS", ValidTo: "2026-06-30"},
		}}}
	return []Event{ev, RedactEvent(ev, "anon-0123456789abcdef0123456789abcdef")}
}

func TestOffersEventRoundTrip(t *testing.T) {
	for _, ev := range offersEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("round trip: got %+v, want %+v", got, ev)
		}
	}
	if r := offersEvents()[1]; r.Member == offersEvents()[0].Member || !reflect.DeepEqual(r.Offers, offersEvents()[0].Offers) {
		t.Errorf("redaction: %+v", r)
	}
}

func TestOffersEventRefused(t *testing.T) {
	base := offersEvents()[0]
	offer := func(o IssuedOffer) *OffersIssued { return &OffersIssued{Programme: "p-1", Offers: []IssuedOffer{o}} }
	good := IssuedOffer{Code: "PO1", Campaign: "C", ValidTo: "2026-07-02"}
	tests := []struct {
		name   string
		change func(*Event)
		want   string
	}{
		{"no member", func(e *Event) { e.Member = "" }, "member required"},
		{"no programme", func(e *Event) { e.Offers = &OffersIssued{Offers: []IssuedOffer{good}} }, "programme version"},
		{"no offers", func(e *Event) { e.Offers = &OffersIssued{Programme: "p", Offers: []IssuedOffer{}} }, "0 offers"},
		{"too many offers", func(e *Event) {
			e.Offers = &OffersIssued{Programme: "p"}
			for i := range MaxEventItems + 1 {
				e.Offers.Offers = append(e.Offers.Offers, IssuedOffer{Code: "C" + string(rune('A'+i%26)) + string(rune('A'+i/26)), Campaign: "C", ValidTo: "2026-01-01"})
			}
		}, "65 offers"},
		{"code with a space", func(e *Event) { o := good; o.Code = "PO 1"; e.Offers = offer(o) }, "without spaces"},
		{"empty code", func(e *Event) { o := good; o.Code = ""; e.Offers = offer(o) }, "without spaces"},
		{"code twice", func(e *Event) {
			e.Offers = &OffersIssued{Programme: "p", Offers: []IssuedOffer{good, good}}
		}, "named twice"},
		{"no campaign", func(e *Event) { o := good; o.Campaign = ""; e.Offers = offer(o) }, "offer campaign"},
		{"bad date", func(e *Event) { o := good; o.ValidTo = "2026-02-30"; e.Offers = offer(o) }, "not YYYY-MM-DD"},
		{"short date", func(e *Event) { o := good; o.ValidTo = "2026-7-2"; e.Offers = offer(o) }, "not YYYY-MM-DD"},
		{"long value", func(e *Event) { o := good; o.Value = strings.Repeat("x", MaxEventIDLen+1); e.Offers = offer(o) }, "at most"},
		{"another payload too", func(e *Event) { e.Profile = map[string]string{"first_name": "A"} }, "payload does not match"},
		{"no payload", func(e *Event) { e.Offers = nil }, "payload does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := base
			tc.change(&ev)
			_, err := EncodeEvent(ev)
			if !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadEvent with %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeOffersEvent: decoding never panics, refuses only with
// ErrBadEvent, and what decodes re-encodes to a fixed point.
func FuzzDecodeOffersEvent(f *testing.F) {
	for _, ev := range offersEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v is not ErrBadEvent", err)
			}
			return
		}
		once, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		again, err := DecodeEvent(once)
		if err != nil {
			t.Fatalf("an encoded event does not decode: %v\n%s", err, once)
		}
		if twice, err := EncodeEvent(again); err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the event (%v)\n%s\n%s", err, once, twice)
		}
	})
}

// TestWriteOffersCorpus rewrites the committed seed corpus with
// -write-offers-corpus; without it, it checks the corpus is current.
func TestWriteOffersCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeOffersEvent")
	files := map[string][]byte{
		"no-offers":     []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"offers.issued","member":"+91","store":"HQ","at":"2026-01-10T00:00:00Z","offers":{"programme":"p","offers":[]}}`),
		"bad-valid-to":  []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"offers.issued","member":"+91","store":"HQ","at":"2026-01-10T00:00:00Z","offers":{"programme":"p","offers":[{"code":"PO1","campaign":"C","valid_to":"2026-13-01"}]}}`),
		"no-member":     []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"offers.issued","store":"HQ","at":"2026-01-10T00:00:00Z","offers":{"programme":"p","offers":[{"code":"PO1","campaign":"C","valid_to":"2026-12-01"}]}}`),
		"unknown-field": []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"offers.issued","member":"+91","store":"HQ","at":"2026-01-10T00:00:00Z","offers":{"programme":"p","offers":[{"code":"PO1","campaign":"C","valid_to":"2026-12-01","uses":2}]}}`),
	}
	for i, ev := range offersEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		files["offers-issued-"+string(rune('0'+i))] = data
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		want := []byte("go test fuzz v1\n[]byte(" + quoteGo(data) + ")\n")
		if *writeOffersCorpus {
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
			t.Fatalf("%v (rewrite with -write-offers-corpus)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale (rewrite with -write-offers-corpus)", path)
		}
	}
}
