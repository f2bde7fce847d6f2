package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

var tierProgramme = &Programme{Tiers: []Tier{
	{Name: "classic", MinSpend: 0},
	{Name: "silver", MinSpend: 1000000},
	{Name: "gold", MinSpend: 2000000, MultiplierPct: 125},
}}

// tierEvents has one event of each new kind (tier.changed and
// member.greeted), for the round trip and the fuzz corpus.
func tierEvents() []Event {
	base := func(seq uint64, kind EventKind) Event {
		return Event{Origin: "S001", Seq: seq, HLC: HLC{Wall: evAt.UnixNano(), Logical: uint32(seq)}, Kind: kind,
			Member: "+919800000001", Store: "S001", Terminal: "T01", At: evAt}
	}
	sale := base(1, EventTierChanged)
	sale.Tier = &TierChanged{From: "classic", To: "silver", Reason: TierReasonSale, Ref: "S001-T01-7", Spend: 1000000}
	review := base(2, EventTierChanged)
	review.Origin, review.Store, review.Terminal = "HQ1", "HQ1", ""
	review.Tier = &TierChanged{From: "silver", To: "", Reason: TierReasonReview, Spend: -5}
	greet := base(3, EventMemberGreeted)
	greet.Origin, greet.Store, greet.Terminal = "HQ1", "HQ1", ""
	greet.Greeting = &Greeting{Kind: GreetingBirthday, Year: 2026}
	return []Event{sale, review, greet}
}

func TestTierAndGreetingEventsRoundTrip(t *testing.T) {
	for _, ev := range tierEvents() {
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

func TestTierAndGreetingEventRefusals(t *testing.T) {
	evs := tierEvents()
	tier, greet := evs[0], evs[2]
	tests := []struct {
		name   string
		ev     Event
		change func(*Event)
		detail string
	}{
		{"reason", tier, func(e *Event) { e.Tier.Reason = "whim" }, "reason"},
		{"no change", tier, func(e *Event) { e.Tier.To = e.Tier.From }, "must change"},
		{"control in tier", tier, func(e *Event) { e.Tier.To = "gold\x00" }, "printable"},
		{"no member", tier, func(e *Event) { e.Member = "" }, "member required"},
		{"tier without payload", tier, func(e *Event) { e.Tier = nil }, "payload"},
		{"two payloads", tier, func(e *Event) { e.Greeting = &Greeting{Kind: GreetingBirthday, Year: 1} }, "payload"},
		{"greeting kind", greet, func(e *Event) { e.Greeting.Kind = "name_day" }, "greeting kind"},
		{"greeting year 0", greet, func(e *Event) { e.Greeting.Year = 0 }, "year"},
		{"greeting year 10000", greet, func(e *Event) { e.Greeting.Year = 10000 }, "year"},
	}
	for _, tt := range tests {
		ev := tt.ev
		if ev.Tier != nil {
			c := *ev.Tier
			ev.Tier = &c
		}
		if ev.Greeting != nil {
			c := *ev.Greeting
			ev.Greeting = &c
		}
		tt.change(&ev)
		_, err := EncodeEvent(ev)
		if !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), tt.detail) {
			t.Errorf("%s: got %v, want ErrBadEvent with %q", tt.name, err, tt.detail)
		}
	}
}

func TestTierChangeFor(t *testing.T) {
	recorded := func(name string) *MemberState {
		s := NewMemberState("m")
		if name != "-" {
			s.Tier = &TierState{Name: name}
		}
		return s
	}
	tests := []struct {
		name     string
		state    *MemberState
		spend    Money
		from, to string // "" and "" when no change is due
	}{
		{"new member, small sale: base tier, quiet", recorded("-"), 5000, "", ""},
		{"new member crosses silver", recorded("-"), 1000000, "classic", "silver"},
		{"new member jumps to gold", recorded("-"), 2500000, "classic", "gold"},
		{"silver stays silver", recorded("silver"), 1999999, "", ""},
		{"silver to gold at the bound", recorded("silver"), 2000000, "silver", "gold"},
		{"gold drops to silver", recorded("gold"), 1999999, "gold", "silver"},
		{"gold drops to classic", recorded("gold"), 0, "gold", "classic"},
		{"negative spend is below every tier", recorded("classic"), -1, "classic", ""},
		{"recorded tier no longer listed", recorded("platinum"), 2000000, "platinum", "gold"},
	}
	for _, tt := range tests {
		got := TierChangeFor(tierProgramme, tt.state, tt.spend, TierReasonSale, "R1")
		if tt.from == "" && tt.to == "" {
			if got != nil {
				t.Errorf("%s: got change %+v, want none", tt.name, *got)
			}
			continue
		}
		want := &TierChanged{From: tt.from, To: tt.to, Reason: TierReasonSale, Ref: "R1", Spend: tt.spend}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, want)
		}
	}
	if got := TierChangeFor(&Programme{}, NewMemberState("m"), 1<<40, TierReasonReview, ""); got != nil {
		t.Errorf("a programme without tiers changed a tier: %+v", *got)
	}
}

func TestTierRises(t *testing.T) {
	for _, tt := range []struct {
		from, to string
		want     bool
	}{
		{"classic", "silver", true}, {"silver", "gold", true}, {"gold", "silver", false},
		{"", "classic", true}, {"classic", "", false}, {"platinum", "classic", true}, {"gold", "gold", false},
	} {
		if got := tierProgramme.TierRises(tt.from, tt.to); got != tt.want {
			t.Errorf("%q -> %q rises: got %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// The recorded tier and the greeted years converge whatever order the
// events arrive in: a permutation of the same events folds to the same
// state, and applying one twice changes nothing.
func TestTierAndGreetingFoldConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		origins := []string{"S001", "S002", "HQ1"}
		clocks := map[string]HLC{}
		seqs := map[string]uint64{}
		var evs []Event
		for range rapid.IntRange(1, 20).Draw(t, "n") {
			o := rapid.SampledFrom(origins).Draw(t, "origin")
			at := evAt.Add(rapidSeconds(t))
			clocks[o], seqs[o] = clocks[o].Next(at), seqs[o]+1
			ev := Event{Origin: o, Seq: seqs[o], HLC: clocks[o], Member: "m", Store: o, At: at}
			if rapid.Bool().Draw(t, "tier") {
				to := rapid.SampledFrom([]string{"classic", "silver", "gold"}).Draw(t, "to")
				ev.Kind, ev.Tier = EventTierChanged, &TierChanged{From: "x", To: to, Reason: TierReasonSale}
			} else {
				ev.Kind = EventMemberGreeted
				ev.Greeting = &Greeting{Kind: rapid.SampledFrom(GreetingKinds()).Draw(t, "kind"),
					Year: rapid.IntRange(2024, 2027).Draw(t, "year")}
			}
			evs = append(evs, ev)
		}
		fold := func(order []int, twice bool) string {
			s := NewMemberState("m")
			for _, i := range order {
				s.Apply(evs[i])
				if twice {
					if s.Apply(evs[i]) {
						t.Fatalf("applying %s/%d again changed the state", evs[i].Origin, evs[i].Seq)
					}
				}
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		in := make([]int, len(evs))
		for i := range in {
			in[i] = i
		}
		perm := rapid.Permutation(in).Draw(t, "order")
		if a, b := fold(in, false), fold(perm, true); a != b {
			t.Fatalf("orders fold differently\n%s\n%s", a, b)
		}
		// The model: the latest stamp's tier; the highest year per kind.
		var last *Event
		greeted := map[string]int{}
		for i := range evs {
			ev := &evs[i]
			if ev.Tier != nil && (last == nil || last.Stamp().Compare(ev.Stamp()) < 0) {
				last = ev
			}
			if g := ev.Greeting; g != nil && g.Year > greeted[g.Kind] {
				greeted[g.Kind] = g.Year
			}
		}
		s := NewMemberState("m")
		for _, ev := range evs {
			s.Apply(ev)
		}
		if (last == nil) != (s.Tier == nil) || last != nil && s.Tier.Name != last.Tier.To {
			t.Fatalf("recorded tier %+v, want the latest event's %+v", s.Tier, last)
		}
		if len(greeted) == 0 && s.Greeted != nil || len(greeted) > 0 && !reflect.DeepEqual(s.Greeted, greeted) {
			t.Fatalf("greeted %v, want %v", s.Greeted, greeted)
		}
	})
}

// TestTierFuzzCorpus keeps this file's seeds of FuzzDecodeEvent in step
// with tierEvents; -engine.update-corpus rewrites them.
func TestTierFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeEvent")
	for i, ev := range tierEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("tier-%02d-%s", i, strings.ReplaceAll(string(ev.Kind), ".", "-"))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *updateCorpus {
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
