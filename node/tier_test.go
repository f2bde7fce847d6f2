package node

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// localEmit stands in for hqevents.Emitter.Emit: it prepares ev as the
// node's next event and applies it, as the Raft FSM would.
func localEmit(n *Node) EmitFunc {
	return func(ctx context.Context, ev engine.Event) (engine.Event, error) {
		raw, err := n.PrepareEvent(ctx, ev)
		if err != nil {
			return engine.Event{}, err
		}
		if _, err := n.ApplyEvents(ctx, []engine.RawEvent{raw}); err != nil {
			return engine.Event{}, err
		}
		return engine.DecodeEvent(raw.Data)
	}
}

// eventsOf lists the node's events of kind, every origin.
func eventsOf(t *testing.T, n *Node, kind engine.EventKind) []engine.Event {
	t.Helper()
	vv, err := n.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.Event
	for origin := range vv {
		raws, err := n.EventsAfter(ctx, origin, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range raws {
			ev, err := engine.DecodeEvent(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == kind {
				out = append(out, ev)
			}
		}
	}
	slices.SortFunc(out, func(a, b engine.Event) int { return a.Stamp().Compare(b.Stamp()) })
	return out
}

// outboxOf lists the outbox message ids of kind.
func outboxOf(t *testing.T, n *Node, kind string) []string {
	t.Helper()
	msgs, err := n.OutboxMessages(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Kind == kind {
			out = append(out, m.ID)
		}
	}
	return out
}

func bookSale(no, member string, price engine.Money) SaleRequest {
	return SaleRequest{ReceiptNo: no, Member: mobile(member), Basket: books(1, price)}
}

// A sale that crosses a threshold appends tier.changed once, in its own
// transaction, prints the tier on the receipt and queues the tier text;
// a replay of that sale and a later sale at the same tier add nothing.
func TestSaleCrossingTierAppendsTierChangedOnce(t *testing.T) {
	h := newOutboxHarness(t)
	const m = "+919800000001"
	h.enroll(t, m, "", "")
	steps := []struct {
		name     string
		req      SaleRequest
		tierLine []string // the receipt lines after the points
		events   int      // tier.changed events held after the step
	}{
		{"below silver", bookSale("0001", m, 600000), nil, 0},
		{"crosses silver at the bound", bookSale("0002", m, 400000), []string{"Welcome to silver"}, 1},
		{"replay of the crossing sale", bookSale("0002", m, 400000), []string{"Welcome to silver"}, 1},
		{"stays silver", bookSale("0003", m, 100000), nil, 1},
	}
	for _, s := range steps {
		rc, err := h.CompleteSale(ctx, "T01", s.req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := rc.ReceiptText[len(receiptText(rc.Points)):]; !slices.Equal(got, s.tierLine) {
			t.Errorf("%s: receipt text %q, want the points lines then %q", s.name, rc.ReceiptText, s.tierLine)
		}
		if got := len(eventsOf(t, h.Node, engine.EventTierChanged)); got != s.events {
			t.Errorf("%s: %d tier.changed events, want %d", s.name, got, s.events)
		}
	}
	evs := eventsOf(t, h.Node, engine.EventTierChanged)
	want := engine.TierChanged{From: "classic", To: "silver", Reason: engine.TierReasonSale, Ref: "S001-T01-0002", Spend: 1000000}
	if *evs[0].Tier != want || evs[0].Member != m || evs[0].Terminal != "T01" {
		t.Fatalf("event %+v (%+v), want %+v for %s at T01", evs[0], *evs[0].Tier, want, m)
	}
	id := fmt.Sprintf("%s/%d/%s", evs[0].Origin, evs[0].Seq, engine.MessageTierChanged)
	h.waitState(t, id, OutboxSent)
	if !slices.Contains(h.sender.texts(), id+": Your tier is now silver.") {
		t.Errorf("texts %q, want the tier text %s", h.sender.texts(), id)
	}
	if got := outboxOf(t, h.Node, engine.MessageTierChanged); len(got) != 1 {
		t.Errorf("tier texts %v, want one", got)
	}
	who, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)})
	if err != nil || who.Tier != "silver" {
		t.Fatalf("identify: tier %q (%v), want silver", who.Tier, err)
	}
}

// A return that takes the spend back below the threshold appends
// tier.changed (reason return) naming the return.
func TestReturnBelowTierAppendsTierChanged(t *testing.T) {
	h := newOutboxHarness(t)
	const m = "+919800000001"
	h.enroll(t, m, "", "")
	for _, req := range []SaleRequest{bookSale("0001", m, 600000), bookSale("0002", m, 400000)} {
		if _, err := h.CompleteSale(ctx, "T01", req); err != nil {
			t.Fatal(err)
		}
	}
	req := ReturnRequest{ReceiptID: "S001-T01-0002", ReturnNo: "R1", Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}}
	for range 2 { // the second is a replay
		if _, err := h.Return(ctx, "T01", req); err != nil {
			t.Fatal(err)
		}
	}
	evs := eventsOf(t, h.Node, engine.EventTierChanged)
	if len(evs) != 2 {
		t.Fatalf("%d tier.changed events, want 2 (up, then down)", len(evs))
	}
	want := engine.TierChanged{From: "silver", To: "classic", Reason: engine.TierReasonReturn, Ref: "S001-T01-0002/R1", Spend: 600000}
	if *evs[1].Tier != want {
		t.Fatalf("return's change %+v, want %+v", *evs[1].Tier, want)
	}
	if got := outboxOf(t, h.Node, engine.MessageTierChanged); len(got) != 2 {
		t.Errorf("tier texts %v, want two", got)
	}
}

// A member without the marketing consent has the change recorded (the
// tier is shown anyway) but gets no text: tier texts are marketing.
func TestTierChangeWithoutMarketingConsentSendsNothing(t *testing.T) {
	h := newOutboxHarness(t)
	const m = "+919800000002"
	if _, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	rc, err := h.CompleteSale(ctx, "T01", bookSale("0001", m, 1500000))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rc.ReceiptText, "Welcome to silver") {
		t.Errorf("receipt text %q lacks the tier line", rc.ReceiptText)
	}
	if got := len(eventsOf(t, h.Node, engine.EventTierChanged)); got != 1 {
		t.Errorf("%d tier.changed events, want 1", got)
	}
	if got := outboxOf(t, h.Node, engine.MessageTierChanged); len(got) != 0 {
		t.Errorf("tier texts %v queued without consent", got)
	}
}

func TestTierText(t *testing.T) {
	p := &engine.Programme{Tiers: []engine.Tier{{Name: "classic"}, {Name: "silver", MinSpend: 10}, {Name: "gold", MinSpend: 20}}}
	for _, tt := range []struct {
		change *engine.TierChanged
		want   []string
	}{
		{nil, nil},
		{&engine.TierChanged{From: "classic", To: "gold"}, []string{"Welcome to gold"}},
		{&engine.TierChanged{From: "gold", To: "silver"}, []string{"Your tier is now silver"}},
		{&engine.TierChanged{From: "classic", To: ""}, []string{"Your tier has ended"}},
	} {
		if got := tierText(p, tt.change); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: got %q, want %q", tt.change, got, tt.want)
		}
	}
}

// The HQ review drops a tier the spend window no longer holds, without
// waiting for a sale, once: a rerun and another node holding the same
// events (a new leader) find nothing to do.
func TestRunTierReviewDropsOnceAndIsIdempotent(t *testing.T) {
	h := newOutboxHarness(t)
	const m, quiet = "+919800000001", "+919800000003"
	h.enroll(t, m, "", "")
	h.enroll(t, quiet, "", "")
	for _, req := range []SaleRequest{bookSale("0001", m, 1200000), bookSale("0002", quiet, 1000)} {
		if _, err := h.CompleteSale(ctx, "T01", req); err != nil {
			t.Fatal(err)
		}
	}
	emit := localEmit(h.Node)
	// The same day: nothing moved.
	run, err := h.RunTierReview(ctx, h.clock.Now(), emit)
	if err != nil || run != (TierReview{Members: 2}) {
		t.Fatalf("review on the day: %+v, %v; want 2 members, no change", run, err)
	}
	// 365 days on the sale's day has left the window (today inclusive).
	later := h.clock.Now().Add(365 * 24 * time.Hour)
	h.clock.Advance(365 * 24 * time.Hour)
	who, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)})
	if err != nil || who.Tier != "classic" {
		t.Fatalf("identify a year on: tier %q (%v), want classic before any review", who.Tier, err)
	}
	run, err = h.RunTierReview(ctx, later, emit)
	if err != nil || run != (TierReview{Members: 2, Changed: 1, Queued: 1}) {
		t.Fatalf("review a year on: %+v, %v; want one change, one text", run, err)
	}
	evs := eventsOf(t, h.Node, engine.EventTierChanged)
	last := evs[len(evs)-1]
	if want := (engine.TierChanged{From: "silver", To: "classic", Reason: engine.TierReasonReview}); *last.Tier != want || last.Member != m {
		t.Fatalf("review event %+v for %s, want %+v for %s", *last.Tier, last.Member, want, m)
	}
	run, err = h.RunTierReview(ctx, later, emit)
	if err != nil || run.Changed != 0 {
		t.Fatalf("rerun: %+v, %v; want no change", run, err)
	}
	// Another node with the same events decides the same: nothing.
	other := openPlain(t, "HQ2")
	copyEvents(t, h.Node, other)
	run, err = other.RunTierReview(ctx, later, localEmit(other))
	if err != nil || run.Changed != 0 {
		t.Fatalf("new leader: %+v, %v; want no change", run, err)
	}
}

// openPlain opens a node without an outbox, origin id.
func openPlain(t *testing.T, id string) *Node {
	t.Helper()
	n, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "n.db"), Store: id, Origin: id, NoSync: true,
		Now: func() time.Time { return testStart }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// copyEvents applies every event of from to to.
func copyEvents(t *testing.T, from, to *Node) {
	t.Helper()
	vv, err := from.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for origin := range vv {
		raws, err := from.EventsAfter(ctx, origin, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.ApplyEvents(ctx, raws); err != nil {
			t.Fatal(err)
		}
	}
}

// In a chain still at format 1 (an upgrade not finalized) the sale
// completes without noting the move, and the HQ jobs do nothing: older
// nodes could not decode the events.
func TestTierAndGreetingsWaitForTheChainFormat(t *testing.T) {
	clock := &fakeClock{t: testStart}
	path := filepath.Join(t.TempDir(), "p.db")
	cfg := Config{Path: path, Store: "S001", Origin: "S001", Now: clock.Now, NoSync: true, SMS: &scriptedSender{}}
	openAt(t, cfg).Close()
	asFirstBuildFile(t, path)
	h := &harness{Node: openAt(t, cfg), cfg: cfg, clock: clock}
	defer h.Close()
	if _, err := h.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatal(err)
	}
	const m = "+919800000001"
	h.enrollDays(t, m, "06-03", "", true)
	rc, err := h.CompleteSale(ctx, "T01", bookSale("0001", m, 1500000))
	if err != nil {
		t.Fatalf("a crossing sale at format 1: %v", err)
	}
	if slices.Contains(rc.ReceiptText, "Welcome to silver") {
		t.Errorf("receipt text %q notes a move the chain cannot carry", rc.ReceiptText)
	}
	if run, err := h.RunGreetings(ctx, clock.Now(), localEmit(h.Node)); err != nil || run != (GreetingRun{}) {
		t.Errorf("greetings at format 1: %+v, %v", run, err)
	}
	if run, err := h.RunTierReview(ctx, clock.Now(), localEmit(h.Node)); err != nil || run != (TierReview{}) {
		t.Errorf("review at format 1: %+v, %v", run, err)
	}
	for _, kind := range []engine.EventKind{engine.EventTierChanged, engine.EventMemberGreeted} {
		if got := eventsOf(t, h.Node, kind); len(got) != 0 {
			t.Errorf("%d %s events at format 1", len(got), kind)
		}
	}
}
