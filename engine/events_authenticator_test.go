package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateAuthCorpus = flag.Bool("engine.update-auth-corpus", false,
	"rewrite testdata/fuzz/FuzzDecodeAuthenticatorEvent from authenticatorEvents")

var testKey = []byte("12345678901234567890") // RFC 6238's SHA-1 test key

// authenticatorEvents are an enrolment and a removal of one member at two
// origins.
func authenticatorEvents() []Event {
	enrol := Event{Origin: "S001", Seq: 1, HLC: HLC{Wall: evAt.UnixNano()}, Kind: EventMemberAuthenticator,
		Member: "+919800000001", Store: "S001", Terminal: "T01", At: evAt,
		Authenticator: &AuthenticatorChange{Action: AuthenticatorEnrolled, Secret: testKey,
			Algorithm: TOTPSHA1, Digits: 6, Period: 30}}
	remove := Event{Origin: "S002", Seq: 1, HLC: HLC{Wall: evAt.UnixNano() + 1}, Kind: EventMemberAuthenticator,
		Member: "+919800000001", Store: "S002", Terminal: "T09", At: evAt.Add(1),
		Authenticator: &AuthenticatorChange{Action: AuthenticatorRemoved}}
	return []Event{enrol, remove}
}

func TestAuthenticatorEventRoundTrip(t *testing.T) {
	for _, ev := range authenticatorEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Authenticator.Action, err)
		}
		got, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("%s: decode: %v\n%s", ev.Authenticator.Action, err, data)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("round trip\ngot  %+v\nwant %+v", got, ev)
		}
	}
}

func TestAuthenticatorEventRefusals(t *testing.T) {
	good, err := EncodeEvent(authenticatorEvents()[0])
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	secret := `"secret":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="`
	if !strings.Contains(s, secret) {
		t.Fatalf("encoding %s lacks %s", s, secret)
	}
	tests := []struct {
		name, data, detail string
	}{
		{"no payload", strings.Replace(s, `,"authenticator":{`, `,"x":{`, 1), "unknown field"},
		{"payload of another kind", strings.Replace(s, `"kind":"member.authenticator"`, `"kind":"member.consents"`, 1), "payload"},
		{"unknown action", strings.Replace(s, `"action":"enrolled"`, `"action":"paused"`, 1), "action"},
		{"short key", strings.Replace(s, secret, `"secret":"MTIzNDU2Nzg5MDEyMzQ1"`, 1), "key of 15 bytes"},
		{"no key", strings.Replace(s, secret+",", ``, 1), "key of 0 bytes"},
		{"long key", strings.Replace(s, secret, `"secret":"`+strings.Repeat("AAAA", MaxAuthenticatorSecret/3+1)+`"`, 1), "key of"},
		{"algorithm", strings.Replace(s, `"SHA1"`, `"MD5"`, 1), "algorithm"},
		{"digits", strings.Replace(s, `"digits":6`, `"digits":7`, 1), "digits"},
		{"period", strings.Replace(s, `"period":30`, `"period":5`, 1), "period"},
		{"removal with a key", strings.Replace(s, `"action":"enrolled"`, `"action":"removed"`, 1), "carries no key"},
		{"no member", strings.Replace(s, `"member":"+919800000001",`, ``, 1), "member required"},
		{"unknown payload field", strings.Replace(s, `"action":"enrolled"`, `"action":"enrolled","label":"x"`, 1), "unknown field"},
	}
	for _, tt := range tests {
		_, err := DecodeEvent([]byte(tt.data))
		if !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("%s: got %v, want ErrBadEvent with %q", tt.name, err, tt.detail)
		}
	}
}

// TestAuthenticatorFoldOrderFree: the register ends at the later stamp
// whatever order the events arrive in, a re-applied event changes
// nothing, and a removal keeps no key in the state.
func TestAuthenticatorFoldOrderFree(t *testing.T) {
	evs := authenticatorEvents()
	enrol, remove := evs[0], evs[1]
	later := enrol
	later.Origin, later.Seq, later.HLC = "S003", 1, HLC{Wall: evAt.UnixNano() + 2}
	later.Authenticator = &AuthenticatorChange{Action: AuthenticatorEnrolled, Secret: bytes.Repeat([]byte{7}, 20),
		Algorithm: TOTPSHA1, Digits: 6, Period: 30}
	tests := []struct {
		name   string
		order  []Event
		active bool
		secret []byte
	}{
		{"enrol", []Event{enrol}, true, testKey},
		{"enrol, remove", []Event{enrol, remove}, false, nil},
		{"remove, enrol", []Event{remove, enrol}, false, nil},
		{"remove, later enrol, enrol", []Event{remove, later, enrol}, true, later.Authenticator.Secret},
		{"later enrol, remove, enrol", []Event{later, remove, enrol}, true, later.Authenticator.Secret},
	}
	for _, tt := range tests {
		s := NewMemberState("+919800000001")
		for _, ev := range tt.order {
			s.Apply(ev)
		}
		for _, ev := range tt.order {
			if s.Apply(ev) {
				t.Errorf("%s: re-applying %s/%d changed the state", tt.name, ev.Origin, ev.Seq)
			}
		}
		a := s.ActiveAuthenticator()
		if (a != nil) != tt.active {
			t.Fatalf("%s: active %v, want %v", tt.name, a != nil, tt.active)
		}
		if a != nil && !bytes.Equal(a.Secret, tt.secret) {
			t.Errorf("%s: key %x, want %x", tt.name, a.Secret, tt.secret)
		}
		if !tt.active && len(s.Authenticator.Secret) != 0 {
			t.Errorf("%s: a removed authenticator keeps its key", tt.name)
		}
		if other := (Event{Kind: EventMemberAuthenticator, Member: "+91other", Authenticator: enrol.Authenticator}); s.Apply(other) {
			t.Errorf("%s: another member's event changed the state", tt.name)
		}
	}
	// A state with no authenticator encodes as before the register existed.
	data, err := json.Marshal(NewMemberState("+919800000001"))
	if err != nil || strings.Contains(string(data), "authenticator") {
		t.Errorf("empty state encodes as %s (%v)", data, err)
	}
}

// FuzzDecodeAuthenticatorEvent: decoding never panics, refuses only with
// ErrBadEvent, what decodes re-encodes to a fixed point, and a decoded
// member.authenticator event folds without panicking.
func FuzzDecodeAuthenticatorEvent(f *testing.F) {
	for _, ev := range authenticatorEvents() {
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
		s := NewMemberState(ev.Member)
		s.Apply(ev)
		if ev.Kind == EventMemberAuthenticator {
			if got := s.ActiveAuthenticator() != nil; got != (ev.Authenticator.Action == AuthenticatorEnrolled) {
				t.Fatalf("%s folded to active=%v", ev.Authenticator.Action, got)
			}
		}
	})
}

// TestAuthenticatorFuzzCorpus keeps the committed corpus in step with
// authenticatorEvents; -engine.update-auth-corpus rewrites it.
func TestAuthenticatorFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeAuthenticatorEvent")
	files := map[string][]byte{
		"removal-with-key": []byte(`{"v":1,"origin":"S001","seq":1,"hlc":{"wall":1,"logical":0},"kind":"member.authenticator","member":"+91","store":"S001","at":"2026-06-03T10:00:00Z","authenticator":{"action":"removed","secret":"AAAAAAAAAAAAAAAAAAAAAA=="}}`),
		"no-payload":       []byte(`{"v":1,"origin":"S001","seq":1,"hlc":{"wall":1,"logical":0},"kind":"member.authenticator","member":"+91","store":"S001","at":"2026-06-03T10:00:00Z"}`),
	}
	for _, ev := range authenticatorEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		files[ev.Authenticator.Action] = data
	}
	for name, data := range files {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *updateAuthCorpus {
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
			t.Errorf("corpus file %s is stale (rerun with -engine.update-auth-corpus): %v", path, err)
		}
	}
}
