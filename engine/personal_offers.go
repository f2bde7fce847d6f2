package engine

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Personal offers (docs/personal-offers.md): the programme's optional
// "personal_offers" section tells HQ which coupon campaign to offer a
// member who buys a category or SKU often. HQ's job reads each member's
// buying pattern (node/patterns.go), asks ChoosePersonalOffers what is
// due and records it with an offers.issued event (events_offers.go);
// every node then holds the codes as coupons bound to the member.
//
// Everything here is decided from values the caller passes — the
// pattern, the offers the member already holds, today — so two HQ
// leaders looking at the same folded state choose the same offers with
// the same codes, and a rerun chooses nothing a member already holds.

// Limits and defaults of the personal_offers section.
const (
	// MaxPersonalOfferRules bounds personal_offers.rules: every member is
	// matched against every rule on each run.
	MaxPersonalOfferRules = 100
	// MaxOffersPerMember bounds per_member, well inside MaxEventItems
	// (one offers.issued event carries a member's offers of one run).
	MaxOffersPerMember = 16
	// MaxOfferValidDays bounds valid_days at a year.
	MaxOfferValidDays = 366
	// MaxOfferPrefixLen bounds the code prefix.
	MaxOfferPrefixLen = 16
	// DefaultOfferValidDays is valid_days when absent.
	DefaultOfferValidDays = 30
	// DefaultOfferPrefix is prefix when absent.
	DefaultOfferPrefix = "PO"
	// offerCodeChars is how many base32 characters follow the prefix:
	// 50 bits, as for generated coupon codes.
	offerCodeChars = 10
)

// PersonalOffers is the programme's personal_offers section.
type PersonalOffers struct {
	Rules []OfferRule `json:"rules"`
	// MinVisits: a member needs at least this many visits (sales not
	// wholly returned) to be offered anything; 0 is no minimum.
	MinVisits int64 `json:"min_visits,omitempty"`
	// RecentDays: a member's last visit must be at most this many days
	// before today; 0 is no limit.
	RecentDays int `json:"recent_days,omitempty"`
	// ValidDays: an offer is valid from its issue day for this many days
	// (the last one included); default DefaultOfferValidDays.
	ValidDays int `json:"valid_days,omitempty"`
	// PerMember: how many current personal offers a member may hold at
	// once; default 1.
	PerMember int `json:"per_member,omitempty"`
	// Prefix starts every code; default DefaultOfferPrefix.
	Prefix string `json:"prefix,omitempty"`
}

// OfferRule offers Campaign (a coupon_required campaign of the programme)
// to members who buy Category, or SKU: exactly one of the two is set.
type OfferRule struct {
	Category string `json:"category,omitempty"`
	SKU      string `json:"sku,omitempty"`
	Campaign string `json:"campaign"`
}

// basis names what the rule looks at: "category:books", "sku:BK1".
func (r OfferRule) basis() string {
	if r.SKU != "" {
		return "sku:" + r.SKU
	}
	return "category:" + r.Category
}

// PatternItem is what a member bought of one SKU or category, net of
// returns: units, thousandths of weighed lines, and money paid (net less
// the points share).
type PatternItem struct {
	Key      string `json:"key"`
	Qty      int64  `json:"qty"`
	QtyMilli int64  `json:"qty_milli"`
	Amount   Money  `json:"amount"`
}

// Bought reports whether anything of the item is left after returns.
func (i PatternItem) Bought() bool { return i.Qty > 0 || i.QtyMilli > 0 }

// ComparePatternItems orders items most bought first: by units, then
// thousandths, then money paid (all descending), then key (ascending), so
// every node ranks alike.
func ComparePatternItems(a, b PatternItem) int {
	if c := cmp.Compare(b.Qty, a.Qty); c != 0 {
		return c
	}
	if c := cmp.Compare(b.QtyMilli, a.QtyMilli); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Amount, a.Amount); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// TopPatternItems returns the bought items ranked by ComparePatternItems,
// at most limit of them (limit ≤ 0: all). items is not modified.
func TopPatternItems(items []PatternItem, limit int) []PatternItem {
	out := make([]PatternItem, 0, len(items))
	for _, it := range items {
		if it.Bought() {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, ComparePatternItems)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// HeldOffers is what a member holds of one campaign's personal offers:
// how many were ever issued and how many are current (valid today or
// later, used or not).
type HeldOffers struct {
	Issued  int
	Current int
}

// OfferFacts is what HQ knows of a member when choosing offers.
type OfferFacts struct {
	Member     string
	Visits     int64
	LastVisit  int64 // day (days since 1970-01-01, programme zone) of the last visit; with Visits > 0
	Categories []PatternItem
	SKUs       []PatternItem
	Held       map[string]HeldOffers // by campaign
	Today      int64                 // day, programme zone
}

// ChoosePersonalOffers returns the offers due to a member now: none when
// the programme has no personal offers, the member visited fewer than
// min_visits times or not within recent_days, or already holds
// per_member current offers. Otherwise the rules whose category or SKU
// the member bought are ranked by how much of it the member bought
// (ComparePatternItems; ties by rule order), and the first ones whose
// campaign the member holds no current offer of, and whose campaign has
// not ended, are offered, one per campaign, up to per_member current
// offers in all. Each code is PersonalOfferCode of the member, the
// campaign and how many offers of it the member was issued before.
func (p *Programme) ChoosePersonalOffers(f OfferFacts) []IssuedOffer {
	po := p.PersonalOffers
	if po == nil || f.Visits <= 0 || f.Visits < po.MinVisits {
		return nil
	}
	if po.RecentDays > 0 && f.Today-f.LastVisit > int64(po.RecentDays) {
		return nil
	}
	current := 0
	for _, h := range f.Held {
		current += h.Current
	}
	room := po.perMember() - current
	if room <= 0 {
		return nil
	}
	type candidate struct {
		rule OfferRule
		item PatternItem
		i    int
	}
	cats, skus := itemsByKey(f.Categories), itemsByKey(f.SKUs)
	var cands []candidate
	for i, r := range po.Rules {
		it, ok := cats[r.Category]
		if r.SKU != "" {
			it, ok = skus[r.SKU]
		}
		if ok && it.Bought() {
			cands = append(cands, candidate{r, it, i})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		it1, it2 := a.item, b.item
		it1.Key, it2.Key = "", ""
		if c := ComparePatternItems(it1, it2); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	today := DayDate(f.Today)
	var out []IssuedOffer
	chosen := map[string]bool{}
	for _, c := range cands {
		if len(out) == room {
			break
		}
		camp := p.campaignByID(c.rule.Campaign)
		held := f.Held[c.rule.Campaign]
		if camp == nil || chosen[camp.ID] || held.Current > 0 || (camp.Valid.To != "" && camp.Valid.To < today) {
			continue
		}
		chosen[camp.ID] = true
		validTo := DayDate(f.Today + int64(po.validDays()) - 1)
		if camp.Valid.To != "" && camp.Valid.To < validTo {
			validTo = camp.Valid.To
		}
		out = append(out, IssuedOffer{Code: PersonalOfferCode(po.prefix(), f.Member, camp.ID, held.Issued),
			Campaign: camp.ID, ValidTo: validTo, Value: p.DescribeReward(camp.Reward), For: c.rule.basis()})
	}
	return out
}

func itemsByKey(items []PatternItem) map[string]PatternItem {
	m := make(map[string]PatternItem, len(items))
	for _, it := range items {
		m[it.Key] = it
	}
	return m
}

func (p *Programme) campaignByID(id string) *Campaign {
	for i := range p.Campaigns {
		if p.Campaigns[i].ID == id {
			return &p.Campaigns[i]
		}
	}
	return nil
}

func (po *PersonalOffers) perMember() int {
	if po.PerMember <= 0 {
		return 1
	}
	return po.PerMember
}

func (po *PersonalOffers) validDays() int {
	if po.ValidDays <= 0 {
		return DefaultOfferValidDays
	}
	return po.ValidDays
}

func (po *PersonalOffers) prefix() string {
	if po.Prefix == "" {
		return DefaultOfferPrefix
	}
	return po.Prefix
}

// DayDate formats a day (days since 1970-01-01) as "YYYY-MM-DD".
func DayDate(day int64) string {
	return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
}

// offerEncoding is Crockford's base32, as for generated coupon codes.
var offerEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// PersonalOfferCode is the code of a member's round-th personal offer of
// campaign (round 0 is the first): prefix and 10 Crockford base32
// characters of sha256("patron offer v1" ‖ member ‖ campaign ‖ round).
// The same facts give the same code on every HQ node, so an offer chosen
// twice (a rerun, a new leader) is the same coupon, never a second one.
// Codes are not secret; they are bound to the member (coupon_invalid for
// anyone else).
func PersonalOfferCode(prefix, member, campaign string, round int) string {
	h := sha256.New()
	h.Write([]byte("patron offer v1\x00"))
	h.Write([]byte(member))
	h.Write([]byte{0})
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(round)))
	return prefix + offerEncoding.EncodeToString(h.Sum(nil))[:offerCodeChars]
}

// DescribeReward is a short text of a campaign's reward for an offer's
// value: "10% off", "INR 50.00 off", "free item", "100 bonus points",
// "200% points", "5% cashback".
func (p *Programme) DescribeReward(r Reward) string {
	switch {
	case r.Percent != nil:
		return r.Percent.String() + "% off"
	case r.AmountOff != nil:
		return p.Currency + " " + formatMinor(int64(*r.AmountOff), p.MinorDigits) + " off"
	case r.FreeItems != nil:
		return "free item"
	case r.BonusPoints != nil:
		return strconv.FormatInt(int64(*r.BonusPoints), 10) + " bonus points"
	case r.PointsMultiplierPct != nil:
		return strconv.FormatInt(*r.PointsMultiplierPct, 10) + "% points"
	case r.Cashback != nil:
		return r.Cashback.Percent.String() + "% cashback"
	}
	return ""
}

// formatMinor writes minor units with digits decimals: 5000, 2 → "50.00".
func formatMinor(v int64, digits int) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// personalOffers checks the personal_offers section (a hook of
// validator.programme) and fills in its defaults.
func (v *validator) personalOffers(p *Programme) {
	po := p.PersonalOffers
	if po == nil {
		return
	}
	const at = "personal_offers"
	switch {
	case len(po.Rules) == 0:
		v.add(at+".rules", "needs at least one rule")
	case len(po.Rules) > MaxPersonalOfferRules:
		v.addf(at+".rules", "has %d rules, over the limit of %d (MaxPersonalOfferRules)", len(po.Rules), MaxPersonalOfferRules)
	}
	seen := map[string]int{}
	for i, r := range po.Rules {
		rat := fmt.Sprintf("%s.rules[%d]", at, i)
		switch {
		case (r.Category == "") == (r.SKU == ""):
			v.add(rat, "needs exactly one of category and sku")
		default:
			if j, dup := seen[r.basis()]; dup {
				v.addf(rat, "duplicate %s, also %s.rules[%d]", r.basis(), at, j)
			}
			seen[r.basis()] = i
		}
		c := p.campaignByID(r.Campaign)
		switch {
		case r.Campaign == "":
			v.add(rat+".campaign", "is required")
		case c == nil:
			v.addf(rat+".campaign", "no campaign with id %q", r.Campaign)
		case !c.CouponRequired:
			v.addf(rat+".campaign", "campaign %q must be coupon_required: an offer is a coupon", r.Campaign)
		}
	}
	if po.MinVisits < 0 {
		v.add(at+".min_visits", "must not be negative")
	}
	if po.RecentDays < 0 || po.RecentDays > MaxTierWindowDays {
		v.addf(at+".recent_days", "must be between 0 (no limit) and %d", MaxTierWindowDays)
	}
	if po.ValidDays < 0 || po.ValidDays > MaxOfferValidDays {
		v.addf(at+".valid_days", "must be between 1 and %d (MaxOfferValidDays); 0 or absent is %d", MaxOfferValidDays, DefaultOfferValidDays)
	} else if po.ValidDays == 0 {
		po.ValidDays = DefaultOfferValidDays
	}
	if po.PerMember < 0 || po.PerMember > MaxOffersPerMember {
		v.addf(at+".per_member", "must be between 1 and %d (MaxOffersPerMember); 0 or absent is 1", MaxOffersPerMember)
	} else if po.PerMember == 0 {
		po.PerMember = 1
	}
	if !validOfferPrefix(po.Prefix) {
		v.addf(at+".prefix", "must be up to %d of A-Z, 0-9 and '-'", MaxOfferPrefixLen)
	} else if po.Prefix == "" {
		po.Prefix = DefaultOfferPrefix
	}
}

// validOfferPrefix reports whether s is up to MaxOfferPrefixLen of
// [A-Z0-9-] (codes are read out at a till).
func validOfferPrefix(s string) bool {
	if len(s) > MaxOfferPrefixLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
