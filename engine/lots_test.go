package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// day returns midnight UTC of 2026-01-dd (dd may exceed 31).
func day(dd int) time.Time { return time.Date(2026, 1, dd, 0, 0, 0, 0, time.UTC) }

// lotEntry is a positive entry expiring at exp (0: never), pending until
// pend (0: not pending).
func lotEntry(id string, at time.Time, kind EntryKind, pts Points, exp, pend int) Entry {
	e := Entry{ID: id, At: at, Store: "S001", Kind: kind, Points: pts, Ref: strings.Split(id, "/")[0]}
	if exp > 0 {
		e.ExpiresAt = day(exp)
	}
	if pend > 0 {
		e.PendingUntil = day(pend)
	}
	return e
}

func spend(id string, at time.Time, kind EntryKind, pts Points, source string) Entry {
	return Entry{ID: id, At: at, Store: "S002", Kind: kind, Points: -pts, Ref: strings.Split(id, "/")[0], Source: source}
}

// remaining maps live lot id → remaining.
func remaining(l Lots) map[string]Points {
	out := map[string]Points{}
	for _, lot := range l.Live {
		out[lot.ID] = lot.Remaining
	}
	return out
}

func TestComputeLots(t *testing.T) {
	h := func(d, hour int) time.Time { return day(d).Add(time.Duration(hour) * time.Hour) }
	tests := []struct {
		name      string
		entries   []Entry
		through   time.Time
		live      map[string]Points
		debt      Points
		expiries  map[string]Points // expire entry id → points
		wantOrder []string          // live lot ids in order, when checked
	}{
		{
			name: "a redemption takes the lot that expires soonest, never-expiring last",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 40, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 100, 30, 0),
				lotEntry("C/earn", h(3, 10), EntryEarn, 100, 0, 0),
				spend("D/redeem", h(4, 10), EntryRedeem, 150, ""),
			},
			live:      map[string]Points{"A/earn": 50, MergedLotID: 100},
			expiries:  map[string]Points{},
			wantOrder: []string{"A/earn", MergedLotID},
		},
		{
			name: "equal expiry: the older lot first",
			entries: []Entry{
				lotEntry("B/earn", h(1, 11), EntryEarn, 10, 30, 0),
				lotEntry("A/earn", h(1, 12), EntryEarn, 10, 30, 0),
				spend("D/redeem", h(4, 10), EntryRedeem, 15, ""),
			},
			live:     map[string]Points{"A/earn": 5},
			expiries: map[string]Points{},
		},
		{
			name: "pending lots are spent last, even when they expire sooner",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 60, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 100, 40, 9),
				spend("D/redeem", h(3, 10), EntryRedeem, 120, ""),
			},
			live:     map[string]Points{"B/earn": 80},
			expiries: map[string]Points{},
		},
		{
			name: "a lot is past pending at its PendingUntil",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 60, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 100, 40, 9),
				spend("D/redeem", day(9), EntryRedeem, 120, ""),
			},
			live:     map[string]Points{"A/earn": 80},
			expiries: map[string]Points{},
		},
		{
			name: "a claw-back takes from its sale's lots first, then the soonest",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 30, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 60, 40, 0),
				lotEntry("B/bonus", h(2, 10), EntryBonus, 10, 40, 0),
				spend("D/redeem", h(3, 10), EntryRedeem, 110, ""),
				spend("B/1@S002/clawback", h(4, 10), EntryReturn, 70, "B"),
			},
			// D takes A 100, then B/bonus 10 (same expiry and time: id order).
			// The claw-back takes B/earn 60, then nothing of B is left: 10 more
			// from the soonest other lot — none — so 10 debt.
			live:     map[string]Points{},
			debt:     10,
			expiries: map[string]Points{},
		},
		{
			name: "a refund lot does not count as the sale's own",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 30, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 50, 40, 0),
				lotEntry("B/1@S001/refund", h(3, 10), EntryReturn, 20, 60, 0),
				spend("B/2@S001/clawback", h(4, 10), EntryReturn, 60, "B"),
			},
			live:     map[string]Points{"A/earn": 90, "B/1@S001/refund": 20},
			expiries: map[string]Points{},
		},
		{
			name: "debt is repaid by the next lot",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 50, 30, 0),
				spend("D/redeem", h(2, 10), EntryRedeem, 80, ""),
				lotEntry("E/earn", h(3, 10), EntryEarn, 100, 33, 0),
			},
			live:     map[string]Points{"E/earn": 70},
			expiries: map[string]Points{},
		},
		{
			name: "no mark: nothing expires, whatever the date",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
				spend("D/redeem", h(20, 10), EntryRedeem, 30, ""),
			},
			live:     map[string]Points{"A/earn": 70},
			expiries: map[string]Points{},
		},
		{
			name: "marked: a lot expires with what it held, entries from its expiry on take other lots",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
				lotEntry("B/earn", h(2, 10), EntryEarn, 100, 0, 0),
				spend("D/redeem", h(3, 10), EntryRedeem, 30, ""), // before the expiry: from A
				spend("F/redeem", day(5), EntryRedeem, 20, ""),   // at the expiry instant: A is gone
			},
			through:  day(6),
			live:     map[string]Points{MergedLotID: 80},
			expiries: map[string]Points{"A/earn/expire": -70},
		},
		{
			name: "a mark before the expiry leaves the lot",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
			},
			through:  h(4, 23),
			live:     map[string]Points{"A/earn": 100},
			expiries: map[string]Points{},
		},
		{
			name: "a spent lot expires nothing and leaves no entry",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
				spend("D/redeem", h(3, 10), EntryRedeem, 100, ""),
			},
			through:  day(6),
			live:     map[string]Points{},
			expiries: map[string]Points{},
		},
		{
			name: "an expiry never takes debt: a later overdraft stays debt",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
				spend("D/redeem", h(6, 10), EntryRedeem, 100, ""), // after the expiry
			},
			through:  day(7),
			live:     map[string]Points{},
			debt:     100,
			expiries: map[string]Points{"A/earn/expire": -100},
		},
		{
			name: "posted expire entries and zero entries are ignored",
			entries: []Entry{
				lotEntry("A/earn", h(1, 10), EntryEarn, 100, 5, 0),
				{ID: "A/earn/expire", At: day(5), Kind: EntryExpire, Points: -100},
				{ID: "Z/earn", At: h(2, 1), Kind: EntryEarn},
			},
			live:     map[string]Points{"A/earn": 100},
			expiries: map[string]Points{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lots, expiries := ComputeLots(tc.entries, tc.through)
			if got := remaining(lots); !reflect.DeepEqual(got, tc.live) {
				t.Errorf("live %v, want %v", got, tc.live)
			}
			if lots.Debt != tc.debt {
				t.Errorf("debt %d, want %d", lots.Debt, tc.debt)
			}
			got := map[string]Points{}
			var sum Points
			for _, e := range expiries {
				got[e.ID] = e.Points
				sum -= e.Points
				if e.Kind != EntryExpire || e.Ref+"/expire" != e.ID {
					t.Errorf("expiry %+v", e)
				}
			}
			if !reflect.DeepEqual(got, tc.expiries) {
				t.Errorf("expiries %v, want %v", got, tc.expiries)
			}
			if lots.Expired != sum {
				t.Errorf("expired %d, want %d", lots.Expired, sum)
			}
			if tc.wantOrder != nil {
				var ids []string
				for _, l := range lots.Live {
					ids = append(ids, l.ID)
				}
				if !reflect.DeepEqual(ids, tc.wantOrder) {
					t.Errorf("order %v, want %v", ids, tc.wantOrder)
				}
			}
			checkLotsIdentity(t, tc.entries, lots, expiries)
		})
	}
}

// checkLotsIdentity: Σ posted + Σ expiries = Σ live − debt.
func checkLotsIdentity(t interface{ Fatalf(string, ...any) }, entries []Entry, lots Lots, expiries []Entry) {
	var ledger, held Points
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Kind != EntryExpire && !seen[e.ID] {
			seen[e.ID] = true
			ledger += e.Points
		}
	}
	for _, e := range expiries {
		ledger += e.Points
	}
	for _, l := range lots.Live {
		if l.Remaining <= 0 || l.Remaining > l.Points {
			t.Fatalf("lot %s holds %d of %d", l.ID, l.Remaining, l.Points)
		}
		held += l.Remaining
	}
	if ledger != held-lots.Debt {
		t.Fatalf("ledger sums to %d, lots hold %d less debt %d", ledger, held, lots.Debt)
	}
}

// The race of docs/points-expiry.md: a store redeems from a lot offline
// the day before it expires; HQ, not knowing, marks the lot expired; the
// redemption arrives after the mark. The expiry takes only the rest.
func TestExpiryRaceWithOfflineRedemption(t *testing.T) {
	earn := lotEntry("S001-T01-1/earn", day(1), EntryEarn, 100, 10, 0)
	offline := spend("S002-T01-9/redeem", day(9).Add(15*time.Hour), EntryRedeem, 60, "")
	offline.Offline = true
	m := "+919800000001"
	sale := func(origin string, seq uint64, e Entry) Event {
		return Event{Origin: origin, Seq: seq, HLC: HLC{Wall: e.At.UnixNano()}, Kind: EventSaleCompleted, Member: m,
			Store: origin, At: e.At, Sale: &SaleCompleted{ReceiptID: strings.Split(e.ID, "/")[0], Entries: []Entry{e}}}
	}
	mark := Event{Origin: "HQ", Seq: 1, HLC: HLC{Wall: day(10).UnixNano()}, Kind: EventPointsExpired, Member: m,
		Store: "HQ", At: day(10).Add(time.Hour), Expiry: &PointsExpiry{Through: day(10)}}
	for _, order := range [][]Event{
		{sale("S001", 1, earn), mark, sale("S002", 1, offline)},
		{sale("S001", 1, earn), sale("S002", 1, offline), mark},
		{mark, sale("S002", 1, offline), sale("S001", 1, earn)},
	} {
		f := NewMemberFold(m)
		for _, ev := range order {
			f.Apply(ev)
		}
		if got := f.Balance(); got != 0 {
			t.Errorf("balance %d, want 0 (100 earned, 60 redeemed, 40 expired)", got)
		}
		exp := f.Expiries()
		if len(exp) != 1 || exp[0].Points != -40 || !exp[0].At.Equal(day(10)) {
			t.Errorf("expiries %+v, want one of -40 at the expiry", exp)
		}
	}
}

func TestPositionAt(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	lots := Lots{Live: []Lot{
		{ID: "A", Remaining: 30, ExpiresAt: day(20).Add(-330 * time.Minute)}, // 20 Jan 00:00 IST
		{ID: "B", Remaining: 20, ExpiresAt: day(20).Add(18 * time.Hour)},     // 20 Jan 23:30 IST
		{ID: "C", Remaining: 50, ExpiresAt: day(25), PendingUntil: day(12)},
		{ID: "D", Remaining: 40},
		{ID: "E", Remaining: 5, ExpiresAt: day(10)}, // due at the instants below: neither redeemable nor pending
	}}
	tests := []struct {
		name string
		now  time.Time
		warn int
		want Position
	}{
		{"pending, and the soonest day's lots summed", day(11), 30,
			Position{Redeemable: 90, Pending: 50, Expiring: &Expiring{Points: 50, On: "2026-01-20"}}},
		{"the window ends before the expiry", day(11), 5, Position{Redeemable: 90, Pending: 50}},
		{"the window reaches the first lot", day(11), 9,
			Position{Redeemable: 90, Pending: 50, Expiring: &Expiring{Points: 50, On: "2026-01-20"}}},
		{"past pending", day(12), 30,
			Position{Redeemable: 140, Expiring: &Expiring{Points: 50, On: "2026-01-20"}}},
		{"no warnings", day(12), 0, Position{Redeemable: 140}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lots.PositionAt(tc.now, kolkata, tc.warn); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v (%+v), want %+v (%+v)", got, got.Expiring, tc.want, tc.want.Expiring)
			}
		})
	}
	if got := (Lots{Live: []Lot{{ID: "A", Remaining: 0}}, Debt: 10}).PositionAt(day(1), nil, 30); got.Redeemable != 0 {
		t.Errorf("redeemable with debt %d", got.Redeemable)
	}
}

func TestStampLots(t *testing.T) {
	p := &Programme{Earn: EarnRules{ExpireAfterDays: 365, PendingDays: 14}}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	p.Location = kolkata
	at := time.Date(2026, 1, 9, 20, 0, 0, 0, time.UTC) // 10 Jan 01:30 IST
	entries := []Entry{
		{ID: "r/redeem", At: at, Kind: EntryRedeem, Points: -10},
		{ID: "r/earn", At: at, Kind: EntryEarn, Points: 30},
		{ID: "r/bonus", At: at, Kind: EntryBonus, Points: 5},
		{ID: "r/1@S/refund", At: at, Kind: EntryReturn, Points: 7},
		{ID: "r/1@S/clawback", At: at, Kind: EntryReturn, Points: -3},
	}
	StampLots(p, entries, "r")
	expires := time.Date(2027, 1, 10, 0, 0, 0, 0, kolkata).UTC()
	pending := time.Date(2026, 1, 24, 0, 0, 0, 0, kolkata).UTC()
	want := []struct {
		exp, pend time.Time
		source    string
	}{{}, {expires, pending, ""}, {expires, pending, ""}, {expires, time.Time{}, ""}, {time.Time{}, time.Time{}, "r"}}
	for i, w := range want {
		e := entries[i]
		if !e.ExpiresAt.Equal(w.exp) || !e.PendingUntil.Equal(w.pend) || e.Source != w.source {
			t.Errorf("%s: expires %v pending %v source %q; want %v %v %q", e.ID, e.ExpiresAt, e.PendingUntil, e.Source, w.exp, w.pend, w.source)
		}
		if err := checkLotTerms(e); err != nil {
			t.Errorf("%s: %v", e.ID, err)
		}
	}
	none := []Entry{{ID: "x/earn", At: at, Kind: EntryEarn, Points: 30}}
	StampLots(&Programme{}, none, "x")
	if !none[0].ExpiresAt.IsZero() || !none[0].PendingUntil.IsZero() {
		t.Errorf("stamped without settings: %+v", none[0])
	}
}

func TestCheckLotTerms(t *testing.T) {
	at := day(5)
	for _, tc := range []struct {
		name string
		e    Entry
		ok   bool
	}{
		{"plain", Entry{ID: "a", At: at, Kind: EntryEarn, Points: 1}, true},
		{"expires later", Entry{ID: "a", At: at, Kind: EntryEarn, Points: 1, ExpiresAt: day(6), PendingUntil: at}, true},
		{"posted expire", Entry{ID: "a", At: at, Kind: EntryExpire, Points: -1}, false},
		{"negative with expiry", Entry{ID: "a", At: at, Kind: EntryRedeem, Points: -1, ExpiresAt: day(6)}, false},
		{"expires at once", Entry{ID: "a", At: at, Kind: EntryEarn, Points: 1, ExpiresAt: at}, false},
		{"pending before", Entry{ID: "a", At: at, Kind: EntryEarn, Points: 1, PendingUntil: day(4)}, false},
		{"source on a lot", Entry{ID: "a", At: at, Kind: EntryReturn, Points: 1, Source: "r"}, false},
		{"source with control", Entry{ID: "a", At: at, Kind: EntryReturn, Points: -1, Source: "r\x00"}, false},
		{"claw-back source", Entry{ID: "a", At: at, Kind: EntryReturn, Points: -1, Source: "r"}, true},
	} {
		if err := checkLotTerms(tc.e); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestLotSettingsDecode(t *testing.T) {
	doc := func(earn string) []byte {
		return []byte(`{"version": "x1", "currency": "INR", "minor_digits": 2,
		  "earn": {"rates": [{"category": "*", "points": 1, "per": 100}]` + earn + `},
		  "redeem": {"point_value": 25}, "campaigns": []}`)
	}
	p, err := ParseProgramme(doc(`, "expire_after_days": 365, "pending_days": 14, "expiry_warning_days": 0`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Earn.ExpireAfterDays != 365 || p.Earn.PendingDays != 14 || p.ExpiryWarningDays() != 0 {
		t.Errorf("decoded %+v, warning days %d", p.Earn, p.ExpiryWarningDays())
	}
	round, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if q, err := ParseProgramme(round, nil); err != nil || q.ExpiryWarningDays() != 0 || q.Earn.PendingDays != 14 {
		t.Errorf("round trip: %v", err)
	}
	for _, tc := range []struct {
		earn string
		days int
	}{{`, "expire_after_days": 90`, DefaultExpiryWarningDays}, {`, "expire_after_days": 90, "expiry_warning_days": 7`, 7}, {``, 0}} {
		p, err := ParseProgramme(doc(tc.earn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ExpiryWarningDays(); got != tc.days {
			t.Errorf("%s: warning days %d, want %d", tc.earn, got, tc.days)
		}
	}
	for _, tc := range []struct{ earn, want string }{
		{`, "expire_after_days": -1`, "earn.expire_after_days: must be between 0"},
		{`, "expire_after_days": 3661`, "earn.expire_after_days: must be between 0"},
		{`, "pending_days": 367`, "earn.pending_days: must be between 0"},
		{`, "expire_after_days": 10, "pending_days": 10`, "earn.pending_days: must be less than expire_after_days"},
		{`, "expiry_warning_days": -2`, "earn.expiry_warning_days: must be between 0"},
		{`, "expire_after_days": "30"`, "earn.expire_after_days"},
		{`, "expire_after_days": 1.5`, "earn.expire_after_days"},
		{`, "expire_days": 30`, "earn.expire_days"},
	} {
		_, err := ParseProgramme(doc(tc.earn), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.earn, err, tc.want)
		}
	}
}

// Due: a lot spent before its expiry is not due; one that held points at
// its expiry is, even when entries dated after the expiry spent it.
func TestLotsDue(t *testing.T) {
	spentBefore := []Entry{lotEntry("A/earn", day(1), EntryEarn, 10, 5, 0), spend("B/redeem", day(3), EntryRedeem, 10, "")}
	spentAfter := []Entry{lotEntry("A/earn", day(1), EntryEarn, 10, 5, 0), spend("B/redeem", day(6), EntryRedeem, 10, "")}
	for _, tc := range []struct {
		name    string
		entries []Entry
		through time.Time
		at      time.Time
		want    bool
	}{
		{"spent before its expiry", spentBefore, time.Time{}, day(7), false},
		{"spent after its expiry", spentAfter, time.Time{}, day(7), true},
		{"not yet expired", spentAfter, time.Time{}, day(4), false},
		{"marked", spentAfter, day(5), day(7), false},
		{"never expires", []Entry{lotEntry("A/earn", day(1), EntryEarn, 10, 0, 0)}, time.Time{}, day(99), false},
	} {
		lots, _ := ComputeLots(tc.entries, tc.through)
		if got := lots.Due(tc.at); got != tc.want {
			t.Errorf("%s: Due %v, want %v (next expiry %v)", tc.name, got, tc.want, lots.NextExpiry)
		}
	}
}

func TestLotsMerge(t *testing.T) {
	entries := []Entry{
		lotEntry("A/earn", day(1), EntryEarn, 10, 0, 0),
		lotEntry("B/earn", day(2), EntryEarn, 20, 0, 3),
		lotEntry("C/earn", day(3), EntryEarn, 30, 0, 9),
		lotEntry("D/earn", day(4), EntryEarn, 40, 30, 0),
		spend("E/redeem", day(5), EntryRedeem, 45, ""), // D 40 (it expires), then 5 of the merged A and B
	}
	lots, _ := ComputeLots(entries, time.Time{})
	want := []Lot{
		{ID: MergedLotID, At: day(1), Points: 30, Remaining: 25},
		{ID: "C/earn", At: day(3), Points: 30, Remaining: 30, PendingUntil: day(9)},
	}
	if !reflect.DeepEqual(lots.Live, want) {
		t.Errorf("lots %+v, want %+v", lots.Live, want)
	}
	// C merges once an entry comes after its pending time.
	lots, _ = ComputeLots(append(entries, spend("F/redeem", day(10), EntryRedeem, 5, "")), time.Time{})
	want = []Lot{{ID: MergedLotID, At: day(1), Points: 50, Remaining: 50}}
	if !reflect.DeepEqual(lots.Live, want) {
		t.Errorf("lots %+v, want %+v", lots.Live, want)
	}
}

// Resuming a replay with entries that follow gives what replaying all
// of them gives.
func TestLotReplayResume(t *testing.T) {
	entries := []Entry{
		lotEntry("A/earn", day(1), EntryEarn, 100, 5, 0),
		lotEntry("B/earn", day(2), EntryEarn, 100, 0, 4),
		spend("C/redeem", day(3), EntryRedeem, 30, ""),
		spend("D/redeem", day(6), EntryRedeem, 120, ""),
		lotEntry("E/earn", day(7), EntryEarn, 50, 20, 0),
	}
	for _, through := range []time.Time{{}, day(5), day(30)} {
		want, wantExp := ComputeLots(entries, through)
		r := NewLotReplay(through)
		var exp []Entry
		for _, e := range entries[:3] {
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
		if resumed.Follows(entries[1]) || !resumed.Follows(entries[3]) {
			t.Fatal("Follows")
		}
		for _, e := range entries[3:] {
			exp = append(exp, resumed.Apply(e)...)
		}
		got, trailing := resumed.Finish()
		exp = append(exp, trailing...)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(exp, wantExp) {
			t.Errorf("through %v: resumed %+v %+v\nwant %+v %+v", through, got, exp, want, wantExp)
		}
	}
}
