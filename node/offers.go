package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Personal offers (docs/personal-offers.md). HQ's leader runs
// RunPersonalOffers now and then: for every enrolled member it reads the
// buying pattern (patterns.go) and the offers the member holds, asks the
// programme's personal_offers rules what is due
// (engine.Programme.ChoosePersonalOffers) and emits one offers.issued
// event per member offered something. Every node applies the event by
// writing each offer as a coupon of its campaign bound to the member
// (writeCoupons, one use, valid to the offer's day), so member.identify
// and the receipt list it (memberOffers) and a sale redeems it on the
// coupon path, once chain-wide (coupon uses fold like any other). The
// offer itself is kept too (bucketOffers), with its issue time, for the
// offers report (report_offers.go).

// The offer buckets, created on first use (ensureOfferBuckets).
var (
	bucketOffers      = []byte("offers")       // fold: code → offerRecord
	bucketOfferIssued = []byte("offer_issued") // derived: issued at (timeKey) ‖ code → empty
)

// PersonalOffersEvery is how often HQ's leader runs the personal offers
// job: an offer is valid for days, so once a day offers a member what
// became due within a day.
const PersonalOffersEvery = 24 * time.Hour

// MaxOfferEventsPerRun bounds the offers.issued events one run emits, so
// a run ends within minutes (and the scheduler sees a lost leadership);
// the next run goes on, because what was issued is in the state it reads.
const MaxOfferEventsPerRun = 10_000

// offerRecord is bucketOffers' value: a personal offer as issued. It
// does not name the member (the coupon record does), so nothing here
// outlives an erasure.
type offerRecord struct {
	V         int          `json:"v"`
	Campaign  string       `json:"campaign"`
	ValidTo   string       `json:"valid_to"`
	Value     string       `json:"value,omitempty"`
	For       string       `json:"for,omitempty"`
	Programme string       `json:"programme"`
	At        time.Time    `json:"at"` // issued
	Stamp     engine.Stamp `json:"stamp"`
}

func (r offerRecord) version() int { return r.V }

// applyOffersIssued applies an offers.issued event (stored already): the
// coupons bound to the member and the offer records. Of two events
// issuing one code (two leaders deciding alike), the later one's records
// stand, as for coupons loaded by programmes, whatever the arrival order.
func applyOffersIssued(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	if err := ensureOfferBuckets(tx); err != nil {
		return err
	}
	st, o := ev.Stamp(), ev.Offers
	coupons := make([]loadedCoupon, 0, len(o.Offers))
	for _, x := range o.Offers {
		coupons = append(coupons, loadedCoupon{code: x.Code, rec: couponRecord{V: recordVersion, Campaign: x.Campaign,
			UsesPerCode: 1, ValidTo: x.ValidTo, Member: ev.Member, Programme: o.Programme}})
	}
	if err := writeCoupons(tx, coupons, st); err != nil {
		return err
	}
	ob, ib := tx.Bucket(bucketOffers), tx.Bucket(bucketOfferIssued)
	for _, x := range o.Offers {
		var old offerRecord
		found, err := getJSON(ob, []byte(x.Code), &old)
		if err != nil {
			return err
		}
		if found && old.Stamp.Compare(st) >= 0 {
			continue
		}
		if found {
			if err := ib.Delete(append(timeKey(old.At), x.Code...)); err != nil {
				return fmt.Errorf("node: offer index: %w", err)
			}
		}
		rec := offerRecord{V: recordVersion, Campaign: x.Campaign, ValidTo: x.ValidTo, Value: x.Value, For: x.For,
			Programme: o.Programme, At: ev.At, Stamp: st}
		if err := putJSON(ob, []byte(x.Code), rec); err != nil {
			return err
		}
		if err := ib.Put(append(timeKey(ev.At), x.Code...), nil); err != nil {
			return fmt.Errorf("node: offer index: %w", err)
		}
	}
	eff.members[ev.Member] = true // tills that follow the member see the offer
	return nil
}

// ensureOfferBuckets creates the offer buckets if the file lacks them
// (nothing to build: offers.issued is newer than the file).
func ensureOfferBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketOffers, bucketOfferIssued} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("node: create bucket %s: %w", name, err)
		}
	}
	return nil
}

// PersonalOffersRun reports what one run of the personal offers job did.
type PersonalOffersRun struct {
	Members int // enrolled members reviewed
	Offered int // offers.issued events committed (one per member)
	Offers  int // offers in them
}

// RunPersonalOffers is the HQ leader's personal offers job at now: for
// every enrolled member with every required consent it emits, through
// emit, one offers.issued event with the offers due
// (engine.Programme.ChoosePersonalOffers). It decides from the folded
// state alone — the member's pattern and the offers the member holds —
// and each member is decided again just before the emit, so a rerun, a
// new leader after a barrier, or a run on demand while one is going
// issues nothing twice; and were two runs to race, they choose the same
// codes. An emit error ends the run (the next takes up what is left).
// In a chain not yet finalized to the current format it does nothing.
func (n *Node) RunPersonalOffers(ctx context.Context, now time.Time, emit EmitFunc) (PersonalOffersRun, error) {
	var run PersonalOffersRun
	p := n.Programme()
	if p == nil || p.PersonalOffers == nil || !n.CanWrite(engine.EventOffersIssued) {
		return run, nil // nothing to offer, or a chain some node of which cannot read offers.issued yet (format.go)
	}
	due, err := n.offersDue(ctx, p, now)
	run.Members = due.members
	if err != nil {
		return run, err
	}
	for _, id := range due.ids {
		offers, err := n.offersOf(ctx, p, id, now) // again: the fold may have moved
		if err != nil {
			return run, err
		}
		if len(offers) == 0 {
			continue
		}
		if _, err := emit(ctx, engine.Event{Kind: engine.EventOffersIssued, Member: id, At: now,
			Offers: &engine.OffersIssued{Programme: p.Version, Offers: offers}}); err != nil {
			return run, fmt.Errorf("node: personal offers of %s: %w", id, err)
		}
		run.Offered++
		run.Offers += len(offers)
	}
	return run, nil
}

// offersDue is the members offers are due to, at most
// MaxOfferEventsPerRun, and how many members were reviewed.
type offersDue struct {
	ids     []string
	members int
}

func (n *Node) offersDue(ctx context.Context, p *engine.Programme, now time.Time) (offersDue, error) {
	var due offersDue
	if err := n.enter(ctx); err != nil {
		return due, err
	}
	defer n.leave()
	if err := n.ensurePatterns(); err != nil {
		return due, err
	}
	today := dayOf(p, now)
	err := n.db.View(func(tx *bbolt.Tx) error {
		return forEachMember(tx, func(rec *memberRecord) error {
			if len(due.ids) >= MaxOfferEventsPerRun || !offerable(p, &rec.State) {
				return nil
			}
			due.members++
			offers, err := chooseOffers(tx, p, rec.State.ID, today)
			if err != nil {
				return err
			}
			if len(offers) > 0 {
				due.ids = append(due.ids, rec.State.ID)
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return due, fmt.Errorf("node: personal offers: %w", err)
	}
	return due, nil
}

// offersOf is the offers due to member at now (none for a member not
// held or not offerable).
func (n *Node) offersOf(ctx context.Context, p *engine.Programme, member string, now time.Time) ([]engine.IssuedOffer, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	var out []engine.IssuedOffer
	err := n.db.View(func(tx *bbolt.Tx) error {
		rec, found, err := loadMember(tx, member)
		if err != nil || !found || !offerable(p, &rec.State) {
			return err
		}
		out, err = chooseOffers(tx, p, member, dayOf(p, now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node: personal offers of %s: %w", member, err)
	}
	return out, nil
}

// offerable reports whether a member may be offered anything: enrolled,
// not an erased member's pseudonym, and with every required consent (a
// member without one cannot use an offer anyway).
func offerable(p *engine.Programme, s *engine.MemberState) bool {
	return s.Enrolled && !engine.IsPseudonym(s.ID) && p.RequiredConsentsGiven(s.ConsentValues())
}

// chooseOffers gathers member's facts in tx and chooses the offers due.
func chooseOffers(tx *bbolt.Tx, p *engine.Programme, member string, today int64) ([]engine.IssuedOffer, error) {
	pat, err := readPattern(tx, member)
	if err != nil {
		return nil, err
	}
	held, err := heldOffers(tx, p, member, today)
	if err != nil {
		return nil, err
	}
	return p.ChoosePersonalOffers(engine.OfferFacts{Member: member, Visits: pat.visits.Visits, LastVisit: pat.visits.Last,
		Categories: pat.categories, SKUs: pat.skus, Held: held, Today: today}), nil
}

// heldOffers counts member's personal offers by campaign: every one
// issued, and the current ones (valid today or later, whether used or
// not, of a campaign in the programme).
func heldOffers(tx *bbolt.Tx, p *engine.Programme, member string, today int64) (map[string]engine.HeldOffers, error) {
	out := map[string]engine.HeldOffers{}
	ob := tx.Bucket(bucketOffers)
	if ob == nil {
		return out, nil
	}
	todayDate := engine.DayDate(today)
	prefix := key(member, "")
	c := tx.Bucket(bucketMemberOffers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var rec offerRecord
		found, err := getJSON(ob, k[len(prefix):], &rec)
		if err != nil {
			return nil, err
		}
		if !found {
			continue // a coupon the programme binds to the member, not an offer
		}
		h := out[rec.Campaign]
		h.Issued++
		if rec.ValidTo >= todayDate && campaign(p, rec.Campaign) != nil {
			h.Current++
		}
		out[rec.Campaign] = h
	}
	return out, nil
}

// moveMemberCoupons rebinds an erased member's personal offers to its
// pseudonym (a moveMember step, erasure_move.go): the coupon records and
// the member offer index. The record keeps its stamp, so it is the record
// an offers.issued event redacted before it arrived would have written.
// Coupons a programme binds to the member are left alone: the programme
// document is never redacted, so every node binds them as it says.
func moveMemberCoupons(tx *bbolt.Tx, from, to string) error {
	ob, cb, offers := tx.Bucket(bucketMemberOffers), tx.Bucket(bucketCoupons), tx.Bucket(bucketOffers)
	if offers == nil || from == to {
		return nil
	}
	kvs, err := prefixed(ob, key(from, ""))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if offers.Get(kv.suffix) == nil {
			continue // the programme's
		}
		var rec couponRecord
		found, err := getJSON(cb, kv.suffix, &rec)
		if err != nil {
			return err
		}
		if found && rec.Member == from {
			rec.Member = to
			if err := putJSON(cb, kv.suffix, rec); err != nil {
				return err
			}
		}
		if err := ob.Delete(kv.k); err != nil {
			return fmt.Errorf("node: move member coupons: %w", err)
		}
		if err := ob.Put(key(to, string(kv.suffix)), nil); err != nil {
			return fmt.Errorf("node: move member coupons: %w", err)
		}
	}
	return nil
}
