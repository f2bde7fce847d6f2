package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// programme is the benchmark chain's programme: a small catalogue, earn
// by category, redemption without OTP and no offline allowance (so every
// redemption asks HQ).
func programme() []byte {
	doc := map[string]any{
		"version": "bench-1", "currency": "INR", "minor_digits": 2, "default_country_code": "+91",
		"timezone": "Asia/Kolkata",
		"catalogue": map[string]any{
			"products": []any{
				map[string]any{"sku": "BK1", "name": "Novel", "category": "books", "price": 45000},
				map[string]any{"sku": "PEN1", "name": "Pen", "category": "stationery", "price": 12000},
			},
			"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"},
		},
		"earn": map[string]any{"rates": []any{
			map[string]any{"category": "books", "points": 1, "per": 1000},
			map[string]any{"category": "*", "points": 1, "per": 2000},
		}},
		"redeem": map[string]any{"point_value": 1, "min_points": 0, "max_share_pct": 100, "otp": "off",
			"offline_allowance_points": 0},
		"campaigns": []any{},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("bench: programme does not encode: " + err.Error())
	}
	return b
}

// basket is a two-line basket; i varies the quantities so sales differ.
func basket(i int) *engine.Basket {
	return &engine.Basket{Lines: []engine.Line{
		{Line: 1, SKU: "BK1", Qty: int64(1 + i%3), UnitPrice: 45000},
		{Line: 2, SKU: "PEN1", Qty: int64(1 + i%2), UnitPrice: 12000},
	}}
}

// mobileOf is member i's mobile number at a store (distinct per store).
func mobileOf(store, i int) string { return fmt.Sprintf("+9198%04d%04d", store%10000, i%10000) }

// Corpus holds real events made by a scratch store node: Setup (the
// programme and the members' enrolments) and sale templates that Sale
// re-stamps as any origin's n-th event. HQ then commits events exactly as
// a store sends them, without a store per origin.
type Corpus struct {
	Setup []engine.RawEvent
	sales []engine.Event
}

// NewCorpus runs members enrolments and sales sales on a scratch node in
// dir (without fsync: the scratch node is not measured) and keeps their
// events.
func NewCorpus(ctx context.Context, dir string, members, sales int) (*Corpus, error) {
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store, cfg.Origin, cfg.NoSync = filepath.Join(dir, "corpus.db"), "GEN", "GEN", true
	cfg.Logger = discard()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	if _, err := n.LoadProgramme(ctx, programme()); err != nil {
		return nil, err
	}
	for i := range members {
		if _, err := n.Enroll(ctx, "T01", node.EnrollRequest{Mobile: mobileOf(0, i), FirstName: "Member"}); err != nil {
			return nil, err
		}
	}
	setup, err := n.EventsAfter(ctx, "GEN", 0, members+1, 1<<30)
	if err != nil {
		return nil, err
	}
	for i := range sales {
		_, err := n.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: strconv.Itoa(i + 1),
			Member: &node.Identifier{Mobile: mobileOf(0, i%members)}, Basket: basket(i)})
		if err != nil {
			return nil, err
		}
	}
	raw, err := n.EventsAfter(ctx, "GEN", uint64(len(setup)), sales, 1<<30)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Setup: setup}
	for _, r := range raw {
		ev, err := engine.DecodeEvent(r.Data)
		if err != nil {
			return nil, err
		}
		if ev.Kind != engine.EventSaleCompleted {
			return nil, fmt.Errorf("bench: corpus event %d is %s, not a sale", r.Seq, ev.Kind)
		}
		c.sales = append(c.sales, ev)
	}
	return c, nil
}

// Sale returns sale template seq (cycling) as origin's seq-th event: the
// origin, store, receipt and ledger entry ids are rewritten so the event
// is new everywhere, and its HLC is now.
func (c *Corpus) Sale(origin string, seq uint64) (engine.RawEvent, error) {
	ev := c.sales[int(seq-1)%len(c.sales)]
	sale := *ev.Sale
	oldID := sale.ReceiptID
	sale.ReceiptNo = strconv.FormatUint(seq, 10)
	sale.ReceiptID = origin + "-" + sale.Terminal + "-" + sale.ReceiptNo
	sale.Entries = make([]engine.Entry, len(ev.Sale.Entries))
	for i, e := range ev.Sale.Entries {
		e.ID = strings.Replace(e.ID, oldID, sale.ReceiptID, 1)
		e.Ref = strings.Replace(e.Ref, oldID, sale.ReceiptID, 1)
		e.Store = origin
		sale.Entries[i] = e
	}
	ev.Sale = &sale
	ev.Origin, ev.Seq, ev.Store = origin, seq, origin
	ev.HLC = engine.HLC{Wall: time.Now().UnixNano()}
	data, err := engine.EncodeEvent(ev)
	if err != nil {
		return engine.RawEvent{}, err
	}
	return engine.RawEvent{Origin: origin, Seq: seq, Data: data}, nil
}

// Sales returns origin's events from..from+n-1.
func (c *Corpus) Sales(origin string, from uint64, n int) ([]engine.RawEvent, error) {
	out := make([]engine.RawEvent, 0, n)
	for i := range n {
		ev, err := c.Sale(origin, from+uint64(i))
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// MeanBytes is the mean encoded size of the sale templates.
func (c *Corpus) MeanBytes() int {
	total := 0
	for i := range c.sales {
		ev, err := c.Sale("SZ", uint64(i+1))
		if err != nil {
			return 0
		}
		total += len(ev.Data)
	}
	return total / max(1, len(c.sales))
}
