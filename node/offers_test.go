package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// offersProgramme is testProgramme with a toys product, two personal
// offer campaigns (10% off books, Rs 50 off toys, both item level and
// coupon only) and their rules: two visits at least, 30 days, one
// offer at a time.
func offersProgramme(version string) []byte {
	var doc map[string]any
	if err := json.Unmarshal(testProgramme(version, "off"), &doc); err != nil {
		panic(err)
	}
	cat := doc["catalogue"].(map[string]any)
	cat["products"] = append(cat["products"].([]any),
		map[string]any{"sku": "TOY1", "name": "Kite", "category": "toys", "price": 30000})
	doc["campaigns"] = append(doc["campaigns"].([]any),
		map[string]any{"id": "P-BOOKS", "name": "10% off books", "level": "item", "order": 2, "coupon_required": true,
			"condition": map[string]any{"items": map[string]any{"categories": []string{"books"}}},
			"reward":    map[string]any{"percent": 10}},
		map[string]any{"id": "P-TOYS", "name": "Rs 50 off a toy", "level": "item", "order": 3, "coupon_required": true,
			"condition": map[string]any{"items": map[string]any{"categories": []string{"toys"}}},
			"reward":    map[string]any{"amount_off": 5000}})
	doc["personal_offers"] = map[string]any{
		"rules": []any{map[string]any{"category": "books", "campaign": "P-BOOKS"},
			map[string]any{"category": "toys", "campaign": "P-TOYS"}},
		"min_visits": 2, "valid_days": 30, "per_member": 1}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// newHQ opens an HQ node (origin and store "HQ") on clock.
func newHQ(t testing.TB, name string, clock *fakeClock) *peer {
	t.Helper()
	cfg := Config{Path: filepath.Join(t.TempDir(), name+".db"), Store: "HQ", Origin: "HQ", Now: clock.Now, NoSync: true}
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &peer{Node: n, cfg: cfg}
}

// offersChain is HQ and two stores with the offers programme and three
// members enrolled at S1: A bought books on two days, B toys on two days
// and books once (toys rank first), C books once (too few visits).
type offersChain struct {
	clock      *fakeClock
	rng        *rand.Rand
	hq, s1, s2 *peer
}

func newOffersChain(t *testing.T) *offersChain {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	c := &offersChain{clock: &fakeClock{t: testStart}, rng: rand.New(rand.NewPCG(seed, 0))}
	c.hq, c.s1, c.s2 = newHQ(t, "hq", c.clock), newPeer(t, "S1", c.clock, nil), newPeer(t, "S2", c.clock, nil)
	if _, err := c.hq.LoadProgramme(ctx, offersProgramme("po-1")); err != nil {
		t.Fatal(err)
	}
	c.sync(t)
	for _, m := range []string{"9800000001", "9800000002", "9800000003"} {
		if _, err := c.s1.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
			t.Fatal(err)
		}
	}
	c.sale(t, c.s1, "1", memberA, line(1, "BK1", 1, 45000))
	c.sale(t, c.s1, "2", memberB, line(1, "TOY1", 2, 30000), line(2, "BK1", 1, 45000))
	c.sale(t, c.s1, "3", memberC, line(1, "BK1", 4, 45000))
	c.clock.Advance(24 * time.Hour)
	c.sale(t, c.s1, "4", memberA, line(1, "BK1", 2, 45000), line(2, "PEN1", 1, 12000))
	c.sale(t, c.s1, "5", memberB, line(1, "TOY1", 1, 30000))
	c.sync(t)
	return c
}

// sync pulls between every pair until nothing moves.
func (c *offersChain) sync(t *testing.T) { t.Helper(); syncAll(t, c.rng, c.hq, c.s1, c.s2) }

func (c *offersChain) sale(t *testing.T, at *peer, no, member string, lines ...engine.Line) *Receipt {
	t.Helper()
	rc, err := at.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: no, Member: mobile(member),
		Basket: &engine.Basket{Lines: lines}})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// runOffers runs the job on n with a local emit.
func runOffers(t *testing.T, n *Node, now time.Time) PersonalOffersRun {
	t.Helper()
	run, err := n.RunPersonalOffers(ctx, now, localEmit(n))
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestPersonalOffersChain: HQ offers A books and B toys (C has one
// visit); a rerun and a follower's run offer nothing; the offers reach
// the stores, member.identify and the receipt list them; A redeems at
// S1 with the campaign's discount; another member cannot use A's code;
// S2, synced, refuses the second use; the report counts it all.
func TestPersonalOffersChain(t *testing.T) {
	c := newOffersChain(t)
	now := c.clock.Now()
	run := runOffers(t, c.hq.Node, now)
	if want := (PersonalOffersRun{Members: 3, Offered: 2, Offers: 2}); run != want {
		t.Fatalf("run %+v, want %+v", run, want)
	}
	if again := runOffers(t, c.hq.Node, now.Add(time.Hour)); again != (PersonalOffersRun{Members: 3}) {
		t.Errorf("rerun %+v", again)
	}
	// A follower that holds the same events and becomes leader offers
	// nothing either.
	follower := newHQ(t, "hq2", c.clock)
	syncAll(t, c.rng, c.hq, follower)
	if got := runOffers(t, follower.Node, now.Add(2*time.Hour)); got != (PersonalOffersRun{Members: 3}) {
		t.Errorf("follower run %+v", got)
	}
	c.sync(t)
	codeA := engine.PersonalOfferCode("PO", memberA, "P-BOOKS", 0)
	codeB := engine.PersonalOfferCode("PO", memberB, "P-TOYS", 0)
	issued := eventsOf(t, c.s2.Node, engine.EventOffersIssued)
	if len(issued) != 2 {
		t.Fatalf("%d offers.issued events at S2", len(issued))
	}
	wantA := engine.OffersIssued{Programme: "po-1", Offers: []engine.IssuedOffer{{Code: codeA, Campaign: "P-BOOKS",
		ValidTo: "2026-07-03", Value: "10% off", For: "category:books"}}}
	if issued[0].Member != memberA || !reflect.DeepEqual(*issued[0].Offers, wantA) {
		t.Errorf("first event %s %+v, want A %+v", issued[0].Member, issued[0].Offers, wantA)
	}

	asha := Offer{Code: "ASHA-ONLY", Description: "Rs 10 off with a coupon"} // the programme binds it to A
	for _, tc := range []struct {
		member string
		want   []Offer
	}{
		{memberA, []Offer{asha, {Code: codeA, Description: "10% off books", ValidTo: "2026-07-03"}}},
		{memberB, []Offer{{Code: codeB, Description: "Rs 50 off a toy", ValidTo: "2026-07-03"}}},
		{memberC, []Offer{}},
	} {
		m, err := c.s1.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(tc.member)})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Offers, tc.want) {
			t.Errorf("identify %s: offers %+v, want %+v", tc.member, m.Offers, tc.want)
		}
	}
	// B's receipt prints B's offer.
	if rc := c.sale(t, c.s2, "6", memberB, line(1, "PEN1", 1, 12000)); !reflect.DeepEqual(rc.Offers,
		[]Offer{{Code: codeB, Description: "Rs 50 off a toy", ValidTo: "2026-07-03"}}) {
		t.Errorf("B's receipt offers %+v", rc.Offers)
	}
	// B cannot use A's code.
	_, err := c.s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "7", Member: mobile(memberB), Coupons: []string{codeA},
		Basket: &engine.Basket{Lines: []engine.Line{line(1, "BK1", 1, 45000)}}})
	wantReason(t, err, ReasonCouponInvalid)
	// A redeems at S1: 10% off the books line only.
	rc, err := c.s1.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "8", Member: mobile(memberA), Coupons: []string{codeA},
		Basket: &engine.Basket{Lines: []engine.Line{line(1, "BK1", 2, 45000), line(2, "PEN1", 1, 12000)}}})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Totals.Net != 93000 || !slices.Contains(rc.Applied, "P-BOOKS") || !reflect.DeepEqual(rc.Offers, []Offer{asha}) {
		t.Errorf("receipt: net %d, applied %v, offers %+v; want 93000 with P-BOOKS and the offer used up",
			rc.Totals.Net, rc.Applied, rc.Offers)
	}
	c.sync(t)
	_, err = c.s2.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "9", Member: mobile(memberA), Coupons: []string{codeA},
		Basket: &engine.Basket{Lines: []engine.Line{line(1, "BK1", 1, 45000)}}})
	wantReason(t, err, ReasonCouponUsed)
	c.sync(t)

	for _, n := range []*peer{c.hq, c.s2} {
		checkReport(t, n.Node, ReportFilter{}, "P-BOOKS,1,1,1,9000", "P-TOYS,1,0,0,0", ",2,1,1,9000")
		checkReport(t, n.Node, ReportFilter{Detail: true}, "P-BOOKS,S1,1,1,9000")
		checkReport(t, n.Node, ReportFilter{Store: "S2"}, "P-BOOKS,1,0,0,0", "P-TOYS,1,0,0,0", ",2,0,0,0")
		checkReport(t, n.Node, ReportFilter{To: now}, ",0,0,0,0")
		checkReport(t, n.Node, ReportFilter{From: now, To: now.Add(time.Second)}, "P-BOOKS,1,1,1,9000", "P-TOYS,1,0,0,0", ",2,1,1,9000")
		checkReport(t, n.Node, ReportFilter{From: now.Add(time.Second)}, ",0,0,0,0")
	}
	// A whole return of the sale gives the use back: redeemable again,
	// and no longer counted.
	if _, err := c.s2.Void(ctx, "T01", VoidRequest{ReceiptID: rc.ReceiptID}); err != nil {
		t.Fatal(err)
	}
	checkReport(t, c.s2.Node, ReportFilter{}, "P-BOOKS,1,0,0,0", "P-TOYS,1,0,0,0", ",2,0,0,0")
	if _, err := c.s2.CheckCoupon(ctx, "T01", CouponCheckRequest{Code: codeA, Member: mobile(memberA)}); err != nil {
		t.Errorf("after the return: %v", err)
	}
}

// checkReport fails unless the offers report under f is want.
func checkReport(t *testing.T, n *Node, f ReportFilter, want ...string) {
	t.Helper()
	_, rows := run(t, n, "offers", f)
	if !slices.Equal(rows, want) {
		t.Errorf("%s offers %+v:\n%s\nwant\n%s", n.Origin(), f, strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// TestPersonalOffersRounds: an offer blocks another while it is current,
// used or not; once it lapses the next run issues the next round's code;
// a member without the required consent is offered nothing.
func TestPersonalOffersRounds(t *testing.T) {
	c := newOffersChain(t)
	hq := c.hq.Node
	now := c.clock.Now()
	runOffers(t, hq, now)
	if _, err := c.hq.SetConsents(ctx, "T01", ConsentsRequest{MemberID: memberB,
		Set: map[string]bool{"programme_terms": false}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		days int
		want PersonalOffersRun
	}{
		{29, PersonalOffersRun{Members: 2}},                        // 2026-07-03: still current
		{30, PersonalOffersRun{Members: 2, Offered: 1, Offers: 1}}, // lapsed: round 1 for A
		{31, PersonalOffersRun{Members: 2}},
	} {
		if got := runOffers(t, hq, now.Add(time.Duration(tc.days)*24*time.Hour)); got != tc.want {
			t.Errorf("day +%d: %+v, want %+v", tc.days, got, tc.want)
		}
	}
	issued := eventsOf(t, hq, engine.EventOffersIssued)
	last := issued[len(issued)-1]
	want := engine.IssuedOffer{Code: engine.PersonalOfferCode("PO", memberA, "P-BOOKS", 1), Campaign: "P-BOOKS",
		ValidTo: "2026-08-02", Value: "10% off", For: "category:books"}
	if len(issued) != 3 || last.Member != memberA || !reflect.DeepEqual(last.Offers.Offers, []engine.IssuedOffer{want}) {
		t.Errorf("last of %d events: %s %+v, want A %+v", len(issued), last.Member, last.Offers, want)
	}
}

// TestPersonalOffersDeterministic: two HQ nodes holding the same events
// choose the same offers, code for code; a programme without
// personal_offers offers nothing.
func TestPersonalOffersDeterministic(t *testing.T) {
	c := newOffersChain(t)
	other := newHQ(t, "hq2", c.clock)
	syncAll(t, c.rng, c.hq, other)
	chosen := func(n *Node) []engine.Event {
		var out []engine.Event
		emit := func(_ context.Context, ev engine.Event) (engine.Event, error) { out = append(out, ev); return ev, nil }
		if _, err := n.RunPersonalOffers(ctx, c.clock.Now(), emit); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := chosen(c.hq.Node), chosen(other.Node)
	if len(a) != 2 || !reflect.DeepEqual(a, b) {
		t.Errorf("HQ chose %+v\nthe other %+v", a, b)
	}
	plain := newHQ(t, "plain", c.clock)
	if _, err := plain.LoadProgramme(ctx, testProgramme("t-1", "off")); err != nil {
		t.Fatal(err)
	}
	if got := runOffers(t, plain.Node, c.clock.Now()); got != (PersonalOffersRun{}) {
		t.Errorf("without personal_offers: %+v", got)
	}
}

// TestMoveMemberCoupons: an erased member's offers are bound to its
// pseudonym, as an offers.issued event redacted on arrival would bind
// them; a coupon the programme binds to the member stays as the
// programme says (its document is not redacted, so every node binds it
// alike).
func TestMoveMemberCoupons(t *testing.T) {
	c := newOffersChain(t)
	runOffers(t, c.hq.Node, c.clock.Now())
	const pseudonym = "anon-0123456789abcdef0123456789abcdef"
	moved := newHQ(t, "moved", c.clock)
	redacted := newHQ(t, "redacted", c.clock)
	for _, o := range []string{"HQ", c.s1.Origin()} {
		evs, err := c.hq.EventsAfter(ctx, o, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := moved.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for i, r := range evs { // what a node that saw the erasure first would store
			ev, err := engine.DecodeEvent(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == engine.EventOffersIssued && ev.Member == memberA {
				if evs[i].Data, err = engine.EncodeEvent(engine.RedactEvent(ev, pseudonym)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := redacted.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	if err := moved.db.Update(func(tx *bbolt.Tx) error { return moveMemberCoupons(tx, memberA, pseudonym) }); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{bucketCoupons, bucketMemberOffers, bucketOffers, bucketOfferIssued} {
		if got, want := dumpBucket(t, moved.Node, b), dumpBucket(t, redacted.Node, b); got != want {
			t.Errorf("%s moved:\n%s\nredacted on arrival:\n%s", b, got, want)
		}
	}
}

// TestPersonalOffersWaitForChainFormat: in a chain some node of which
// may still run the previous build (format 1), the job issues nothing;
// once HQ finalizes the upgrade it issues what is due.
func TestPersonalOffersWaitForChainFormat(t *testing.T) {
	clock := &fakeClock{t: testStart}
	cfg := Config{Path: filepath.Join(t.TempDir(), "hq.db"), Store: "HQ", Origin: "HQ", Now: clock.Now, NoSync: true}
	n := openAt(t, cfg)
	// A programme with personal_offers needs format 2 to load (the first
	// build's decoder refuses the section): load it and trade first, then
	// make the file look like the first build's.
	if _, err := n.LoadProgramme(ctx, offersProgramme("po-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Enroll(ctx, "T01", EnrollRequest{Mobile: "9800000001", Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"1", "2"} {
		if _, err := n.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: no, Member: mobile(memberA),
			Basket: &engine.Basket{Lines: []engine.Line{line(1, "BK1", 1, 45000)}}}); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	asFirstBuildFile(t, cfg.Path)
	n = openAt(t, cfg)
	defer n.Close()
	if _, err := n.LoadProgramme(ctx, offersProgramme("po-2")); !errors.Is(err, ErrChainFormat) {
		t.Fatalf("loading a programme with personal_offers at format 1: %v, want ErrChainFormat", err)
	}
	if got := runOffers(t, n, clock.Now()); got != (PersonalOffersRun{}) {
		t.Fatalf("at format 1: %+v", got)
	}
	fin, err := n.PrepareEvent(ctx, engine.Event{Kind: engine.EventChainFormat,
		Format: &engine.ChainFormatChange{Version: engine.CurrentChainFormat}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ApplyEvents(ctx, []engine.RawEvent{fin}); err != nil {
		t.Fatal(err)
	}
	if got := runOffers(t, n, clock.Now()); got != (PersonalOffersRun{Members: 1, Offered: 1, Offers: 1}) {
		t.Errorf("after the upgrade: %+v", got)
	}
}

// TestErasureTakesOffersAndPatterns: after B (who holds an offer) is
// erased at HQ, no node holds B's mobile in its live data — pattern and
// offer included — the nodes converge, and the report still counts the
// offer.
func TestErasureTakesOffersAndPatterns(t *testing.T) {
	c := newOffersChain(t)
	runOffers(t, c.hq.Node, c.clock.Now())
	c.sync(t)
	ev, _, err := c.hq.ErasureEvent(ctx, memberB, "dpo", bytes.Repeat([]byte{7}, engine.PseudonymRandLen))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.hq.PrepareEvent(ctx, *ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.hq.ApplyEvents(ctx, []engine.RawEvent{raw}); err != nil {
		t.Fatal(err)
	}
	c.sync(t)
	for _, n := range []*peer{c.hq, c.s1, c.s2} {
		if found := liveDataHolding(t, n.Node, "9800000002"); len(found) > 0 {
			t.Errorf("%s still holds B: %v", n.Origin(), found)
		}
		checkReport(t, n.Node, ReportFilter{}, "P-BOOKS,1,0,0,0", "P-TOYS,1,0,0,0", ",2,0,0,0")
	}
	checkConverged(t, []string{memberA}, c.hq, c.s1, c.s2)
}
