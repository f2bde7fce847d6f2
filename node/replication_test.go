package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

var replSeed = flag.Uint64("node.repl-seed", 0, "seed of TestConvergence (0: from the clock)")

// peer is a node of a replication test.
type peer struct {
	*Node
	cfg Config
}

// newPeer opens a node with origin (store id = origin) on clock.
func newPeer(t testing.TB, origin string, clock *fakeClock, auth HoldAuthority) *peer {
	t.Helper()
	cfg := Config{Path: filepath.Join(t.TempDir(), origin+".db"), Store: origin, Now: clock.Now,
		SMS: &smsBox{}, NoSync: true, Authority: auth}
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &peer{Node: n, cfg: cfg}
}

// programmeWith is testProgramme with an offline allowance.
func programmeWith(version string, allowance int) []byte {
	var doc map[string]any
	if err := json.Unmarshal(testProgramme(version, "off"), &doc); err != nil {
		panic(err)
	}
	doc["redeem"].(map[string]any)["offline_allowance_points"] = allowance
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// pull applies to `to` what `from` holds and `to` lacks, in batches of
// random size, origins interleaved at random, with some events sent
// again (duplicates must be skipped).
func pull(t testing.TB, rng *rand.Rand, from, to *peer) {
	t.Helper()
	have, err := to.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := from.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var queues [][]engine.RawEvent
	for o, seq := range want {
		if seq <= have[o] {
			continue
		}
		after := have[o]
		if after > 0 && rng.IntN(3) == 0 {
			after -= uint64(1 + rng.IntN(int(after))) // resend some held ones
		}
		evs, err := from.EventsAfter(ctx, o, after, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		queues = append(queues, evs)
	}
	for len(queues) > 0 {
		var batch []engine.RawEvent
		for range 1 + rng.IntN(3) {
			if len(queues) == 0 {
				break
			}
			i := rng.IntN(len(queues))
			k := min(len(queues[i]), 1+rng.IntN(4))
			batch = append(batch, queues[i][:k]...)
			if queues[i] = queues[i][k:]; len(queues[i]) == 0 {
				queues = append(queues[:i], queues[i+1:]...)
			}
		}
		if _, err := to.ApplyEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

// syncAll pulls between every pair until nothing moves.
func syncAll(t testing.TB, rng *rand.Rand, peers ...*peer) {
	t.Helper()
	for range 3 {
		for _, i := range rng.Perm(len(peers)) {
			for _, j := range rng.Perm(len(peers)) {
				if i != j {
					pull(t, rng, peers[i], peers[j])
				}
			}
		}
	}
}

// checkConverged fails unless every peer has the digest of the first and
// answers identify and ledger alike for members.
func checkConverged(t testing.TB, members []string, peers ...*peer) {
	t.Helper()
	first, err := peers[0].StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers[1:] {
		d, err := p.StateDigest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if mustJSON(t, d) != mustJSON(t, first) {
			t.Fatalf("%s digest %v, %s digest %v", p.Origin(), d, peers[0].Origin(), first)
		}
	}
	for _, m := range members {
		var answers []string
		for _, p := range peers {
			got, err := p.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)})
			if r, ok := asRefusal(err); ok {
				answers = append(answers, r.Reason)
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			got.Stale = false // a node's view of HQ, not of the member
			page, err := p.Ledger(ctx, "T01", LedgerRequest{MemberID: m, Limit: MaxLedgerLimit})
			if err != nil {
				t.Fatal(err)
			}
			answers = append(answers, mustJSON(t, got)+mustJSON(t, page))
			if entries, bal, err := p.Entries(ctx, m); err != nil || engine.Fold(entries) != bal {
				t.Fatalf("%s: %s balance %d, fold %d (%v)", p.Origin(), m, bal, engine.Fold(entries), err)
			}
		}
		for i := range answers[1:] {
			if answers[i+1] != answers[0] {
				t.Fatalf("%s: %s answers\n%s\n%s answers\n%s", m, peers[i+1].Origin(), answers[i+1], peers[0].Origin(), answers[0])
			}
		}
	}
}

// TestConvergence trades at random on three nodes with random partial
// syncs between, then syncs fully: every node ends in the same state.
// Replay a failure with -node.repl-seed.
func TestConvergence(t *testing.T) {
	seed := *replSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -node.repl-seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	clock := &fakeClock{t: testStart}
	hq, s1, s2 := newPeer(t, "HQ", clock, nil), newPeer(t, "S001", clock, nil), newPeer(t, "S002", clock, nil)
	peers := []*peer{hq, s1, s2}
	if _, err := hq.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, rng, peers...)
	members := []string{"+919800000001", "+919800000002", "+919800000003"}
	var receipts []string
	for step := range 120 {
		clock.Advance(time.Duration(rng.IntN(3)) * time.Second)
		p := peers[rng.IntN(len(peers))]
		m := members[rng.IntN(len(members))]
		var err error
		switch k := rng.IntN(10); {
		case k < 2:
			_, err = p.Enroll(ctx, "T01", EnrollRequest{Mobile: m, FirstName: fmt.Sprint("n", step),
				Card:     &CardRequest{Number: fmt.Sprintf("K%d", rng.IntN(6)), Type: "gold"},
				Consents: map[string]bool{"programme_terms": true, "sms_marketing": rng.IntN(2) == 0}})
		case k < 3:
			name := fmt.Sprint("u", step)
			_, err = p.UpdateMember(ctx, "T01", UpdateRequest{MemberID: m, Set: ProfileChange{LastName: &name}})
		case k < 4:
			_, err = p.SetConsents(ctx, "T01", ConsentsRequest{MemberID: m, Set: map[string]bool{"sms_marketing": rng.IntN(2) == 0}})
		case k < 5:
			_, err = p.BlockCard(ctx, "T01", BlockCardRequest{Number: fmt.Sprintf("K%d", rng.IntN(6)), Reason: "lost"})
		case k < 8 || len(receipts) == 0:
			req := SaleRequest{ReceiptNo: fmt.Sprint(step), Basket: books(int64(1+rng.IntN(3)), engine.Money(5000+rng.IntN(20000))),
				Member: mobile(m)}
			if rng.IntN(3) == 0 {
				req.Redeem = &RedeemRequest{Points: engine.Points(1 + rng.IntN(30))}
			}
			var rc *Receipt
			if rc, err = p.CompleteSale(ctx, "T01", req); err == nil {
				receipts = append(receipts, rc.ReceiptID)
			}
		default:
			_, err = p.Return(ctx, "T01", ReturnRequest{ReceiptID: receipts[rng.IntN(len(receipts))],
				ReturnNo: fmt.Sprint("R", step), Lines: []engine.ReturnLine{{Line: 1, Qty: 1}}})
		}
		if _, ok := asRefusal(err); err != nil && !ok {
			t.Fatalf("step %d: %v", step, err)
		}
		if rng.IntN(4) == 0 {
			pull(t, rng, peers[rng.IntN(3)], peers[rng.IntN(3)])
		}
	}
	syncAll(t, rng, peers...)
	checkConverged(t, members, peers...)
}

func TestApplyEventsDuplicatesGapsAndBadEvents(t *testing.T) {
	clock := &fakeClock{t: testStart}
	a, b, c := newPeer(t, "S001", clock, nil), newPeer(t, "S002", clock, nil), newPeer(t, "S003", clock, nil)
	if _, err := a.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := a.Enroll(ctx, "T01", EnrollRequest{Mobile: fmt.Sprintf("+91980000000%d", i), Consents: map[string]bool{"programme_terms": true}}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := a.EventsAfter(ctx, a.Origin(), 0, 0, 0)
	if err != nil || len(evs) != 4 {
		t.Fatalf("events %d, %v", len(evs), err)
	}
	if page, _ := a.EventsAfter(ctx, a.Origin(), 0, 2, 0); len(page) != 2 {
		t.Errorf("limit 2: %d events", len(page))
	}
	if page, _ := a.EventsAfter(ctx, a.Origin(), 0, 0, 1); len(page) != 1 {
		t.Errorf("maxBytes 1: %d events, want the first", len(page))
	}
	if vv, err := b.ApplyEvents(ctx, evs[:2]); err != nil || vv[a.Origin()] != 2 {
		t.Fatalf("first two: %v %v", vv, err)
	}
	if vv, err := b.ApplyEvents(ctx, evs); err != nil || vv[a.Origin()] != 4 {
		t.Fatalf("all with duplicates: %v %v", vv, err)
	}
	checkConverged(t, []string{"+919800000000"}, a, b)

	// A gap refuses the whole batch: nothing of it is applied.
	_, err = c.ApplyEvents(ctx, []engine.RawEvent{evs[0], evs[2]})
	if !errors.Is(err, engine.ErrEventGap) {
		t.Errorf("gap: %v", err)
	}
	if vv, _ := c.VersionVector(ctx); vv[a.Origin()] != 0 {
		t.Errorf("after a refused batch: %v", vv)
	}
	bad := evs[1]
	bad.Data = append(bytes.Clone(bad.Data), 'x')
	if _, err := c.ApplyEvents(ctx, []engine.RawEvent{evs[0], bad}); !errors.Is(err, engine.ErrBadEvent) {
		t.Errorf("trailing byte: %v", err)
	}
	wrong := evs[1]
	wrong.Seq = 7
	if _, err := c.ApplyEvents(ctx, []engine.RawEvent{wrong}); !errors.Is(err, engine.ErrBadEvent) {
		t.Errorf("identity mismatch: %v", err)
	}
	if vv, _ := c.VersionVector(ctx); len(vv) != 0 {
		t.Errorf("after refused batches: %v", vv)
	}
}

func TestSameMobileAtTwoStoresMerges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clock := &fakeClock{t: testStart}
	a, b := newPeer(t, "S001", clock, nil), newPeer(t, "S002", clock, nil)
	if _, err := a.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, rng, a, b)
	m := "+919800000001"
	if _, err := a.Enroll(ctx, "T01", EnrollRequest{Mobile: m, FirstName: "Asha", Email: "asha@example.com",
		Card: &CardRequest{Number: "A-1", Type: "gold"}, Consents: map[string]bool{"programme_terms": true, "sms_marketing": true}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := b.Enroll(ctx, "T01", EnrollRequest{Mobile: m, FirstName: "A. Rao",
		Card: &CardRequest{Number: "B-1", Type: "classic"}, Consents: map[string]bool{"programme_terms": true, "sms_marketing": false}}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, rng, a, b)
	checkConverged(t, []string{m}, a, b)
	got, err := a.Identify(ctx, "T01", IdentifyRequest{Identifier: &Identifier{Card: "B-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstName != "A. Rao" || got.Email != "asha@example.com" || len(got.Cards) != 2 || got.Consents["sms_marketing"] ||
		!got.EnrolledAt.Equal(testStart) {
		t.Errorf("merged member %+v", got)
	}
}

func TestConcurrentEditsLastWriterWinsTiesByOrigin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	clock := &fakeClock{t: testStart}
	a, b := newPeer(t, "S001", clock, nil), newPeer(t, "S002", clock, nil)
	if _, err := a.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := a.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, rng, a, b)
	clock.Advance(time.Second) // both nodes stamp the edits with the same HLC
	for _, e := range []struct {
		p    *peer
		name string
	}{{b, "from S002"}, {a, "from S001"}} {
		if _, err := e.p.UpdateMember(ctx, "T01", UpdateRequest{MemberID: m, Set: ProfileChange{LastName: &e.name}}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	later := "later at S001"
	if _, err := a.UpdateMember(ctx, "T01", UpdateRequest{MemberID: m, Set: ProfileChange{FirstName: &later}}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, rng, a, b)
	checkConverged(t, []string{m}, a, b)
	got, _ := b.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)})
	if got.LastName != "from S002" || got.FirstName != later {
		t.Errorf("got %q %q: the tie goes to the higher origin, the later write wins", got.FirstName, got.LastName)
	}
}

// fakeAuthority is HQ as a store sees it: either the HQ node's HoldStore
// (each call a new Raft index) or unreachable.
type fakeAuthority struct {
	mu          sync.Mutex // guards following
	hq          *peer
	index       uint64
	unreachable bool
	voids       []string
}

func (f *fakeAuthority) next() (*peer, uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	return f.hq, f.index, f.unreachable
}

func (f *fakeAuthority) Hold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	hq, idx, down := f.next()
	if down {
		return engine.HoldDecision{}, fmt.Errorf("timeout: %w", engine.ErrHQUnreachable)
	}
	return hq.PlaceHold(ctx, idx, h)
}

func (f *fakeAuthority) Void(ctx context.Context, id string) error {
	hq, idx, down := f.next()
	if down {
		return engine.ErrHQUnreachable
	}
	f.mu.Lock()
	f.voids = append(f.voids, id)
	f.mu.Unlock()
	return hq.VoidHold(ctx, idx, id)
}

func (f *fakeAuthority) Reachable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unreachable
}

// applyAt pushes what from holds into the HQ FSM at index.
func applyAt(t testing.TB, from, hq *peer, index uint64) {
	t.Helper()
	have, _ := hq.VersionVector(ctx)
	evs, err := from.EventsAfter(ctx, from.Origin(), have[from.Origin()], 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hq.ApplyEventsAt(ctx, index, evs); err != nil {
		t.Fatal(err)
	}
}

func holdStatus(t testing.TB, hq *peer, index uint64, id string) engine.HoldDecision {
	t.Helper()
	d, err := hq.PlaceHold(ctx, index, engine.Hold{ID: id, Store: "S001", Member: "+919800000001", Points: 1, At: testStart})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHolds(t *testing.T) {
	clock := &fakeClock{t: testStart}
	hq := newPeer(t, "HQ", clock, nil)
	auth := &fakeAuthority{hq: hq, index: 100}
	s1 := newPeer(t, "S001", clock, auth)
	if _, err := s1.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := s1.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile(m)}); err != nil {
		t.Fatal(err) // earns 100
	}
	applyAt(t, s1, hq, 1)

	d, err := hq.PlaceHold(ctx, 2, engine.Hold{ID: "h1", Store: "S001", Member: m, Points: 60, At: testStart})
	if err != nil || !d.Granted || d.Available != 100 || d.Status != engine.HoldPending {
		t.Fatalf("h1: %+v %v", d, err)
	}
	d, _ = hq.PlaceHold(ctx, 3, engine.Hold{ID: "h2", Store: "S002", Member: m, Points: 50, At: testStart})
	if d.Granted || d.Available != 40 || d.Status != engine.HoldRefused {
		t.Fatalf("h2 over the balance less h1: %+v", d)
	}
	if err := hq.VoidHold(ctx, 4, "h1"); err != nil {
		t.Fatal(err)
	}
	if d := holdStatus(t, hq, 5, "h2"); d.Granted {
		t.Errorf("a refused hold stays refused: %+v", d)
	}
	if d := holdStatus(t, hq, 6, "h1"); d.Status != engine.HoldVoided {
		t.Errorf("h1 after void: %+v", d)
	}
	// An index at or below the applied one changes nothing.
	if d, _ := hq.PlaceHold(ctx, 6, engine.Hold{ID: "h3", Store: "S001", Member: m, Points: 10, At: testStart}); !d.Granted {
		t.Errorf("h3 decision %+v", d)
	}
	if d := holdStatus(t, hq, 7, "h3"); d.Status != engine.HoldPending {
		t.Errorf("h3 was not stored at index 6, so at 7 it is decided afresh: %+v", d)
	}
	if idx, _ := hq.AppliedIndex(ctx); idx != 7 {
		t.Errorf("applied index %d, want 7", idx)
	}
	n, err := hq.ExpireHolds(ctx, 8, testStart.Add(time.Second))
	if err != nil || n != 1 { // h3, placed at 7
		t.Errorf("expired %d, %v", n, err)
	}
	if n, _ := hq.ExpireHolds(ctx, 8, testStart.Add(time.Second)); n != 0 {
		t.Errorf("re-applied expiry expired %d", n)
	}

	// Online redemption: the store's sale takes a hold, and HQ posts it
	// when it applies the sale.
	rc, err := s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "2", Basket: books(1, 10000), Member: mobile(m),
		Redeem: &RedeemRequest{Points: 30}})
	if err != nil || rc.Points.Redeemed != 30 {
		t.Fatalf("online redemption: %v", err)
	}
	id := "S001-T01-2"
	if d := holdStatus(t, hq, 200, id); d.Status != engine.HoldPending {
		t.Fatalf("hold before the sale reached HQ: %+v", d)
	}
	applyAt(t, s1, hq, 201)
	if d := holdStatus(t, hq, 202, id); d.Status != engine.HoldPosted {
		t.Errorf("hold after the sale reached HQ: %+v", d)
	}
	// HQ refuses what the balance less holds cannot cover.
	_, err = s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "3", Basket: books(1, 1000000), Member: mobile(m),
		Redeem: &RedeemRequest{Points: 500}})
	if r := wantReason(t, err, engine.ReasonInsufficientPoints); fmt.Sprint(r.Details["redeemable"]) != "79" {
		t.Errorf("redeemable %v, want 79 (109 earned, 30 redeemed)", r.Details["redeemable"])
	}
	if h := s1.Hello(ctx, "T01"); !h.HQReachable {
		t.Error("hello: HQ unreachable")
	}
}

func TestOfflineRedemption(t *testing.T) {
	clock := &fakeClock{t: testStart}
	auth := &fakeAuthority{unreachable: true}
	s1 := newPeer(t, "S001", clock, auth)
	if _, err := s1.LoadProgramme(ctx, programmeWith("test-1", 40)); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := s1.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 30000), Member: mobile(m)}); err != nil {
		t.Fatal(err) // earns 30
	}
	got, err := s1.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)})
	if err != nil || !got.Stale {
		t.Errorf("identify while HQ is unreachable: stale %v, %v", got.Stale, err)
	}
	if h := s1.Hello(ctx, "T01"); h.HQReachable {
		t.Error("hello: HQ reachable")
	}
	sale := func(no string, points engine.Points) (*Receipt, error) {
		return s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: no, Basket: books(1, 100000), Member: mobile(m),
			Redeem: &RedeemRequest{Points: points}})
	}
	_, err = sale("2", 31)
	wantReason(t, err, engine.ReasonInsufficientPoints) // never above the last known balance
	if _, err := sale("3", 20); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "4", Basket: books(1, 5000000), Member: mobile(m)}); err != nil {
		t.Fatal(err) // earns 5000
	}
	_, err = sale("5", 41)
	wantReason(t, err, ReasonOfflineLimit)
	// The allowance is per member for the whole offline spell, not per
	// sale: 20 are spent, so 21 more is refused and 20 more is the last.
	_, err = sale("6", 21)
	if r := wantReason(t, err, ReasonOfflineLimit); fmt.Sprint(r.Details["offline_remaining"]) != "20" {
		t.Errorf("offline_remaining %v, want 20", r.Details["offline_remaining"])
	}
	if _, err := sale("7", 20); err != nil {
		t.Fatal(err)
	}
	_, err = sale("8", 1)
	wantReason(t, err, ReasonOfflineLimit)
	// Once HQ answers a hold the spell is over; cut off again, the store
	// has the whole allowance back (its earlier spending is in its log,
	// which HQ accounts for).
	hq := newPeer(t, "HQ", clock, nil)
	applyAt(t, s1, hq, 1)
	auth.mu.Lock()
	auth.hq, auth.index, auth.unreachable = hq, 1, false
	auth.mu.Unlock()
	if _, err := sale("9", 10); err != nil {
		t.Fatalf("online redemption: %v", err)
	}
	auth.mu.Lock()
	auth.unreachable = true
	auth.mu.Unlock()
	if _, err := sale("10", 40); err != nil {
		t.Fatalf("offline redemption in a new spell: %v", err)
	}
	page, err := s1.Ledger(ctx, "T01", LedgerRequest{MemberID: m})
	if err != nil {
		t.Fatal(err)
	}
	offline := 0
	for _, e := range page.Entries {
		if e.Offline {
			offline++
			if e.Kind != engine.EntryRedeem || (e.Points != -20 && e.Points != -40) {
				t.Errorf("offline entry %+v", e)
			}
		}
	}
	if offline != 3 {
		t.Errorf("%d offline entries, want 3: %+v", offline, page.Entries)
	}
}

func TestOverdraftFoundAtMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	clock := &fakeClock{t: testStart}
	hq := newPeer(t, "HQ", clock, nil)
	auth := &fakeAuthority{hq: hq, unreachable: true}
	s1, s2 := newPeer(t, "S001", clock, auth), newPeer(t, "S002", clock, auth)
	if _, err := hq.LoadProgramme(ctx, programmeWith("test-1", 80)); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := hq.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hq.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile(m)}); err != nil {
		t.Fatal(err) // earns 100
	}
	syncAll(t, rng, hq, s1, s2)
	for _, s := range []*peer{s1, s2} {
		if _, err := s.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "9", Basket: books(1, 2000), Member: mobile(m),
			Redeem: &RedeemRequest{Points: 80}}); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, rng, hq, s1, s2)
	checkConverged(t, []string{m}, hq, s1, s2)
	for _, p := range []*peer{hq, s1, s2} {
		ods, err := p.Overdrafts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ods) != 1 || ods[0].Member != m || ods[0].Points != 60 || len(ods[0].OfflineEntries) != 2 {
			t.Errorf("%s overdrafts %+v", p.Origin(), ods)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	clock := &fakeClock{t: testStart}
	a, b := newPeer(t, "HQ", clock, nil), newPeer(t, "HQ", clock, nil)
	if _, err := a.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := a.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PlaceHold(ctx, 9, engine.Hold{ID: "h", Store: "S001", Member: m, Points: 1, At: testStart}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.WriteSnapshot(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	if err := b.RestoreSnapshot(ctx, bytes.NewReader([]byte("not a snapshot"))); err == nil {
		t.Error("garbage restored")
	}
	if err := b.RestoreSnapshot(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	checkConverged(t, []string{m}, a, b)
	if idx, err := b.AppliedIndex(ctx); err != nil || idx != 9 {
		t.Errorf("applied index %d, %v", idx, err)
	}
	if p := b.Programme(); p == nil || p.Version != "test-1" {
		t.Errorf("programme after restore: %v", p)
	}
	if _, err := b.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 1000), Member: mobile(m)}); err != nil {
		t.Errorf("sale after restore: %v", err)
	}
}

func TestReopenKeepsEventsAndVersionVector(t *testing.T) {
	clock := &fakeClock{t: testStart}
	a := newPeer(t, "S001", clock, nil)
	if _, err := a.LoadProgramme(ctx, testProgramme("test-1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := a.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	vv, _ := a.VersionVector(ctx)
	digest, _ := a.StateDigest(ctx)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := Open(ctx, a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	again, _ := n.VersionVector(ctx)
	d2, _ := n.StateDigest(ctx)
	if mustJSON(t, again) != mustJSON(t, vv) || mustJSON(t, d2) != mustJSON(t, digest) || vv[a.Origin()] != 2 {
		t.Errorf("after reopen: %v %v, before %v %v", again, d2, vv, digest)
	}
	if _, err := n.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 1000), Member: mobile(m)}); err != nil {
		t.Fatal(err)
	}
	if vv, _ := n.VersionVector(ctx); vv[n.Origin()] != 3 {
		t.Errorf("next local event: %v", vv)
	}
	select {
	case <-n.Committed():
	default:
		t.Error("no Committed signal after a local event")
	}
}
