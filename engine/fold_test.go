package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var foldMembers = []string{"+919800000001", "+919800000002"}

// genEvents draws events of several origins on a few members. Each
// origin's HLCs increase, as a real node's do; walls of different
// origins often coincide, so ties are broken by origin.
func genEvents(t *rapid.T) []Event {
	origins := []string{"S001", "S002", "HQ"}
	type clock struct {
		hlc HLC
		seq uint64
	}
	clocks := map[string]*clock{}
	var out []Event
	for i := range rapid.IntRange(1, 40).Draw(t, "n") {
		o := rapid.SampledFrom(origins).Draw(t, "origin")
		c := clocks[o]
		if c == nil {
			c = &clock{}
			clocks[o] = c
		}
		now := evAt.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "tick")) * time.Second)
		c.hlc, c.seq = c.hlc.Next(now), c.seq+1
		ev := Event{Origin: o, Seq: c.seq, HLC: c.hlc, Member: rapid.SampledFrom(foldMembers).Draw(t, "member"),
			Store: o, At: now}
		id := fmt.Sprintf("%s-%d", o, c.seq)
		card := rapid.SampledFrom([]string{"K1", "K2", "K3"}).Draw(t, "card")
		val := rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "value")
		switch rapid.IntRange(0, 7).Draw(t, "kind") {
		case 0:
			ev.Kind = EventMemberEnrolled
			ev.Enrolment = &Enrolment{Profile: map[string]string{FieldFirstName: "n" + id},
				Consents: map[string]bool{"terms": rapid.Bool().Draw(t, "c")},
				Cards:    []CardChange{{Number: card, Type: val}}, Groups: []string{"g" + val}}
		case 1:
			ev.Kind = EventMemberUpdated
			ev.Profile = map[string]string{rapid.SampledFrom(ProfileFields()).Draw(t, "field"): val}
		case 2:
			ev.Kind = EventMemberConsents
			ev.Consents = map[string]bool{rapid.SampledFrom([]string{"terms", "sms"}).Draw(t, "consent"): rapid.Bool().Draw(t, "given")}
		case 3:
			ev.Kind, ev.Card = EventCardIssued, &CardChange{Number: card, Type: val}
		case 4:
			ev.Kind, ev.Card = EventCardBlocked, &CardChange{Number: card, Reason: "lost"}
		case 5:
			ev.Kind, ev.Card = EventCardUnblocked, &CardChange{Number: card}
		case 6:
			ev.Kind = EventSaleCompleted
			ev.Sale = &SaleCompleted{ReceiptID: id, Day: int64(rapid.IntRange(0, 3).Draw(t, "day")),
				Spend: Money(rapid.Int64Range(0, 10000).Draw(t, "spend")),
				Entries: []Entry{{ID: id + "/earn", At: now, Kind: EntryEarn, Points: Points(rapid.Int64Range(0, 50).Draw(t, "earn"))},
					{ID: id + "/redeem", At: now, Kind: EntryRedeem, Points: -Points(rapid.Int64Range(0, 50).Draw(t, "redeem"))}}}
		default:
			ev.Kind = EventSaleReturned
			ev.Return = &SaleReturned{ReceiptID: "r", ReturnNo: id, ReturnID: "r/" + id, Day: int64(rapid.IntRange(0, 3).Draw(t, "rday")),
				Spend:   -Money(rapid.Int64Range(0, 10000).Draw(t, "rspend")),
				Entries: []Entry{{ID: id + "/clawback", At: now, Kind: EntryReturn, Points: -Points(rapid.Int64Range(0, 50).Draw(t, "claw"))}}}
		}
		if err := ValidateEvent(ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

// foldAll folds events into one MemberFold per member and returns a
// canonical rendering of the result.
func foldAll(t *rapid.T, events []Event) string {
	out := ""
	for _, m := range foldMembers {
		f := NewMemberFold(m)
		for _, ev := range events {
			f.Apply(ev)
		}
		if got, want := f.Balance(), Fold(f.Ledger()); got != want {
			t.Fatalf("balance %d, Fold(entries) %d", got, want)
		}
		data, err := json.Marshal(struct {
			State  *MemberState
			Ledger []Entry
			Spend  map[int64]Money
		}{f.State, f.Ledger(), f.Spend})
		if err != nil {
			t.Fatal(err)
		}
		out += string(data) + "\n"
	}
	return out
}

// TestFoldOrderIndependent: any order of the same events, with any
// events repeated, folds to the same state.
func TestFoldOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := genEvents(t)
		want := foldAll(t, events)
		perm := rapid.Permutation(events).Draw(t, "perm")
		for range rapid.IntRange(0, 5).Draw(t, "dups") {
			perm = append(perm, events[rapid.IntRange(0, len(events)-1).Draw(t, "dup")])
		}
		if got := foldAll(t, perm); got != want {
			t.Fatalf("order changed the fold\ngot  %s\nwant %s", got, want)
		}
	})
}

// TestFoldApplyTwice: applying an event again changes nothing.
func TestFoldApplyTwice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		events := genEvents(t)
		for _, m := range foldMembers {
			s := NewMemberState(m)
			for _, ev := range events {
				s.Apply(ev)
				before, _ := json.Marshal(s)
				if s.Apply(ev) {
					t.Fatalf("second apply of %s/%d reported a change", ev.Origin, ev.Seq)
				}
				if after, _ := json.Marshal(s); string(after) != string(before) {
					t.Fatalf("second apply of %s/%d changed the state", ev.Origin, ev.Seq)
				}
			}
		}
	})
}

// TestFoldMobileMerge: the same mobile enrolled at two stores is one
// member: fields last-writer-wins, cards and groups the union, the
// earliest enrolment time.
func TestFoldMobileMerge(t *testing.T) {
	m := "+919800000001"
	a := Event{Origin: "S001", Seq: 1, HLC: HLC{Wall: 100}, Kind: EventMemberEnrolled, Member: m, Store: "S001",
		At: evAt, Enrolment: &Enrolment{Profile: map[string]string{FieldFirstName: "Asha", FieldEmail: "a@x.in"},
			Consents: map[string]bool{"terms": true, "sms": true}, Cards: []CardChange{{Number: "A1", Type: "gold"}},
			Groups: []string{"staff"}}}
	b := Event{Origin: "S002", Seq: 1, HLC: HLC{Wall: 200}, Kind: EventMemberEnrolled, Member: m, Store: "S002",
		At: evAt.Add(time.Minute), Enrolment: &Enrolment{Profile: map[string]string{FieldFirstName: "A. Rao"},
			Consents: map[string]bool{"sms": false}, Cards: []CardChange{{Number: "B1", Type: "classic"}},
			Groups: []string{"vip"}}}
	for _, order := range [][]Event{{a, b}, {b, a}} {
		s := NewMemberState(m)
		for _, ev := range order {
			s.Apply(ev)
		}
		if !s.Enrolled || !s.EnrolledAt.Equal(evAt) {
			t.Errorf("enrolled %v at %v, want the earliest", s.Enrolled, s.EnrolledAt)
		}
		if s.Field(FieldFirstName) != "A. Rao" || s.Field(FieldEmail) != "a@x.in" {
			t.Errorf("profile %v", s.Profile)
		}
		if got := s.ConsentValues(); !reflect.DeepEqual(got, map[string]bool{"terms": true, "sms": false}) {
			t.Errorf("consents %v", got)
		}
		cards := s.HeldCards()
		if len(cards) != 2 || cards[0].Number != "A1" || cards[1].Number != "B1" {
			t.Errorf("cards %+v", cards)
		}
		if !reflect.DeepEqual(s.Groups, []string{"staff", "vip"}) {
			t.Errorf("groups %v", s.Groups)
		}
	}
}

// TestFoldTieByOrigin: equal HLCs are ordered by origin id.
func TestFoldTieByOrigin(t *testing.T) {
	m := "+919800000001"
	mk := func(origin, v string) Event {
		return Event{Origin: origin, Seq: 1, HLC: HLC{Wall: 100}, Kind: EventMemberUpdated, Member: m, Store: origin,
			At: evAt, Profile: map[string]string{FieldLastName: v}}
	}
	for _, order := range [][]Event{{mk("S001", "one"), mk("S002", "two")}, {mk("S002", "two"), mk("S001", "one")}} {
		s := NewMemberState(m)
		for _, ev := range order {
			s.Apply(ev)
		}
		if got := s.Field(FieldLastName); got != "two" {
			t.Errorf("got %q, want the higher origin's write", got)
		}
	}
}
