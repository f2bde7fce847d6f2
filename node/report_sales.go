package node

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
)

// The sales reports: sales vs redemption by store and day, card-wise,
// item-wise and attribute-wise sales.

// versionOK reports whether a row's programme version passes the filter.
func (r *reportRun) versionOK(version string) bool {
	return r.f.ProgrammeVersion == "" || r.f.ProgrammeVersion == version
}

// runSalesVsRedemption sums the sales counters per store and day.
func runSalesVsRedemption(r *reportRun) error {
	stores, err := r.stores(salesSeries)
	if err != nil {
		return err
	}
	for _, store := range stores {
		days := map[string][]int64{}
		err := salesSeries.scan(r.tx, store, r.sp, r.stop, func(at, _ int64, _, group []byte, vec []int64) error {
			p, err := splitParts(group)
			if err != nil || len(p) == 0 {
				return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
			}
			if !r.versionOK(p[0]) {
				return nil
			}
			d := r.day(at)
			if days[d] == nil {
				days[d] = make([]int64, salesWidth)
			}
			addVec(days[d], vec)
			return nil
		})
		if err != nil {
			return err
		}
		for _, d := range sortedKeys(days) {
			if err := r.emit(sumsRow([]string{store, d}, days[d])...); err != nil {
				return err
			}
		}
	}
	return nil
}

// The sums card-sales shows, from a sales row.
var cardSalesSums = []int{sSales, sGross, sDiscount, sNet, sPaid, sEarned, sBonus, sRedeemed, sReturns, sReturnedMoney}

// runCardSales sums each member's sales rows and shows them against the
// member's card at report time (a sale does not record the card shown).
func runCardSales(r *reportRun) error {
	stores, err := r.stores(salesSeries)
	if err != nil {
		return err
	}
	members := map[string][]int64{}
	for _, store := range stores {
		err := salesSeries.scanRows(r.tx, store, r.sp.from, r.sp.to, r.stop, func(_, _ int64, _, group []byte, vec []int64) error {
			p, err := splitParts(group)
			if err != nil || len(p) != 2 {
				return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
			}
			if p[1] == "" || !r.versionOK(p[0]) {
				return nil
			}
			if members[p[1]] == nil {
				members[p[1]] = make([]int64, salesWidth)
			}
			addVec(members[p[1]], vec)
			return nil
		})
		if err != nil {
			return err
		}
	}
	type line struct {
		card, typ, member string
		sums              []int64
	}
	lines := make([]line, 0, len(members))
	for _, m := range sortedKeys(members) {
		if err := r.stop.tick(); err != nil {
			return err
		}
		rec, found, err := loadMember(r.tx, m)
		if err != nil {
			return err
		}
		l := line{member: m}
		if found {
			if c := memberCard(rec); c != nil {
				l.card, l.typ = c.Number, c.Type
			}
		}
		for _, i := range cardSalesSums {
			l.sums = append(l.sums, members[m][i])
		}
		lines = append(lines, l)
	}
	slices.SortFunc(lines, func(a, b line) int { return cmp.Or(cmp.Compare(a.card, b.card), cmp.Compare(a.member, b.member)) })
	r.total = int64(len(lines))
	for _, l := range lines {
		if err := r.emit(sumsRow([]string{l.card, l.typ, l.member}, l.sums)...); err != nil {
			return err
		}
	}
	return nil
}

// memberCard is the card a member's sales are shown against: the newest
// active card, else the newest held one, else nil.
func memberCard(rec *memberRecord) *engine.CardState {
	if c := rec.newestActiveCard(); c != nil {
		return c
	}
	cards := rec.State.HeldCards()
	if len(cards) == 0 {
		return nil
	}
	return &cards[len(cards)-1]
}

// itemKey is a programme version and SKU.
type itemKey struct{ version, sku string }

// itemSums sums the item rows and counters per programme version and SKU.
func (r *reportRun) itemSums() (map[itemKey][]int64, error) {
	stores, err := r.stores(itemsSeries)
	if err != nil {
		return nil, err
	}
	out := map[itemKey][]int64{}
	for _, store := range stores {
		err := itemsSeries.scan(r.tx, store, r.sp, r.stop, func(_, _ int64, _, group []byte, vec []int64) error {
			p, err := splitParts(group)
			if err != nil || len(p) != 2 {
				return cmp.Or(err, fmt.Errorf("node: report group: %w", ErrCorrupt))
			}
			if !r.versionOK(p[0]) {
				return nil
			}
			k := itemKey{p[0], p[1]}
			if out[k] == nil {
				out[k] = make([]int64, itemsWidth)
			}
			addVec(out[k], vec)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// product is the catalogue entry of sku in the programme version that
// priced it; ok is false when this node does not hold that programme.
func (r *reportRun) product(cache map[string]*engine.Programme, k itemKey) (engine.Product, bool, error) {
	p, seen := cache[k.version]
	if !seen {
		var err error
		if p, err = r.programme(k.version); err != nil {
			return engine.Product{}, false, err
		}
		cache[k.version] = p
	}
	if p == nil {
		return engine.Product{SKU: k.sku}, false, nil
	}
	prod, _ := p.Product(k.sku)
	return prod, true, nil
}

// programme returns a held programme version, parsed, or nil.
func (r *reportRun) programme(version string) (*engine.Programme, error) {
	if version == "" {
		return nil, nil
	}
	r.n.progMu.RLock()
	p := r.n.programmes[version]
	r.n.progMu.RUnlock()
	if p != nil {
		return p, nil
	}
	var rec programmeRecord
	found, err := getJSON(r.tx.Bucket(bucketProgrammes), []byte(version), &rec)
	if err != nil || !found {
		return nil, err
	}
	p, err = programmeyaml.ParseProgramme(rec.Document, r.n.cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("node: stored programme %q: %w", version, err)
	}
	return p, nil
}

// runItemSales sums the item rows per SKU and category (the category the
// catalogue of the sale's programme gives the SKU).
func runItemSales(r *reportRun) error {
	sums, err := r.itemSums()
	if err != nil {
		return err
	}
	type skuCat struct{ sku, category string }
	rows := map[skuCat][]int64{}
	progs := map[string]*engine.Programme{}
	for k, v := range sums {
		prod, _, err := r.product(progs, k)
		if err != nil {
			return err
		}
		sc := skuCat{k.sku, prod.Category}
		if rows[sc] == nil {
			rows[sc] = make([]int64, itemsWidth)
		}
		addVec(rows[sc], v)
	}
	keys := make([]skuCat, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b skuCat) int { return cmp.Or(cmp.Compare(a.sku, b.sku), cmp.Compare(a.category, b.category)) })
	r.total = int64(len(keys))
	for _, k := range keys {
		if err := r.emit(sumsRow([]string{k.sku, k.category}, rows[k])...); err != nil {
			return err
		}
	}
	return nil
}

// runAttributeSales sums the item rows under every attribute value of
// their product.
func runAttributeSales(r *reportRun) error {
	sums, err := r.itemSums()
	if err != nil {
		return err
	}
	type attrValue struct{ attr, value string }
	rows := map[attrValue][]int64{}
	skus := map[attrValue]map[string]bool{}
	progs := map[string]*engine.Programme{}
	for k, v := range sums {
		prod, _, err := r.product(progs, k)
		if err != nil {
			return err
		}
		for name, value := range prod.Attributes {
			av := attrValue{name, value}
			if rows[av] == nil {
				rows[av], skus[av] = make([]int64, itemsWidth), map[string]bool{}
			}
			addVec(rows[av], v)
			skus[av][k.sku] = true
		}
	}
	keys := make([]attrValue, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b attrValue) int { return cmp.Or(cmp.Compare(a.attr, b.attr), cmp.Compare(a.value, b.value)) })
	r.total = int64(len(keys))
	for _, k := range keys {
		if err := r.emit(sumsRow([]string{k.attr, k.value, itoa(int64(len(skus[k])))}, rows[k])...); err != nil {
			return err
		}
	}
	return nil
}

// sortedKeys returns a string-keyed map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
