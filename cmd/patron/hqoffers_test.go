package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
)

// offersDoc offers 10% off books to members with two visits.
const offersDoc = `{"version": "po-1", "currency": "INR", "minor_digits": 2,
  "catalogue": {"products": [{"sku": "BK1", "category": "books", "price": 45000}]},
  "earn": {"rates": [{"category": "*", "points": 1, "per": 1000}]}, "redeem": {"point_value": 25, "otp": "off"},
  "campaigns": [{"id": "P-BOOKS", "name": "10% off books", "level": "item", "order": 1, "coupon_required": true,
    "condition": {"items": {"categories": ["books"]}}, "reward": {"percent": 10}}],
  "personal_offers": {"rules": [{"category": "books", "campaign": "P-BOOKS"}], "min_visits": 2}}`

// applyLog stands in for the Raft log: it applies proposals to the node.
type applyLog struct{ n *node.Node }

func (l applyLog) AppendEvents(ctx context.Context, evs []engine.RawEvent) (engine.VersionVector, error) {
	return l.n.ApplyEvents(ctx, evs)
}

// leading is a Raft node that always leads.
type leading struct{}

func (leading) IsLeader() bool                    { return true }
func (leading) Barrier(ctx context.Context) error { return ctx.Err() }

// The personal offers job is one of hqJobs, runs on demand (POST
// /jobs/personal-offers) through the emitter, and a second run offers
// nothing.
func TestPersonalOffersJob(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)
	n, err := node.Open(ctx, node.Config{Path: filepath.Join(t.TempDir(), "hq.db"), Store: "HQ", Origin: "HQ",
		NoSync: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.LoadProgramme(ctx, []byte(offersDoc)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Enroll(ctx, "T01", node.EnrollRequest{Mobile: "+919800000001"}); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"1", "2"} {
		if _, err := n.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: no, Member: &node.Identifier{Mobile: "+919800000001"},
			Basket: &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: 1, UnitPrice: 45000}}}}); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	jobs := hqJobs(n, hqevents.NewEmitter(n, applyLog{n}, logger), logger)
	i := slices.IndexFunc(jobs, func(j hqevents.Job) bool { return j.Name == jobPersonalOffers })
	if i < 0 || jobs[i].Every != 24*time.Hour {
		t.Fatalf("jobs %+v: no daily %s", jobs, jobPersonalOffers)
	}
	sched := hqevents.NewScheduler(leading{}, func() time.Time { return now }, time.Minute, logger, jobs...)
	offers := func() []node.Offer {
		t.Helper()
		if err := sched.RunNow(ctx, jobPersonalOffers); err != nil {
			t.Fatal(err)
		}
		m, err := n.Identify(ctx, "T01", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: "+919800000001"}})
		if err != nil {
			t.Fatal(err)
		}
		return m.Offers
	}
	want := []node.Offer{{Code: engine.PersonalOfferCode("PO", "+919800000001", "P-BOOKS", 0), Description: "10% off books",
		ValidTo: "2026-07-02"}}
	for range 2 {
		if got := offers(); !slices.Equal(got, want) {
			t.Fatalf("offers %+v, want %+v", got, want)
		}
	}
	vv, err := n.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vv["HQ"] != 5 { // programme, enrolment, two sales, one offers.issued
		t.Errorf("HQ events %d, want 5", vv["HQ"])
	}
}
