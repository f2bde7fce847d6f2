package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// HoldConfig sizes the hold round-trip scenario. The zero value of every
// field is valid and documents its default.
type HoldConfig struct {
	// Rounds is how many of each kind of request one till makes, in turn:
	// a bare hold, a sale with a redemption, a sale without. Default 300.
	Rounds int
}

func (c HoldConfig) withDefaults() HoldConfig {
	setDefault(&c.Rounds, 300)
	return c
}

// HoldResult is what the hold scenario measured.
type HoldResult struct {
	Config HoldConfig
	// Bare is Authority.Hold alone: store → HQ leader → Raft entry
	// (fsynced on a quorum, applied to the leader's store) → reply.
	Bare Latencies
	// Redemption is CompleteSale with a redemption: the hold round trip
	// and the store's own fsynced commit.
	Redemption Latencies
	// Sale is CompleteSale without a redemption (no HQ round trip), the
	// baseline Redemption adds the hold to.
	Sale Latencies
}

// RunHolds starts a chain and one online store, gives a member enough
// points at HQ, and times holds and sales one after another from one
// till.
func RunHolds(ctx context.Context, cc ChainConfig, cfg HoldConfig) (HoldResult, error) {
	cfg = cfg.withDefaults()
	res := HoldResult{Config: cfg}
	c, err := StartChain(ctx, cc)
	if err != nil {
		return res, err
	}
	defer c.Close()
	s, err := c.AddStore(ctx, "H01", true)
	if err != nil {
		return res, err
	}
	member, err := c.richMember(ctx, s, engine.Points(100*cfg.Rounds+1000))
	if err != nil {
		return res, err
	}
	ident := &node.Identifier{Mobile: mobileOf(1, 0)}
	sale := func(receipt int, redeem engine.Points) (time.Duration, error) {
		req := node.SaleRequest{ReceiptNo: strconv.Itoa(receipt), Member: ident, Basket: basket(receipt)}
		if redeem > 0 {
			req.Redeem = &node.RedeemRequest{Points: redeem}
		}
		start := time.Now()
		rc, err := s.Node.CompleteSale(ctx, "T01", req)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("bench: sale (redeem %d): %w", redeem, err)
		}
		if rc.Points.Redeemed != redeem {
			return 0, fmt.Errorf("bench: sale redeemed %d, want %d", rc.Points.Redeemed, redeem)
		}
		// Unmeasured: the sale's event reaches HQ before the next
		// request, so each request meets an idle chain.
		return took, c.waitAtHQ(ctx, s)
	}
	for i := range cfg.Rounds {
		start := time.Now()
		d, err := s.Authority.Hold(ctx, engine.Hold{ID: fmt.Sprintf("H01-BARE-%d", i), Store: s.ID,
			Member: member, Points: 1, At: start})
		if err != nil {
			return res, fmt.Errorf("bench: bare hold: %w", err)
		}
		if !d.Granted {
			return res, fmt.Errorf("bench: bare hold %d refused: %+v", i, d)
		}
		res.Bare = append(res.Bare, time.Since(start))
		took, err := sale(2*i+2, 1)
		if err != nil {
			return res, err
		}
		res.Redemption = append(res.Redemption, took)
		if took, err = sale(2*i+3, 0); err != nil {
			return res, err
		}
		res.Sale = append(res.Sale, took)
	}
	return res, nil
}

// richMember loads the programme at s, enrols a member there, earns them
// at least points with one sale, and waits until HQ holds it and s has
// an HQ session: the member's redemptions are then decided by HQ.
func (c *Chain) richMember(ctx context.Context, s *Store, points engine.Points) (string, error) {
	if _, err := s.Node.LoadProgramme(ctx, programme()); err != nil {
		return "", err
	}
	m, err := s.Node.Enroll(ctx, "T01", node.EnrollRequest{Mobile: mobileOf(1, 0), FirstName: "Rich"})
	if err != nil {
		return "", err
	}
	// Books earn 1 point per 1,000 minor units.
	_, err = s.Node.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: "1", Member: &node.Identifier{Mobile: mobileOf(1, 0)},
		Basket: &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: 1, UnitPrice: engine.Money(points) * 1000}}}})
	if err != nil {
		return "", err
	}
	if err := c.waitAtHQ(ctx, s); err != nil {
		return "", err
	}
	err = poll(ctx, "an HQ session at "+s.ID, func() (bool, error) { return s.Authority.Reachable(), nil })
	return m.MemberID, err
}

// waitAtHQ waits until the HQ leader holds every event of s's origin
// that s holds now.
func (c *Chain) waitAtHQ(ctx context.Context, s *Store) error {
	own, err := s.Node.VersionVector(ctx)
	if err != nil {
		return err
	}
	return poll(ctx, s.ID+"'s events at HQ", func() (bool, error) {
		_, leader := c.Leader()
		if leader == nil {
			return false, nil
		}
		vv, err := leader.VersionVector(ctx)
		return err == nil && vv[s.Node.Origin()] >= own[s.Node.Origin()], err
	})
}
