package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genLotEvents draws the events of one member at three origins: sales
// that earn (lots expiring after 3 or 6 days, or never; some pending)
// and redeem, returns that claw back and refund, and HQ expiry marks and
// warnings at random instants. Redemptions may overdraw, as offline ones
// can.
func genLotEvents(t *rapid.T, member string) []Event {
	origins := []string{"S001", "S002", "HQ"}
	seqs := map[string]uint64{}
	var receipts []string
	var out []Event
	base := day(1)
	for range rapid.IntRange(1, 30).Draw(t, "n") {
		o := rapid.SampledFrom(origins).Draw(t, "origin")
		seqs[o]++
		at := base.Add(time.Duration(rapid.IntRange(0, 12*24).Draw(t, "hour")) * time.Hour)
		ev := Event{Origin: o, Seq: seqs[o], HLC: HLC{Wall: at.UnixNano()}, Member: member, Store: o, At: at}
		id := fmt.Sprintf("%s-%d", o, seqs[o])
		switch k := rapid.IntRange(0, 9).Draw(t, "kind"); {
		case o == "HQ" && k < 5:
			ev.Kind = EventPointsExpired
			ev.Expiry = &PointsExpiry{Through: at.Add(-time.Duration(rapid.IntRange(0, 48).Draw(t, "back")) * time.Hour)}
		case o == "HQ":
			ev.Kind = EventPointsExpiryWarned
			ev.Expiry = &PointsExpiry{Through: at.AddDate(0, 0, 3), Points: 1, On: "2026-01-05"}
		case k < 6 || len(receipts) == 0:
			ev.Kind = EventSaleCompleted
			earn := Entry{ID: id + "/earn", At: at, Store: o, Kind: EntryEarn, Ref: id,
				Points: Points(rapid.Int64Range(0, 100).Draw(t, "earn"))}
			if d := rapid.SampledFrom([]int{0, 3, 6}).Draw(t, "expire"); d > 0 && earn.Points > 0 {
				earn.ExpiresAt = at.AddDate(0, 0, d)
			}
			if rapid.IntRange(0, 3).Draw(t, "pending") == 0 && earn.Points > 0 {
				earn.PendingUntil = at.AddDate(0, 0, 1)
			}
			redeem := Entry{ID: id + "/redeem", At: at, Store: o, Kind: EntryRedeem, Ref: id,
				Points: -Points(rapid.Int64Range(0, 120).Draw(t, "redeem"))}
			ev.Sale = &SaleCompleted{ReceiptID: id, Entries: []Entry{redeem, earn}}
			receipts = append(receipts, id)
		default:
			ev.Kind = EventSaleReturned
			receipt := rapid.SampledFrom(receipts).Draw(t, "receipt")
			rid := receipt + "/" + id
			claw := Entry{ID: rid + "/clawback", At: at, Store: o, Kind: EntryReturn, Ref: rid, Source: receipt,
				Points: -Points(rapid.Int64Range(0, 60).Draw(t, "claw"))}
			refund := Entry{ID: rid + "/refund", At: at, Store: o, Kind: EntryReturn, Ref: rid,
				Points: Points(rapid.Int64Range(0, 60).Draw(t, "refund"))}
			if refund.Points > 0 {
				refund.ExpiresAt = at.AddDate(0, 0, 4)
			}
			ev.Return = &SaleReturned{ReceiptID: receipt, ReturnNo: id, ReturnID: rid, Entries: []Entry{claw, refund}}
		}
		if ev.Sale != nil {
			ev.Sale.Entries = nonZero(ev.Sale.Entries)
		}
		if ev.Return != nil {
			ev.Return.Entries = nonZero(ev.Return.Entries)
		}
		if err := ValidateEvent(ev); err != nil {
			t.Fatalf("generated a bad event: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func nonZero(entries []Entry) []Entry {
	return slices.DeleteFunc(entries, func(e Entry) bool { return e.Points == 0 })
}

// foldLots folds events and renders the lots, the ledger (expiries
// included), the balance and the expiry register.
func foldLots(t *rapid.T, member string, events []Event) (string, *MemberFold) {
	f := NewMemberFold(member)
	for _, ev := range events {
		f.Apply(ev)
	}
	data, err := json.Marshal(struct {
		Lots    Lots
		Ledger  []Entry
		Balance Points
		Expiry  *ExpiryState
	}{f.Lots(), f.Ledger(), f.Balance(), f.State.Expiry})
	if err != nil {
		t.Fatal(err)
	}
	return string(data), f
}

// TestLotsOrderIndependent: any permutation of the same events, with
// repeats, gives the same lots, ledger, balance and expired total; the
// ledger sums to the lots; an expiry never takes a balance below zero
// and never takes more than its lot holds.
func TestLotsOrderIndependent(t *testing.T) {
	const member = "+919800000001"
	rapid.Check(t, func(t *rapid.T) {
		events := genLotEvents(t, member)
		want, f := foldLots(t, member, events)
		perm := rapid.Permutation(events).Draw(t, "perm")
		for range rapid.IntRange(0, 4).Draw(t, "dups") {
			perm = append(perm, events[rapid.IntRange(0, len(events)-1).Draw(t, "dup")])
		}
		if got, _ := foldLots(t, member, perm); got != want {
			t.Fatalf("order changed the lots\ngot  %s\nwant %s", got, want)
		}

		entries := make([]Entry, 0, len(f.Entries))
		for _, e := range f.Entries {
			entries = append(entries, e)
		}
		lots, expiries := ComputeLots(entries, f.State.ExpiredThrough())
		checkLotsIdentity(t, entries, lots, expiries)
		checkExpiriesNeverOverdraw(t, entries, expiries)
	})
}

// checkExpiriesNeverOverdraw replays the ledger in the order the lots
// see it (an expiry before the entries of its instant) and checks that
// an expiry never takes a balance that was not negative below zero, nor
// a lot below zero.
func checkExpiriesNeverOverdraw(t *rapid.T, entries, expiries []Entry) {
	type step struct {
		e      Entry
		expiry bool
	}
	var steps []step
	lotPoints := map[string]Points{}
	for _, e := range entries {
		steps = append(steps, step{e: e})
		if e.Points > 0 {
			lotPoints[e.ID] = e.Points
		}
	}
	for _, e := range expiries {
		steps = append(steps, step{e: e, expiry: true})
		if e.Points > 0 || -e.Points > lotPoints[e.Ref] {
			t.Fatalf("expiry %+v of a lot of %d", e, lotPoints[e.Ref])
		}
	}
	slices.SortFunc(steps, func(a, b step) int {
		if c := a.e.At.Compare(b.e.At); c != 0 {
			return c
		}
		if a.expiry != b.expiry {
			if a.expiry {
				return -1
			}
			return 1
		}
		return compareStrings(a.e.ID, b.e.ID)
	})
	var bal Points
	for _, s := range steps {
		before := bal
		bal += s.e.Points
		if s.expiry && before >= 0 && bal < 0 {
			t.Fatalf("expiry %s took the balance from %d to %d", s.e.ID, before, bal)
		}
	}
}

// TestLotsMarkMonotone: a later expiry mark never gives back points an
// earlier mark expired, and never expires more than the lots held.
func TestLotsMarkMonotone(t *testing.T) {
	const member = "+919800000001"
	rapid.Check(t, func(t *rapid.T) {
		var entries []Entry
		for _, ev := range genLotEvents(t, member) {
			entries = append(entries, EventEntries(ev)...)
		}
		a := day(1).Add(time.Duration(rapid.IntRange(0, 14*24).Draw(t, "a")) * time.Hour)
		b := a.Add(time.Duration(rapid.IntRange(0, 14*24).Draw(t, "b")) * time.Hour)
		la, _ := ComputeLots(entries, a)
		lb, _ := ComputeLots(entries, b)
		if lb.Expired < la.Expired {
			t.Fatalf("mark %v expired %d, the later %v %d", a, la.Expired, b, lb.Expired)
		}
		// Due says exactly whether a later mark expires more.
		if got, want := la.Due(b), lb.Expired > la.Expired; got != want {
			t.Fatalf("lots marked through %v: Due(%v) = %v, but marking through it expires %d more (next expiry %v)",
				a, b, got, lb.Expired-la.Expired, la.NextExpiry)
		}
		if !la.Due(b) && !reflect.DeepEqual(la.Live, lb.Live) {
			t.Fatalf("not due, yet the lots differ\n%+v\n%+v", la.Live, lb.Live)
		}
	})
}

// TestLotReplayResumeProperty: a replay stored (as JSON) after any prefix
// of the entries and resumed with the rest ends as replaying them all.
func TestLotReplayResumeProperty(t *testing.T) {
	const member = "+919800000001"
	rapid.Check(t, func(t *rapid.T) {
		var entries []Entry
		for _, ev := range genLotEvents(t, member) {
			entries = append(entries, EventEntries(ev)...)
		}
		slices.SortFunc(entries, CompareEntries)
		through := day(1).Add(time.Duration(rapid.IntRange(0, 14*24).Draw(t, "through")) * time.Hour)
		want, wantExp := ComputeLots(entries, through)
		k := rapid.IntRange(0, len(entries)).Draw(t, "k")
		r := NewLotReplay(through)
		var exp []Entry
		for _, e := range entries[:k] {
			exp = append(exp, r.Apply(e)...)
		}
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var resumed LotReplay
		if err := json.Unmarshal(data, &resumed); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[k:] {
			exp = append(exp, resumed.Apply(e)...)
		}
		got, trailing := resumed.Finish()
		exp = append(exp, trailing...)
		slices.SortFunc(exp, CompareEntries)
		slices.SortFunc(wantExp, CompareEntries)
		if g, w := mustMarshal(t, got, exp), mustMarshal(t, want, wantExp); g != w {
			t.Fatalf("resumed after %d of %d entries\ngot  %s\nwant %s", k, len(entries), g, w)
		}
	})
}

func mustMarshal(t *rapid.T, v ...any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
