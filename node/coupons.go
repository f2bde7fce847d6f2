package node

import (
	"bytes"
	"context"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// CheckCoupon tells whether a coupon code may be used now by the member
// named (or anonymously). Refusals: coupon_invalid (unknown code, campaign
// not in the current programme, or a personal offer of another member),
// coupon_expired, coupon_used; member_not_found and card_blocked for the
// member.
func (n *Node) CheckCoupon(ctx context.Context, terminal string, req CouponCheckRequest) (*CouponCheck, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if req.Code == "" {
		return nil, n.refused(invalid("code", "code required"))
	}
	var ref *memberRef
	if req.Member != nil {
		r, refusal := parseIdentifier(p, req.Member, "member")
		if refusal != nil {
			return nil, n.refused(refusal)
		}
		ref = &r
	}
	var out *CouponCheck
	err = n.db.View(func(tx *bbolt.Tx) error {
		memberID := ""
		if ref != nil {
			rec, _, r, err := findMember(tx, *ref)
			if err != nil {
				return err
			}
			if r != nil {
				return r
			}
			memberID = rec.State.ID
		}
		c, r, err := checkCoupon(tx, p, req.Code, memberID, n.now())
		if err != nil {
			return err
		}
		if r != nil {
			return r
		}
		out = &CouponCheck{Valid: true, Campaign: c.ID, Description: describe(c)}
		return nil
	})
	if err != nil {
		return nil, n.result(err)
	}
	return out, nil
}

// checkCoupon checks one presented code for member ("" when anonymous) at
// at and returns its campaign.
func checkCoupon(tx *bbolt.Tx, p *engine.Programme, code, member string, at time.Time) (*engine.Campaign, *engine.Refusal, error) {
	var rec couponRecord
	found, err := getJSON(tx.Bucket(bucketCoupons), []byte(code), &rec)
	if err != nil {
		return nil, nil, err
	}
	details := []any{"code", code}
	if !found {
		return nil, refuse(ReasonCouponInvalid, "unknown coupon", details...), nil
	}
	c := campaign(p, rec.Campaign)
	if c == nil {
		return nil, refuse(ReasonCouponInvalid, "coupon's campaign is not running", details...), nil
	}
	if rec.Member != "" && rec.Member != member {
		return nil, refuse(ReasonCouponInvalid, "personal offer of another member", details...), nil
	}
	if expired(p, rec.ValidTo, at) {
		return nil, refuse(ReasonCouponExpired, "coupon expired on "+rec.ValidTo, details...), nil
	}
	if uses := couponUses(tx, code); uses >= rec.UsesPerCode {
		return nil, refuse(ReasonCouponUsed, "coupon already used", details...), nil
	}
	return c, nil, nil
}

// acceptCoupons checks every presented code (duplicates count once).
func acceptCoupons(tx *bbolt.Tx, p *engine.Programme, codes []string, member string, at time.Time) ([]engine.AcceptedCoupon, *engine.Refusal, error) {
	out := make([]engine.AcceptedCoupon, 0, len(codes))
	seen := make(map[string]bool, len(codes))
	for _, code := range codes {
		if seen[code] {
			continue
		}
		seen[code] = true
		c, r, err := checkCoupon(tx, p, code, member, at)
		if err != nil || r != nil {
			return nil, r, err
		}
		out = append(out, engine.AcceptedCoupon{Code: code, Campaign: c.ID})
	}
	return out, nil, nil
}

// couponUses counts the uses of code not released by a return.
func couponUses(tx *bbolt.Tx, code string) int {
	prefix := key(code, "")
	c := tx.Bucket(bucketCouponUses).Cursor()
	uses := 0
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) == 1 && v[0] == useUsed {
			uses++
		}
	}
	return uses
}

// memberOffers lists the member's personal offers usable at at.
func memberOffers(tx *bbolt.Tx, p *engine.Programme, member string, at time.Time) ([]Offer, error) {
	out := []Offer{}
	prefix := key(member, "")
	c := tx.Bucket(bucketMemberOffers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < MaxOffersShown; k, _ = c.Next() {
		code := string(k[len(prefix):])
		camp, r, err := checkCoupon(tx, p, code, member, at)
		if err != nil {
			return nil, err
		}
		if r != nil {
			continue
		}
		var rec couponRecord
		if _, err := getJSON(tx.Bucket(bucketCoupons), []byte(code), &rec); err != nil {
			return nil, err
		}
		out = append(out, Offer{Code: code, Description: describe(camp), ValidTo: rec.ValidTo})
	}
	return out, nil
}

// campaign finds a campaign by id.
func campaign(p *engine.Programme, id string) *engine.Campaign {
	for i := range p.Campaigns {
		if p.Campaigns[i].ID == id {
			return &p.Campaigns[i]
		}
	}
	return nil
}

func describe(c *engine.Campaign) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// expired reports whether at is after the inclusive date validTo
// ("YYYY-MM-DD") in the programme's zone.
func expired(p *engine.Programme, validTo string, at time.Time) bool {
	if validTo == "" {
		return false
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	return at.In(loc).Format(time.DateOnly) > validTo
}
