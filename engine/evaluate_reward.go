package engine

import (
	"errors"
	"slices"
	"strings"
)

// rewardKind names which field of a Reward is set.
type rewardKind int

const (
	rewardPercent rewardKind = iota
	rewardAmountOff
	rewardFreeItems
	rewardBonusPoints
	rewardPointsMultiplier
	rewardCashback
)

// isPoints reports whether the reward gives points rather than money off or
// goods: such a reward means nothing to a sale that cannot earn.
func (k rewardKind) isPoints() bool {
	return k == rewardBonusPoints || k == rewardPointsMultiplier || k == rewardCashback
}

// kind checks that exactly one reward is set and names it.
func (r *Reward) kind() (rewardKind, error) {
	var k rewardKind
	n := 0
	set := func(ok bool, kind rewardKind) {
		if ok {
			n++
			k = kind
		}
	}
	set(r.Percent != nil, rewardPercent)
	set(r.AmountOff != nil, rewardAmountOff)
	set(r.FreeItems != nil, rewardFreeItems)
	set(r.BonusPoints != nil, rewardBonusPoints)
	set(r.PointsMultiplierPct != nil, rewardPointsMultiplier)
	set(r.Cashback != nil, rewardCashback)
	if n != 1 {
		return 0, errors.New("reward needs exactly one of percent, amount_off, free_items, bonus_points, points_multiplier_pct, cashback")
	}
	if k == rewardFreeItems && r.FreeItems.Qty <= 0 {
		return 0, errors.New("free_items.qty must be positive")
	}
	return k, nil
}

// freeCandidates lists the SKUs a free-item reward may give, sorted and
// unique, and the choice group: "skus" for a SKU list (taken as listed, the
// catalogue need not know them, unless attributes also restrict them), else
// the attribute values asked for.
func (p *Programme) freeCandidates(fi *FreeItems) (skus []string, group string) {
	if len(fi.SKUs) > 0 {
		for _, sku := range fi.SKUs {
			if len(fi.Attributes) > 0 {
				prod, known := p.Product(sku)
				if !known || !attributesMatch(fi.Attributes, prod.Attributes) {
					continue
				}
			}
			skus = append(skus, sku)
		}
		group = "skus"
	} else if len(fi.Attributes) > 0 {
		for i := range p.Catalogue.Products {
			prod := &p.Catalogue.Products[i]
			if attributesMatch(fi.Attributes, prod.Attributes) {
				skus = append(skus, prod.SKU)
			}
		}
		group = attributeGroupName(fi.Attributes)
	}
	slices.Sort(skus)
	return slices.Compact(skus), group
}

// attributeGroupName names a choice group by the attribute values it asks
// for: "Electrical" for {"group": "Electrical"}; several values are joined
// with "|" and several attributes (in key order) with ",".
func attributeGroupName(attrs map[string][]string) string {
	keys := make([]string, 0, len(attrs))
	for k, v := range attrs {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strings.Join(attrs[k], "|")
	}
	return strings.Join(parts, ",")
}

// grantFree gives qty units of a free item: the only candidate straight
// away; among several, the customer's pick from in.FreeItemChoices, or a
// Choice entry while there is none. The picks for one campaign may split
// qty among candidates; they must name candidates, be positive and add up
// to qty, or the request is refused.
func (e *evaluator) grantFree(c *Campaign, cands []string, group string, qty int64) *Refusal {
	ev := e.ev
	if len(cands) == 1 {
		ev.FreeItems = append(ev.FreeItems, FreeItem{Campaign: c.ID, SKU: cands[0], Qty: qty})
		return nil
	}
	var picks []FreeItem
	var total int64
	for _, fc := range e.in.FreeItemChoices {
		if fc.Campaign != c.ID {
			continue
		}
		_, found := slices.BinarySearch(cands, fc.SKU)
		var ok bool
		total, ok = addChecked(total, fc.Qty)
		if !found || fc.Qty <= 0 || !ok {
			return badPick(c.ID, "picks a SKU outside the choice or a non-positive qty")
		}
		picks = append(picks, FreeItem{Campaign: c.ID, SKU: fc.SKU, Qty: fc.Qty})
	}
	if len(picks) == 0 {
		ev.Choices = append(ev.Choices, Choice{Campaign: c.ID, Group: group, Qty: qty, SKUs: cands})
		return nil
	}
	if total != qty {
		return badPick(c.ID, "picks a different quantity than offered")
	}
	slices.SortStableFunc(picks, func(a, b FreeItem) int { return strings.Compare(a.SKU, b.SKU) })
	for i, pk := range picks {
		if i > 0 && ev.FreeItems[len(ev.FreeItems)-1].SKU == pk.SKU {
			ev.FreeItems[len(ev.FreeItems)-1].Qty += pk.Qty // sum ≤ total: no overflow
			continue
		}
		ev.FreeItems = append(ev.FreeItems, pk)
	}
	return nil
}

func badPick(campaign, why string) *Refusal {
	return &Refusal{Reason: ReasonInvalidParams, Field: "free_item_choices",
		Message: "free item choice for campaign " + campaign + " " + why,
		Details: map[string]any{"campaign": campaign}}
}
