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

var writeExpiryCorpus = flag.Bool("write-expiry-corpus", false,
	"rewrite testdata/fuzz/FuzzDecodeExpiryEvent from expiryEvents")

// expiryEvents are a mark, a warning, and a sale whose entries carry lot
// terms.
func expiryEvents() []Event {
	m := "+919800000001"
	at := day(10).Add(time.Hour)
	return []Event{
		{Origin: "HQ", Seq: 1, HLC: HLC{Wall: at.UnixNano()}, Kind: EventPointsExpired, Member: m, Store: "HQ", At: at,
			Expiry: &PointsExpiry{Through: day(10)}},
		{Origin: "HQ", Seq: 2, HLC: HLC{Wall: at.UnixNano() + 1}, Kind: EventPointsExpiryWarned, Member: m, Store: "HQ",
			At: at, Expiry: &PointsExpiry{Through: day(41), Points: 120, On: "2026-02-01"}},
		{Origin: "S001", Seq: 7, HLC: HLC{Wall: at.UnixNano()}, Kind: EventSaleCompleted, Member: m, Store: "S001",
			Terminal: "T01", At: at, Sale: &SaleCompleted{ReceiptID: "S001-T01-7", Entries: []Entry{
				{ID: "S001-T01-7/earn", At: at, Store: "S001", Kind: EntryEarn, Points: 30, Ref: "S001-T01-7",
					ExpiresAt: day(375), PendingUntil: day(24)}}}},
		{Origin: "S001", Seq: 8, HLC: HLC{Wall: at.UnixNano() + 5}, Kind: EventSaleReturned, Member: m, Store: "S001",
			At: at, Return: &SaleReturned{ReceiptID: "S001-T01-7", ReturnNo: "1", ReturnID: "S001-T01-7/1",
				CouponsReleased: []string{}, Entries: []Entry{{ID: "S001-T01-7/1@S001/clawback", At: at, Store: "S001",
					Kind: EntryReturn, Points: -30, Ref: "S001-T01-7/1", Source: "S001-T01-7"}}}},
	}
}

func TestExpiryEventRoundTrip(t *testing.T) {
	for _, ev := range expiryEvents() {
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

func TestExpiryEventValidation(t *testing.T) {
	base := expiryEvents()[0]
	for _, tc := range []struct {
		name   string
		change func(*Event)
		want   string
	}{
		{"no through", func(e *Event) { e.Expiry = &PointsExpiry{} }, "through required"},
		{"through in the future", func(e *Event) { e.Expiry = &PointsExpiry{Through: e.At.Add(time.Second)} }, "after the event's time"},
		{"an amount on a mark", func(e *Event) { e.Expiry = &PointsExpiry{Through: e.At, Points: 5} }, "carries no points"},
		{"no member", func(e *Event) { e.Member = "" }, "member required"},
		{"no payload", func(e *Event) { e.Expiry = nil }, "payload does not match"},
		{"another payload", func(e *Event) { e.Greeting = &Greeting{Kind: GreetingBirthday, Year: 2026} }, "payload does not match"},
		{"bad warned day", func(e *Event) {
			e.Kind, e.Expiry = EventPointsExpiryWarned, &PointsExpiry{Through: day(40), Points: 1, On: "01-02"}
		}, "not YYYY-MM-DD"},
		{"negative warned points", func(e *Event) {
			e.Kind, e.Expiry = EventPointsExpiryWarned, &PointsExpiry{Through: day(40), Points: -1}
		}, "must not be negative"},
		{"a posted expire entry", func(e *Event) {
			*e = expiryEvents()[2]
			e.Sale.Entries[0].Kind, e.Sale.Entries[0].Points = EntryExpire, -1
		}, "derived"},
	} {
		ev := base
		tc.change(&ev)
		err := ValidateEvent(ev)
		if !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrBadEvent with %q", tc.name, err, tc.want)
		}
	}
	// A warning may name a window ahead of HQ's clock.
	if err := ValidateEvent(expiryEvents()[1]); err != nil {
		t.Errorf("warning: %v", err)
	}
}

// The register keeps the latest mark of each kind, in any order.
func TestExpiryRegister(t *testing.T) {
	m := "+919800000001"
	mk := func(kind EventKind, seq uint64, through time.Time) Event {
		return Event{Origin: "HQ", Seq: seq, Kind: kind, Member: m, Store: "HQ", At: day(60), Expiry: &PointsExpiry{Through: through}}
	}
	events := []Event{mk(EventPointsExpired, 1, day(10)), mk(EventPointsExpired, 2, day(20)),
		mk(EventPointsExpiryWarned, 3, day(50)), mk(EventPointsExpiryWarned, 4, day(40))}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}} {
		s := NewMemberState(m)
		for _, i := range order {
			s.Apply(events[i])
		}
		if !s.ExpiredThrough().Equal(day(20)) || !s.WarnedThrough().Equal(day(50)) {
			t.Errorf("order %v: expired %v warned %v", order, s.ExpiredThrough(), s.WarnedThrough())
		}
		if s.Apply(events[0]) {
			t.Errorf("an older mark reported a change")
		}
	}
	if s := NewMemberState(m); !s.ExpiredThrough().IsZero() || !s.WarnedThrough().IsZero() {
		t.Error("a new member has marks")
	}
}

func TestExpiryWarningDue(t *testing.T) {
	p := &Programme{Earn: EarnRules{ExpireAfterDays: 365}, Location: time.UTC} // window 30 days
	lots := Lots{Live: []Lot{
		{ID: "A", Remaining: 40, ExpiresAt: day(15)},
		{ID: "B", Remaining: 25, ExpiresAt: day(31)},
		{ID: "C", Remaining: 10, ExpiresAt: day(32)}, // after the window from day 1
		{ID: "D", Remaining: 99},
		{ID: "E", Remaining: 7, ExpiresAt: day(1)}, // due at now: not warned
	}}
	seven := 7
	tests := []struct {
		name   string
		p      *Programme
		warned time.Time
		now    time.Time
		want   *ExpiryWarning
	}{
		{"first warning: every lot of the window", p, time.Time{}, day(1).Add(9 * time.Hour),
			&ExpiryWarning{Through: day(32), Points: 65, On: "2026-01-15"}},
		{"within half a window of the last", p, day(32), day(16).Add(time.Hour), nil},
		{"half a window on: the lots not named yet", p, day(32), day(17),
			&ExpiryWarning{Through: day(48), Points: 10, On: "2026-02-01"}},
		{"a lot on the mark is not yet named", p, day(31), day(17),
			&ExpiryWarning{Through: day(48), Points: 35, On: "2026-01-31"}},
		{"nothing left to name", p, day(48), day(40), nil},
		{"a shorter window", &Programme{Earn: EarnRules{ExpireAfterDays: 365, ExpiryWarningDays: &seven}}, time.Time{}, day(8),
			&ExpiryWarning{Through: day(16), Points: 40, On: "2026-01-15"}},
		{"warnings off", &Programme{Earn: EarnRules{ExpireAfterDays: 365, ExpiryWarningDays: new(int)}}, time.Time{}, day(8), nil},
		{"points never expire", &Programme{}, time.Time{}, day(8), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.ExpiryWarningDue(lots, tc.warned, tc.now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzDecodeExpiryEvent: decoding never panics, refuses only with
// ErrBadEvent, what decodes re-encodes to a fixed point, and a decoded
// event folds without panicking, its lots summing to its ledger.
func FuzzDecodeExpiryEvent(f *testing.F) {
	for _, ev := range expiryEvents() {
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
		if ev.Member == "" {
			return
		}
		fold := NewMemberFold(ev.Member)
		fold.Apply(ev)
		if got, want := fold.Balance(), Fold(fold.Ledger()); got != want {
			t.Fatalf("balance %d, ledger %d", got, want)
		}
		checkLotsIdentity(t, fold.posted(), fold.Lots(), fold.Expiries())
	})
}

// TestWriteExpiryCorpus rewrites the committed seed corpus with
// -write-expiry-corpus; without it, it checks every seed is committed
// (FuzzDecodeExpiryEvent runs them).
func TestWriteExpiryCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeExpiryEvent")
	files := map[string][]byte{
		"mark-in-future":   []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"points.expired","member":"+91","store":"HQ","at":"2026-01-10T00:00:00Z","expiry":{"through":"2026-01-11T00:00:00Z"}}`),
		"expire-entry":     []byte(`{"v":1,"origin":"S1","seq":1,"hlc":{"wall":1,"logical":0},"kind":"sale.completed","member":"+91","store":"S1","at":"2026-01-10T00:00:00Z","sale":{"receipt_id":"r","terminal":"","receipt_no":"","fingerprint":"","programme_version":"","day":0,"evaluation":{"lines":null,"bill_discounts":null,"free_items":null,"choices":null,"totals":{"gross":0,"discount":0,"net":0},"points":{"earn":0,"redeemable":0,"max_redeem_points":0},"applied":null},"entries":[{"id":"e","at":"2026-01-10T00:00:00Z","store":"S1","kind":"expire","points":-5,"ref":"r"}],"spend":0}}`),
		"warned-bad-day":   []byte(`{"v":1,"origin":"HQ","seq":1,"hlc":{"wall":1,"logical":0},"kind":"points.expiry_warned","member":"+91","store":"HQ","at":"2026-01-10T00:00:00Z","expiry":{"through":"2026-02-10T00:00:00Z","points":3,"on":"2026-13-01"}}`),
		"expiry-on-a-sale": []byte(`{"v":1,"origin":"S1","seq":1,"hlc":{"wall":1,"logical":0},"kind":"sale.completed","member":"+91","store":"S1","at":"2026-01-10T00:00:00Z","expiry":{"through":"2026-01-01T00:00:00Z"}}`),
	}
	for i, ev := range expiryEvents() {
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.ReplaceAll(string(ev.Kind), ".", "-")+"-"+string(rune('0'+i))] = data
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		want := []byte("go test fuzz v1\n[]byte(" + quoteGo(data) + ")\n")
		if *writeExpiryCorpus {
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
			t.Fatalf("%v (rewrite with -write-expiry-corpus)", err)
		}
		if !bytes.HasPrefix(got, []byte("go test fuzz v1\n")) {
			t.Errorf("%s is not a fuzz corpus file", path)
		}
	}
}

// quoteGo quotes data as a Go string literal the way the fuzz corpus
// format reads it.
func quoteGo(data []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range data {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			b.WriteString(`\x`)
			b.WriteString("0123456789abcdef"[c>>4 : c>>4+1])
			b.WriteString("0123456789abcdef"[c&15 : c&15+1])
		}
	}
	b.WriteByte('"')
	return b.String()
}
