package engine

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateCorpus = flag.Bool("engine.update-corpus", false, "rewrite testdata/fuzz/FuzzDecodeEvent from sampleEvents")

var evAt = time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)

// sampleEvents has one event of every kind.
func sampleEvents() []Event {
	hlc := HLC{Wall: evAt.UnixNano()}
	base := func(seq uint64, kind EventKind) Event {
		return Event{Origin: "S001", Seq: seq, HLC: HLC{Wall: hlc.Wall, Logical: uint32(seq)}, Kind: kind,
			Member: "+919800000001", Store: "S001", Terminal: "T01", At: evAt}
	}
	enrol := base(1, EventMemberEnrolled)
	enrol.Enrolment = &Enrolment{Profile: map[string]string{FieldFirstName: "Asha", FieldEmail: "asha@example.com"},
		Consents: map[string]bool{"programme_terms": true}, Cards: []CardChange{{Number: "GOLD-1", Type: "gold"}},
		Groups: []string{"staff"}}
	upd := base(2, EventMemberUpdated)
	upd.Profile = map[string]string{FieldLastName: "Rao", FieldCountry: ""}
	cons := base(3, EventMemberConsents)
	cons.Consents = map[string]bool{"sms_marketing": false}
	issue := base(4, EventCardIssued)
	issue.Card = &CardChange{Number: "C-2", Type: "classic"}
	block := base(5, EventCardBlocked)
	block.Card = &CardChange{Number: "C-2", Reason: "lost"}
	unblock := base(6, EventCardUnblocked)
	unblock.Card = &CardChange{Number: "C-2"}
	sale := base(7, EventSaleCompleted)
	sale.Sale = &SaleCompleted{ReceiptID: "S001-T01-7", Terminal: "T01", ReceiptNo: "7", Fingerprint: "ab",
		ProgrammeVersion: "p1", Day: 20607, Evaluation: Evaluation{Lines: []LineResult{{Line: 1, SKU: "BK1", Qty: 1, Gross: 10000, Net: 10000, Paid: 7500, Earn: 7}},
			Totals: Totals{Gross: 10000, Net: 10000}, CouponsUsed: []string{"WELCOME-1"}},
		Entries: []Entry{{ID: "S001-T01-7/redeem", At: evAt, Store: "S001", Kind: EntryRedeem, Points: -100, Ref: "S001-T01-7", Offline: true},
			{ID: "S001-T01-7/earn", At: evAt, Store: "S001", Kind: EntryEarn, Points: 7, Ref: "S001-T01-7"}},
		Spend: 7500, Offline: true}
	ret := base(8, EventSaleReturned)
	ret.Return = &SaleReturned{ReceiptID: "S001-T01-7", ReturnNo: "1", ReturnID: "S001-T01-7/1", Fingerprint: "cd",
		Day: 20607, Result: ReturnResult{Lines: []ReturnedLine{{Line: 1, Qty: 1, Money: 7500, PointsShare: 100, Earn: 7}},
			Money: 7500, ClawedBack: 7, Refunded: 100, Complete: true},
		Entries: []Entry{{ID: "S001-T01-7/1@S001/clawback", At: evAt, Store: "S001", Kind: EntryReturn, Points: -7, Ref: "S001-T01-7/1"}},
		Spend:   -7500, CouponsReleased: []string{"WELCOME-1"}}
	prog := Event{Origin: "HQ", Seq: 1, HLC: hlc, Kind: EventProgrammeLoaded, Store: "HQ", At: evAt,
		Programme: &ProgrammeLoaded{Version: "p1", Document: []byte(`{"version":"p1"}`)}}
	anon := base(9, EventSaleCompleted)
	anon.Member = ""
	anon.Sale = &SaleCompleted{ReceiptID: "S001-T01-9", Terminal: "T01", ReceiptNo: "9", Evaluation: Evaluation{}}
	return []Event{enrol, upd, cons, issue, block, unblock, sale, ret, prog, anon}
}

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
		got, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("%s: decode: %v\n%s", ev.Kind, err, data)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("%s: round trip\ngot  %+v\nwant %+v", ev.Kind, got, ev)
		}
	}
}

func TestDecodeEventRefusals(t *testing.T) {
	good, err := EncodeEvent(sampleEvents()[2])
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	tests := []struct {
		name, data, detail string
	}{
		{"empty", ``, "EOF"},
		{"not json", `nope`, "invalid character"},
		{"version", strings.Replace(s, `"v":1`, `"v":2`, 1), "version 2"},
		{"no version", strings.Replace(s, `"v":1,`, ``, 1), "version 0"},
		{"unknown field", strings.Replace(s, `"v":1,`, `"v":1,"x":1,`, 1), "unknown field"},
		{"trailing", s + ` {}`, "trailing"},
		{"trailing bracket", s + `]`, "trailing"},
		{"unknown kind", strings.Replace(s, `member.consents`, `member.deleted`, 1), "unknown kind"},
		{"no origin", strings.Replace(s, `"origin":"S001"`, `"origin":""`, 1), "origin"},
		{"bad origin", strings.Replace(s, `"origin":"S001"`, `"origin":"S\u0000"`, 1), "origin"},
		{"no seq", strings.Replace(s, `"seq":3`, `"seq":0`, 1), "seq"},
		{"wrong payload", strings.Replace(s, `member.consents`, `member.updated`, 1), "payload"},
		{"no member", strings.Replace(s, `"member":"+919800000001",`, ``, 1), "member required"},
		{"empty consents", strings.Replace(s, `{"sms_marketing":false}`, `{}`, 1), "0 consents"},
		{"no time", strings.Replace(s, `"2026-06-03T10:00:00Z"`, `"0001-01-01T00:00:00Z"`, 1), "at required"},
		{"too big", s[:len(s)-1] + `,"terminal":"` + strings.Repeat("x", MaxProgrammeEventBytes) + `"}`, "MaxProgrammeEventBytes"},
	}
	for _, tt := range tests {
		_, err := DecodeEvent([]byte(tt.data))
		if !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("%s: got %v, want ErrBadEvent with %q", tt.name, err, tt.detail)
		}
	}
	big := sampleEvents()[6]
	big.Sale.Fingerprint = strings.Repeat("f", MaxEventBytes)
	if _, err := EncodeEvent(big); !errors.Is(err, ErrBadEvent) {
		t.Errorf("oversized sale encoded: %v", err)
	}
}

// FuzzDecodeEvent: decoding never panics, refuses only with ErrBadEvent,
// and what decodes re-encodes to a fixed point of decode∘encode.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sampleEvents() {
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
		twice, err := EncodeEvent(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the event (%v)\n%s\n%s", err, once, twice)
		}
	})
}

// TestFuzzCorpus keeps the committed corpus in step with sampleEvents;
// -engine.update-corpus rewrites it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeEvent")
	extra := map[string]string{
		"trailing":      `{"v":1} {}`,
		"version-2":     `{"v":2,"origin":"S001","seq":1}`,
		"unknown-field": `{"v":1,"origin":"S001","seq":1,"zz":true}`,
		"empty":         ``,
	}
	files := map[string][]byte{}
	for i, ev := range sampleEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(string(ev.Kind), ".", "-"))] = data
	}
	for k, v := range extra {
		files[k] = []byte(v)
	}
	for name, data := range files {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("corpus file %s is stale (rerun with -engine.update-corpus): %v", path, err)
		}
	}
}
