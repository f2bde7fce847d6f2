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

	"pgregory.net/rapid"
)

var updateLifecycleCorpus = flag.Bool("engine.update-lifecycle-corpus", false,
	"rewrite testdata/fuzz/FuzzDecodeLifecycleEvent from lifecycleEvents")

const (
	testPseudonym  = "anon-0123456789abcdef0123456789abcdef"
	testPseudonym2 = "anon-fedcba9876543210fedcba9876543210"
)

// erasureEvent erases member at HQ.
func erasureEvent(member, pseudonym string, seq uint64, wall int64) Event {
	return Event{Origin: "HQ", Seq: seq, HLC: HLC{Wall: wall}, Kind: EventMemberErased, Member: pseudonym,
		Store: "HQ", Terminal: "admin:dpo", At: evAt, Erasure: &Erasure{Subject: ErasureSubject(member)}}
}

// lifecycleEvents are one event of each kind this file and
// events_groups.go add.
func lifecycleEvents() []Event {
	return append(groupEvents(), erasureEvent("+919800000001", testPseudonym, 3, evAt.UnixNano()+2))
}

func TestErasureEventRoundTrip(t *testing.T) {
	ev := erasureEvent("+919800000001", testPseudonym, 1, 1)
	data, err := EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("9800000001")) {
		t.Errorf("the erasure event carries the mobile number: %s", data)
	}
	got, err := DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Errorf("round trip\ngot  %+v\nwant %+v", got, ev)
	}
}

func TestErasureEventRefusals(t *testing.T) {
	good := erasureEvent("+919800000001", testPseudonym, 1, 1)
	tests := []struct {
		name string
		edit func(*Event)
	}{
		{"member is not a pseudonym", func(e *Event) { e.Member = "+919800000001" }},
		{"pseudonym in upper case", func(e *Event) { e.Member = strings.ToUpper(testPseudonym) }},
		{"pseudonym too short", func(e *Event) { e.Member = testPseudonym[:len(testPseudonym)-1] }},
		{"no member", func(e *Event) { e.Member = "" }},
		{"subject not hex", func(e *Event) { e.Erasure = &Erasure{Subject: strings.Repeat("g", 64)} }},
		{"subject too short", func(e *Event) { e.Erasure = &Erasure{Subject: "ab"} }},
		{"subject is the pseudonym's own", func(e *Event) { e.Erasure = &Erasure{Subject: ErasureSubject(testPseudonym)} }},
		{"no payload", func(e *Event) { e.Erasure = nil }},
		{"another payload too", func(e *Event) { e.Profile = map[string]string{FieldFirstName: "x"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := good
			tt.edit(&ev)
			if err := ValidateEvent(ev); !errors.Is(err, ErrBadEvent) {
				t.Errorf("got %v, want ErrBadEvent", err)
			}
		})
	}
}

// personal are the values sampleEvents and authenticatorEvents carry
// that describe the person.
var personal = []string{"9800000001", "Asha", "asha@example.com", "Rao", "GOLD-1", "C-2\"", `"C-2`,
	"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"} // base64 of the authenticator key

// TestRedactEvent: a redacted event names the pseudonym, keeps what the
// ledger and the card log need, and carries nothing personal.
func TestRedactEvent(t *testing.T) {
	for _, ev := range append(append(sampleEvents(), authenticatorEvents()...), groupEvents()[1]) {
		if ev.Member == "" {
			continue
		}
		t.Run(string(ev.Kind), func(t *testing.T) {
			orig, err := EncodeEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			r := RedactEvent(ev, testPseudonym)
			data, err := EncodeEvent(r)
			if err != nil {
				t.Fatalf("a redacted event does not encode: %v", err)
			}
			if again, _ := EncodeEvent(ev); !bytes.Equal(again, orig) {
				t.Error("RedactEvent modified its argument")
			}
			for _, p := range personal {
				if bytes.Contains(data, []byte(p)) {
					t.Errorf("redacted event still holds %q: %s", p, data)
				}
			}
			if r.Member != testPseudonym || r.ID() != ev.ID() || r.HLC != ev.HLC || r.Kind != ev.Kind || !r.At.Equal(ev.At) {
				t.Errorf("identity or envelope changed: %+v", r)
			}
			if !reflect.DeepEqual(EventEntries(r), EventEntries(ev)) {
				t.Error("ledger entries changed")
			}
			d1, s1, ok1 := EventSpend(ev)
			if d2, s2, ok2 := EventSpend(r); d1 != d2 || s1 != s2 || ok1 != ok2 {
				t.Error("spend changed")
			}
			if ev.Card != nil && (r.Card.Type != ev.Card.Type || r.Card.Reason != ev.Card.Reason) {
				t.Errorf("card type or reason lost: %+v", r.Card)
			}
		})
	}
}

// TestRedactEventComposes: redacting twice, or for one pseudonym and
// then another, gives the bytes of one redaction: nodes that learned of
// two erasures of one member in either order keep identical events.
func TestRedactEventComposes(t *testing.T) {
	for _, ev := range append(append(sampleEvents(), authenticatorEvents()...), lifecycleEvents()...) {
		once := mustEncode(t, RedactEvent(ev, testPseudonym2))
		for name, got := range map[string]Event{
			"twice":             RedactEvent(RedactEvent(ev, testPseudonym2), testPseudonym2),
			"after another one": RedactEvent(RedactEvent(ev, testPseudonym), testPseudonym2),
		} {
			if !bytes.Equal(mustEncode(t, got), once) {
				t.Errorf("%s/%d %s: %s differs from one redaction", ev.Origin, ev.Seq, ev.Kind, name)
			}
		}
	}
	if e := lifecycleEvents()[2]; !reflect.DeepEqual(RedactEvent(e, testPseudonym2), e) {
		t.Error("an erasure event was redacted")
	}
}

// TestPseudonymFoldsNothingPersonal: a pseudonym's state, folded from
// redacted events in any order, is the erasure register alone, while
// its ledger and spend are the erased member's.
func TestPseudonymFoldsNothingPersonal(t *testing.T) {
	m := foldMembers[0]
	rapid.Check(t, func(t *rapid.T) {
		events := genEvents(t)
		orig := NewMemberFold(m)
		for _, ev := range events {
			orig.Apply(ev)
		}
		erase := erasureEvent(m, testPseudonym, 1, 1)
		erase.Origin = "HQ9" // not an origin genEvents draws
		all := []Event{erase}
		for _, ev := range events {
			if ev.Member == m {
				all = append(all, RedactEvent(ev, testPseudonym))
			}
		}
		all = rapid.Permutation(all).Draw(t, "perm")
		anon := NewMemberFold(testPseudonym)
		for _, ev := range all {
			anon.Apply(ev)
		}
		want := NewMemberState(testPseudonym)
		want.Erased = &ErasedState{At: erase.At, Store: erase.Store, Stamp: erase.Stamp()}
		if !reflect.DeepEqual(anon.State, want) {
			t.Fatalf("pseudonym state %+v, want the erasure register only", anon.State)
		}
		if anon.Balance() != orig.Balance() || !reflect.DeepEqual(anon.Spend, orig.Spend) {
			t.Fatalf("balance %d spend %v, want %d %v", anon.Balance(), anon.Spend, orig.Balance(), orig.Spend)
		}
	})
}

func TestErasedRegisterEarliest(t *testing.T) {
	a, b := erasureEvent("+919800000001", testPseudonym, 1, 10), erasureEvent("+919800000001", testPseudonym, 2, 20)
	for _, order := range [][]Event{{a, b}, {b, a}} {
		s := NewMemberState(testPseudonym)
		for _, ev := range order {
			s.Apply(ev)
		}
		if s.Erased == nil || s.Erased.Stamp != a.Stamp() {
			t.Errorf("erased %+v, want the earliest", s.Erased)
		}
	}
}

func TestMemberLives(t *testing.T) {
	tests := []struct{ id, next, mobile string }{
		{"+919800000001", "+919800000001~2", "+919800000001"},
		{"+919800000001~2", "+919800000001~3", "+919800000001"},
		{"+919800000001~9", "+919800000001~10", "+919800000001"},
		{"+919800000001~x", "+919800000001~2", "+919800000001"},
	}
	for _, tt := range tests {
		if got := NextMemberLife(tt.id); got != tt.next {
			t.Errorf("NextMemberLife(%q) = %q, want %q", tt.id, got, tt.next)
		}
		if got := MemberMobile(tt.id); got != tt.mobile {
			t.Errorf("MemberMobile(%q) = %q, want %q", tt.id, got, tt.mobile)
		}
	}
	if p, ok := NewPseudonym(bytes.Repeat([]byte{0xab}, PseudonymRandLen)); !ok || !IsPseudonym(p) {
		t.Errorf("NewPseudonym: %q %v", p, ok)
	}
	if _, ok := NewPseudonym([]byte{1}); ok {
		t.Error("NewPseudonym took a short random")
	}
	if IsPseudonym("+919800000001") || IsPseudonym("anon-") {
		t.Error("IsPseudonym accepted a non-pseudonym")
	}
}

func TestMaskCardNumber(t *testing.T) {
	for in, want := range map[string]string{"1234567890": "******7890", "GOLD-1": "**LD-1", "1234": "****", "": "****",
		"******7890": "******7890", "ÄÖÜ12345": "****2345"} {
		if got := MaskCardNumber(in); got != want {
			t.Errorf("MaskCardNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecodeLifecycleEvent: decoding never panics, refuses only with
// ErrBadEvent, what decodes re-encodes to a fixed point, and a decoded
// event redacts to an event that encodes and folds.
func FuzzDecodeLifecycleEvent(f *testing.F) {
	for _, ev := range lifecycleEvents() {
		f.Add(mustEncode(f, ev))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v is not ErrBadEvent", err)
			}
			return
		}
		once := mustEncode(t, ev)
		again, err := DecodeEvent(once)
		if err != nil || !bytes.Equal(mustEncode(t, again), once) {
			t.Fatalf("round trip changed the event (%v)", err)
		}
		r := RedactEvent(ev, testPseudonym)
		mustEncode(t, r)
		NewMemberState(r.Member).Apply(r)
		NewMemberState(ev.Member).Apply(ev)
	})
}

// TestLifecycleFuzzCorpus keeps the committed corpus in step with
// lifecycleEvents; -engine.update-lifecycle-corpus rewrites it.
func TestLifecycleFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeLifecycleEvent")
	files := map[string][]byte{
		"erasure-not-pseudonym": []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"member.erased","member":"+919800000001","store":"HQ","at":"2026-06-03T10:00:00Z","erasure":{"subject":"` + strings.Repeat("a", 64) + `"}}`),
		"groups-empty":          []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"member.groups","member":"+919800000001","store":"HQ","at":"2026-06-03T10:00:00Z","group_change":{"add":[],"remove":[]}}`),
	}
	for _, ev := range lifecycleEvents() {
		files[strings.ReplaceAll(string(ev.Kind), ".", "-")] = mustEncode(t, ev)
	}
	for name, data := range files {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *updateLifecycleCorpus {
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
			t.Errorf("corpus file %s is stale (rerun with -engine.update-lifecycle-corpus): %v", path, err)
		}
	}
}

func mustEncode(t testing.TB, ev Event) []byte {
	t.Helper()
	data, err := EncodeEvent(ev)
	if err != nil {
		t.Fatalf("%s/%d %s: %v", ev.Origin, ev.Seq, ev.Kind, err)
	}
	return data
}
