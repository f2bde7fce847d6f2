package node

import (
	"bytes"
	"math"
	"slices"
	"strings"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// The offers report (docs/personal-offers.md): personal offers issued vs
// redeemed. It reads the offers issued in the filter's window from their
// issue index (bucketOfferIssued, offers.go), so its cost follows the
// offers in the window; each offer's uses come from the coupon uses (a
// use a whole return released does not count) and each use's store and
// discount from its receipt.

// offersReportDef is the report's definition (registered in reportDefs).
func offersReportDef() reportDef {
	return reportDef{info: ReportInfo{Name: "offers", Title: "Personal offers issued vs redeemed",
		Columns: []string{"campaign", "issued", "redeemed", "uses", "discount"},
		Filters: []string{"store", "from", "to", "detail"}},
		detail: []string{"campaign", "store", "redeemed", "uses", "discount"},
		run:    runOffersReport}
}

// offerSums are one row's figures.
type offerSums struct {
	issued, redeemed, uses, discount int64
}

// runOffersReport: summary rows by campaign and a total row (campaign
// ""); detail rows by campaign then store (stores with uses only).
func runOffersReport(r *reportRun) error {
	byCampaign := map[string]*offerSums{}
	byStore := map[[2]string]*offerSums{}
	if err := scanOffers(r, byCampaign, byStore); err != nil {
		return err
	}
	if r.f.Detail {
		keys := sortedKeysOf(byStore, func(a, b [2]string) int {
			if c := strings.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return strings.Compare(a[1], b[1])
		})
		r.total = int64(len(keys))
		for _, k := range keys {
			s := byStore[k]
			if err := r.emit(k[0], k[1], itoa(s.redeemed), itoa(s.uses), itoa(s.discount)); err != nil {
				return err
			}
		}
		return nil
	}
	keys := sortedKeysOf(byCampaign, strings.Compare)
	r.total = int64(len(keys)) + 1
	var all offerSums
	for _, k := range keys {
		s := byCampaign[k]
		all.issued, all.redeemed, all.uses, all.discount = all.issued+s.issued, all.redeemed+s.redeemed, all.uses+s.uses, all.discount+s.discount
		if err := r.emit(k, itoa(s.issued), itoa(s.redeemed), itoa(s.uses), itoa(s.discount)); err != nil {
			return err
		}
	}
	// The total of every campaign, always sent: campaign ids are never
	// empty, so "" cannot be taken for one.
	return r.emit("", itoa(all.issued), itoa(all.redeemed), itoa(all.uses), itoa(all.discount))
}

// scanOffers adds up the offers issued in the window, by campaign and
// by campaign and store.
func scanOffers(r *reportRun, byCampaign map[string]*offerSums, byStore map[[2]string]*offerSums) error {
	ib := r.tx.Bucket(bucketOfferIssued)
	if ib == nil {
		return nil // no offer was ever issued here
	}
	c := ib.Cursor()
	var from []byte
	if r.sp.from != math.MinInt64 {
		from = nsKey(r.sp.from)
	}
	for k, _ := c.Seek(from); k != nil; k, _ = c.Next() {
		if len(k) < 8 || (r.sp.to != math.MaxInt64 && bytes.Compare(k[:8], nsKey(r.sp.to)) >= 0) {
			break
		}
		code := string(k[8:])
		var off offerRecord
		found, err := getJSON(r.tx.Bucket(bucketOffers), []byte(code), &off)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		cs := sumsOf(byCampaign, off.Campaign)
		cs.issued++
		stores, err := offerUses(r.tx, code, off.Campaign, r.f.Store)
		if err != nil {
			return err
		}
		if len(stores) > 0 {
			cs.redeemed++
		}
		for store, u := range stores {
			cs.uses += u.uses
			cs.discount += u.discount
			ss := sumsOf(byStore, [2]string{off.Campaign, store})
			ss.redeemed++
			ss.uses += u.uses
			ss.discount += u.discount
		}
		if err := r.stop.tick(); err != nil {
			return err
		}
	}
	return nil
}

// offerUse is an offer's standing uses at one store and the discount
// its campaign gave on them.
type offerUse struct {
	uses, discount int64
}

// offerUses lists, by store, the standing uses of code (only at store
// when it is not ""), with the discount campaign gave on each sale.
func offerUses(tx *bbolt.Tx, code, campaignID, store string) (map[string]offerUse, error) {
	out := map[string]offerUse{}
	prefix := key(code, "")
	c := tx.Bucket(bucketCouponUses).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) != 1 || v[0] != useUsed {
			continue
		}
		var sale receiptRecord
		found, err := getJSON(tx.Bucket(bucketReceipts), k[len(prefix):], &sale)
		if err != nil {
			return nil, err
		}
		if !found || (store != "" && sale.Store != store) {
			continue
		}
		d, err := offerDiscount(tx, &sale.Sale.Evaluation, code, campaignID)
		if err != nil {
			return nil, err
		}
		u := out[sale.Store]
		u.uses++
		u.discount += d
		out[sale.Store] = u
	}
	return out, nil
}

// offerDiscount is the money campaign took off a sale (item and bill
// discounts), credited to code when it is the first code of that
// campaign the sale used (a campaign applies once however many of its
// codes are shown), else 0.
func offerDiscount(tx *bbolt.Tx, ev *engine.Evaluation, code, campaignID string) (int64, error) {
	for _, used := range ev.CouponsUsed {
		var rec couponRecord
		found, err := getJSON(tx.Bucket(bucketCoupons), []byte(used), &rec)
		if err != nil {
			return 0, err
		}
		if found && rec.Campaign == campaignID {
			if used != code {
				return 0, nil
			}
			break
		}
	}
	var d int64
	for _, bd := range ev.BillDiscounts {
		if bd.Campaign == campaignID {
			d += int64(bd.Amount)
		}
	}
	for _, l := range ev.Lines {
		for _, ld := range l.Discounts {
			if ld.Campaign == campaignID {
				d += int64(ld.Amount)
			}
		}
	}
	return d, nil
}

func sumsOf[K comparable](m map[K]*offerSums, k K) *offerSums {
	s := m[k]
	if s == nil {
		s = &offerSums{}
		m[k] = s
	}
	return s
}

func sortedKeysOf[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}
