package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// groupEvents are a definition and a membership change.
func groupEvents() []Event {
	def := Event{Origin: "HQ", Seq: 1, HLC: HLC{Wall: evAt.UnixNano()}, Kind: EventGroupDefined, Store: "HQ",
		Terminal: "admin:asha", At: evAt, Group: &GroupDefinition{ID: "vip", Name: "Very important"}}
	change := Event{Origin: "HQ", Seq: 2, HLC: HLC{Wall: evAt.UnixNano() + 1}, Kind: EventMemberGroups,
		Member: "+919800000001", Store: "HQ", At: evAt, GroupChange: &GroupChange{Add: []string{"vip"}, Remove: []string{"staff"}}}
	return []Event{def, change}
}

func TestGroupEventsRoundTrip(t *testing.T) {
	for _, ev := range groupEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
		got, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("%s: decode: %v\n%s", ev.Kind, err, data)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("round trip\ngot  %+v\nwant %+v", got, ev)
		}
	}
}

func TestGroupEventRefusals(t *testing.T) {
	def, change := groupEvents()[0], groupEvents()[1]
	tests := []struct {
		name string
		ev   func() Event
	}{
		{"definition naming a member", func() Event { e := def; e.Member = "+919800000001"; return e }},
		{"definition without a name", func() Event { e := def; e.Group = &GroupDefinition{ID: "vip"}; return e }},
		{"definition without an id", func() Event { e := def; e.Group = &GroupDefinition{Name: "VIP"}; return e }},
		{"definition with a control character", func() Event { e := def; e.Group = &GroupDefinition{ID: "v\x00ip", Name: "x"}; return e }},
		{"definition without payload", func() Event { e := def; e.Group = nil; return e }},
		{"change without member", func() Event { e := change; e.Member = ""; return e }},
		{"change of nothing", func() Event { e := change; e.GroupChange = &GroupChange{}; return e }},
		{"group added and removed", func() Event {
			e := change
			e.GroupChange = &GroupChange{Add: []string{"vip"}, Remove: []string{"vip"}}
			return e
		}},
		{"group added twice", func() Event { e := change; e.GroupChange = &GroupChange{Add: []string{"a", "a"}}; return e }},
		{"empty group id", func() Event { e := change; e.GroupChange = &GroupChange{Add: []string{""}}; return e }},
		{"too many groups", func() Event {
			e := change
			e.GroupChange = &GroupChange{}
			for i := range MaxEventItems + 1 {
				e.GroupChange.Add = append(e.GroupChange.Add, fmt.Sprint("g", i))
			}
			return e
		}},
		{"change with another payload", func() Event { e := change; e.Group = def.Group; return e }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateEvent(tt.ev()); !errors.Is(err, ErrBadEvent) {
				t.Errorf("got %v, want ErrBadEvent", err)
			}
		})
	}
}

// TestGroupMembershipLastWriterWins: an add and a remove of one (member,
// group) resolve to the later one in either order, and an enrolment's
// groups are adds at the enrolment's stamp.
func TestGroupMembershipLastWriterWins(t *testing.T) {
	m := "+919800000001"
	enrol := Event{Origin: "S001", Seq: 1, HLC: HLC{Wall: 100}, Kind: EventMemberEnrolled, Member: m, Store: "S001",
		At: evAt, Enrolment: &Enrolment{Profile: map[string]string{}, Consents: map[string]bool{}, Groups: []string{"staff"}}}
	change := func(origin string, wall int64, add, remove []string) Event {
		return Event{Origin: origin, Seq: 1, HLC: HLC{Wall: wall}, Kind: EventMemberGroups, Member: m, Store: origin,
			At: evAt, GroupChange: &GroupChange{Add: add, Remove: remove}}
	}
	tests := []struct {
		name   string
		events []Event
		want   []string
	}{
		{"remove after the enrolment wins", []Event{enrol, change("HQ", 200, nil, []string{"staff"})}, []string{}},
		{"remove before the enrolment loses", []Event{enrol, change("HQ", 50, nil, []string{"staff"})}, []string{"staff"}},
		{"later add wins", []Event{change("HQ", 300, []string{"vip"}, nil), change("HQ2", 200, nil, []string{"vip"})}, []string{"vip"}},
		{"later remove wins", []Event{change("HQ", 200, []string{"vip"}, nil), change("HQ2", 300, nil, []string{"vip"})}, []string{}},
		{"tie broken by origin", []Event{change("HQ1", 200, []string{"vip"}, nil), change("HQ2", 200, nil, []string{"vip"})}, []string{}},
		{"several groups", []Event{enrol, change("HQ", 200, []string{"vip", "b2b"}, nil)}, []string{"b2b", "staff", "vip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range [][]Event{tt.events, reversed(tt.events)} {
				s := NewMemberState(m)
				for _, ev := range order {
					s.Apply(ev)
				}
				if !reflect.DeepEqual(s.Groups, tt.want) {
					t.Errorf("groups %v, want %v", s.Groups, tt.want)
				}
			}
		})
	}
}

// TestGroupRegisterlessRecord: a record folded before registers existed
// (Groups set, no register) still takes a later removal.
func TestGroupRegisterlessRecord(t *testing.T) {
	s := NewMemberState("+919800000001")
	s.Groups = []string{"staff"}
	if !s.Apply(Event{Origin: "HQ", Seq: 1, HLC: HLC{Wall: 1}, Kind: EventMemberGroups, Member: s.ID, Store: "HQ",
		At: evAt, GroupChange: &GroupChange{Remove: []string{"staff"}}}) {
		t.Fatal("removal reported no change")
	}
	if len(s.Groups) != 0 {
		t.Errorf("groups %v, want none", s.Groups)
	}
}

// TestGroupFoldOrderIndependent: any order of enrolments and group
// changes, with repeats, folds to the same state.
func TestGroupFoldOrderIndependent(t *testing.T) {
	m := "+919800000001"
	groups := []string{"a", "b", "c"}
	rapid.Check(t, func(t *rapid.T) {
		var events []Event
		seqs := map[string]uint64{}
		for range rapid.IntRange(1, 20).Draw(t, "n") {
			o := rapid.SampledFrom([]string{"S001", "S002", "HQ"}).Draw(t, "origin")
			seqs[o]++
			ev := Event{Origin: o, Seq: seqs[o], HLC: HLC{Wall: int64(rapid.IntRange(1, 6).Draw(t, "wall")), Logical: uint32(seqs[o])},
				Member: m, Store: o, At: evAt}
			g := rapid.SampledFrom(groups).Draw(t, "group")
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 0:
				ev.Kind, ev.Enrolment = EventMemberEnrolled, &Enrolment{Profile: map[string]string{}, Consents: map[string]bool{},
					Groups: []string{g}}
			case 1:
				ev.Kind, ev.GroupChange = EventMemberGroups, &GroupChange{Add: []string{g}}
			default:
				ev.Kind, ev.GroupChange = EventMemberGroups, &GroupChange{Remove: []string{g}}
			}
			events = append(events, ev)
		}
		fold := func(evs []Event) string {
			s := NewMemberState(m)
			for _, ev := range evs {
				s.Apply(ev)
			}
			data, _ := json.Marshal(s)
			return string(data)
		}
		want := fold(events)
		perm := rapid.Permutation(events).Draw(t, "perm")
		perm = append(perm, events[rapid.IntRange(0, len(events)-1).Draw(t, "dup")])
		if got := fold(perm); got != want {
			t.Fatalf("order changed the fold\ngot  %s\nwant %s", got, want)
		}
	})
}

func TestFoldGroupDefinition(t *testing.T) {
	def := groupEvents()[0]
	later := def
	later.HLC.Wall++
	later.Group = &GroupDefinition{ID: "vip", Name: "VIP"}
	for _, order := range [][]Event{{def, later}, {later, def}} {
		var cur *GroupRecord
		for _, ev := range order {
			rec, _ := FoldGroupDefinition(cur, ev)
			cur = &rec
		}
		if cur.Name != "VIP" || cur.Stamp != later.Stamp() {
			t.Errorf("got %+v, want the later name", cur)
		}
	}
	rec, _ := FoldGroupDefinition(nil, def)
	if _, changed := FoldGroupDefinition(&rec, def); changed {
		t.Error("folding a definition again reported a change")
	}
}

func reversed(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev
	}
	return out
}
