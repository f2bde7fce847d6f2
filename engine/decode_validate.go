package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits on programme values, checked by ParseProgramme.
const (
	// MaxMultiplierPct bounds every multiplier_pct (card types, tiers,
	// points_multiplier_pct campaigns) at 100×: card × tier × campaign then
	// stays within 10^12, which keeps the earning product of
	// pos-protocol-v1.md inside 128-bit intermediates for any real bill.
	MaxMultiplierPct = 10_000

	// MaxTierWindowDays bounds tier_window_days at about ten years, the
	// longest history a node is expected to sum for a member's tier.
	MaxTierWindowDays = 3660

	// MaxCouponGenerate bounds coupon batches' generate: the node creates
	// and stores every generated code, so a million per batch is already a
	// deliberate choice.
	MaxCouponGenerate = 1_000_000

	// maxPercentUnits is 100% as Decimal units.
	maxPercentUnits = 100 * 10000
)

// Defaults that ParseProgramme fills in.
const (
	defaultTierWindowDays  = 365
	defaultProductSKU      = "DEFAULT"
	defaultProductCategory = "uncategorised"
)

// validator checks a decoded programme against programme-v1.md, fills in
// defaults, and collects every problem with its path.
type validator struct {
	problems problemList
}

func (v *validator) add(path, msg string) { v.problems.add(path, msg) }

func (v *validator) addf(path, format string, args ...any) {
	v.problems.add(path, fmt.Sprintf(format, args...))
}

func (v *validator) programme(p *Programme, zones ZoneResolver) {
	v.header(p, zones)
	v.catalogue(&p.Catalogue)
	v.earn(&p.Earn)
	v.redeem(&p.Redeem)
	tierNames := v.tiers(p)
	v.consents(p.Consents)
	v.messages(p.Messages)
	campaignIDs := v.campaigns(p.Campaigns, tierNames)
	v.coupons(p.Coupons, campaignIDs)
	v.personalOffers(p) // personal_offers.go
	slices.SortStableFunc(p.Tiers, func(a, b Tier) int { return cmp.Compare(a.MinSpend, b.MinSpend) })
}

func (v *validator) header(p *Programme, zones ZoneResolver) {
	if p.Version == "" {
		v.add("version", "is required")
	}
	if !isCurrencyCode(p.Currency) {
		v.add("currency", "must be a three-letter ISO 4217 code like INR")
	}
	if p.MinorDigits < 0 || p.MinorDigits > 4 {
		v.add("minor_digits", "must be between 0 and 4")
	}
	v.timezone(p, zones)
	if p.DefaultCountryCode != "" && !isCountryCode(p.DefaultCountryCode) {
		v.add("default_country_code", `must be "+" and 1 to 3 digits, like "+91"`)
	}
	switch {
	case p.TierWindowDays < 0 || p.TierWindowDays > MaxTierWindowDays:
		v.addf("tier_window_days", "must be between 0 and %d (MaxTierWindowDays)", MaxTierWindowDays)
	case p.TierWindowDays == 0 && len(p.Tiers) > 0:
		p.TierWindowDays = defaultTierWindowDays
	}
}

// timezone resolves p.Timezone into p.Location through zones; "" and "UTC"
// need no resolver.
func (v *validator) timezone(p *Programme, zones ZoneResolver) {
	switch tz := p.Timezone; {
	case tz == "" || tz == "UTC":
		p.Location = time.UTC
	case tz == "Local":
		// time.LoadLocation("Local") is the machine's zone: two stores
		// would read the same programme differently.
		v.add("timezone", `must be an IANA zone name like "Asia/Kolkata", not "Local"`)
	case zones == nil:
		v.add("timezone", "cannot be resolved: no time zone database was given; only UTC is available")
	default:
		loc, err := zones(tz)
		switch {
		case err != nil:
			v.addf("timezone", "unknown time zone %q: %v", tz, err)
		case loc == nil:
			v.addf("timezone", "unknown time zone %q", tz)
		default:
			p.Location = loc
		}
	}
}

func (v *validator) catalogue(c *Catalogue) {
	seen := make(map[string]int, len(c.Products))
	for i := range c.Products {
		prod := &c.Products[i]
		at := fmt.Sprintf("catalogue.products[%d]", i)
		if prod.SKU == "" {
			v.add(at+".sku", "is required")
		} else if j, dup := seen[prod.SKU]; dup {
			v.addf(at+".sku", "duplicate SKU %q, also catalogue.products[%d]", prod.SKU, j)
		} else {
			seen[prod.SKU] = i
		}
		v.product(at, prod)
	}
	d := &c.DefaultProduct
	if d.SKU == "" {
		d.SKU = defaultProductSKU
	}
	if d.Category == "" {
		d.Category = defaultProductCategory
	}
	v.product("catalogue.default_product", d)
}

func (v *validator) product(at string, prod *Product) {
	if prod.Category == "" {
		v.add(at+".category", "is required")
	}
	if prod.Price < 0 {
		v.add(at+".price", "must not be negative")
	}
	for _, k := range sortedKeys(prod.Attributes) {
		if k == "" {
			v.add(joinKey(at+".attributes", k), "attribute name must not be empty")
		}
	}
}

func (v *validator) earn(e *EarnRules) {
	switch e.Basis {
	case "":
		e.Basis = "net_paid"
	case "net_paid":
	default:
		v.add("earn.basis", `must be "net_paid"`)
	}
	switch e.Rounding {
	case "":
		e.Rounding = "floor"
	case "floor":
	default:
		v.add("earn.rounding", `must be "floor"`)
	}
	for i, r := range e.Rates {
		at := fmt.Sprintf("earn.rates[%d]", i)
		if r.Category == "" {
			v.add(at+".category", `is required ("*" matches every category)`)
		}
		if r.Points < 0 {
			v.add(at+".points", "must not be negative")
		}
		if r.Per <= 0 {
			v.add(at+".per", "must be positive")
		}
	}
	for _, name := range sortedKeys(e.CardTypes) {
		at := joinKey("earn.card_types", name)
		if name == "" {
			v.add(at, "card type name must not be empty")
		}
		v.multiplier(at+".multiplier_pct", e.CardTypes[name].MultiplierPct, false)
	}
	v.lotRules(e) // lots_programme.go
}

// multiplier checks a multiplier_pct; zeroMeansHundred allows 0 where the
// field documents it as 100.
func (v *validator) multiplier(at string, pct int64, zeroMeansHundred bool) {
	switch {
	case pct == 0 && zeroMeansHundred:
	case pct <= 0:
		v.add(at, "must be positive (100 earns the base rate)")
	case pct > MaxMultiplierPct:
		v.addf(at, "must be at most %d (MaxMultiplierPct)", MaxMultiplierPct)
	}
}

func (v *validator) redeem(r *RedeemRules) {
	if r.PointValue <= 0 {
		v.add("redeem.point_value", "must be positive")
	}
	if r.MinPoints < 0 {
		v.add("redeem.min_points", "must not be negative")
	}
	if r.MaxSharePct < 1 || r.MaxSharePct > 100 {
		// 0 is refused rather than read as "no redemption", because the
		// evaluation treats a zero percentage as 100.
		v.add("redeem.max_share_pct", "must be between 1 and 100")
	}
	if r.OfflineAllowancePoints < 0 {
		v.add("redeem.offline_allowance_points", "must not be negative")
	}
	if r.OTP.Mode == "" {
		r.OTP.Mode = OTPRequired
	}
}

// tiers checks the tiers and returns their names.
func (v *validator) tiers(p *Programme) map[string]bool {
	names := make(map[string]bool, len(p.Tiers))
	bySpend := make(map[Money]int, len(p.Tiers))
	for i, t := range p.Tiers {
		at := fmt.Sprintf("tiers[%d]", i)
		switch {
		case t.Name == "":
			v.add(at+".name", "is required")
		case names[t.Name]:
			v.addf(at+".name", "duplicate tier %q", t.Name)
		}
		names[t.Name] = true
		if t.MinSpend < 0 {
			v.add(at+".min_spend", "must not be negative")
		} else if j, dup := bySpend[t.MinSpend]; dup {
			v.addf(at+".min_spend", "must differ from tiers[%d].min_spend: a member could not be placed", j)
		} else {
			bySpend[t.MinSpend] = i
		}
		v.multiplier(at+".multiplier_pct", t.MultiplierPct, true)
	}
	return names
}

func (v *validator) consents(cs []Consent) {
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		at := fmt.Sprintf("consents[%d].id", i)
		switch {
		case c.ID == "":
			v.add(at, "is required")
		case seen[c.ID]:
			v.addf(at, "duplicate consent %q", c.ID)
		}
		seen[c.ID] = true
	}
}

// campaigns checks the campaigns and returns their ids.
func (v *validator) campaigns(cs []Campaign, tierNames map[string]bool) map[string]bool {
	ids := make(map[string]bool, len(cs))
	for i := range cs {
		c := &cs[i]
		at := fmt.Sprintf("campaigns[%d]", i)
		switch {
		case c.ID == "":
			v.add(at+".id", "is required")
		case ids[c.ID]:
			v.addf(at+".id", "duplicate campaign id %q", c.ID)
		}
		ids[c.ID] = true
		switch c.Level {
		case LevelInvoice, LevelItem:
		case "":
			v.add(at+".level", `is required: "invoice" or "item"`)
		default:
			v.add(at+".level", `must be "invoice" or "item"`)
		}
		v.validity(at+".valid", &c.Valid)
		v.names(at+".stores", c.Stores)
		v.names(at+".groups", c.Groups)
		for j, t := range c.Tiers {
			if !tierNames[t] {
				v.addf(fmt.Sprintf("%s.tiers[%d]", at, j), "no tier named %q", t)
			}
		}
		v.filter(at+".condition.items", &c.Condition.Items)
		v.moneyRange(at+".condition.value", c.Condition.Value)
		v.qtyRange(at+".condition.qty", c.Condition.Qty)
		v.reward(at+".reward", &c.Reward)
	}
	return ids
}

// names checks a list of identifiers that must not be empty.
func (v *validator) names(at string, list []string) {
	for j, s := range list {
		if s == "" {
			v.add(fmt.Sprintf("%s[%d]", at, j), "must not be empty")
		}
	}
}

var weekdays = map[string]bool{"mon": true, "tue": true, "wed": true, "thu": true, "fri": true, "sat": true, "sun": true}

func (v *validator) validity(at string, val *Validity) {
	fromOK := val.From == "" || v.date(at+".from", val.From)
	toOK := val.To == "" || v.date(at+".to", val.To)
	if fromOK && toOK && val.From != "" && val.To != "" && val.From > val.To {
		v.add(at, "from must not be after to")
	}
	for j, d := range val.Days {
		if !weekdays[d] {
			v.addf(fmt.Sprintf("%s.days[%d]", at, j), "must be one of mon, tue, wed, thu, fri, sat, sun, not %q", d)
		}
	}
	if len(val.Hours) == 0 {
		return
	}
	if len(val.Hours) != 2 {
		v.add(at+".hours", `must be two "HH:MM" values, [from, to]`)
		return
	}
	for j, h := range val.Hours {
		if !isHourMinute(h) {
			v.addf(fmt.Sprintf("%s.hours[%d]", at, j), `must be "HH:MM" from 00:00 to 24:00, not %q`, h)
		}
	}
}

// date checks a "YYYY-MM-DD" date; ISO order makes such dates compare as
// strings.
func (v *validator) date(at, s string) bool {
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		v.addf(at, "must be a date like 2026-12-31, not %q", s)
		return false
	}
	return true
}

func (v *validator) filter(at string, f *ItemFilter) {
	v.names(at+".skus", f.SKUs)
	v.names(at+".categories", f.Categories)
	v.attributes(at+".attributes", f.Attributes)
}

func (v *validator) attributes(at string, attrs map[string][]string) {
	for _, k := range sortedKeys(attrs) {
		kat := joinKey(at, k)
		if k == "" {
			v.add(kat, "attribute name must not be empty")
		}
		if len(attrs[k]) == 0 {
			v.add(kat, "needs at least one value")
		}
		v.names(kat, attrs[k])
	}
}

func (v *validator) moneyRange(at string, r MoneyRange) {
	v.bounds(at, (*int64)(r.Min), (*int64)(r.Max))
}

func (v *validator) qtyRange(at string, r QtyRange) {
	v.bounds(at, r.Min, r.Max)
}

func (v *validator) bounds(at string, lo, hi *int64) {
	switch {
	case lo != nil && *lo < 0 || hi != nil && *hi < 0:
		v.add(at, "bounds must not be negative")
	case lo != nil && hi != nil && *lo > *hi:
		v.add(at, "min must not be more than max")
	}
}

// rewardKinds names the Reward fields, in the order the spec lists them.
const rewardKinds = "percent, amount_off, free_items, bonus_points, points_multiplier_pct, cashback"

func (v *validator) reward(at string, r *Reward) {
	var set []string
	if r.Percent != nil {
		set = append(set, "percent")
		v.percent(at+".percent", *r.Percent)
	}
	if r.AmountOff != nil {
		set = append(set, "amount_off")
		if *r.AmountOff <= 0 {
			v.add(at+".amount_off", "must be positive")
		}
	}
	if r.FreeItems != nil {
		set = append(set, "free_items")
		v.freeItems(at+".free_items", r.FreeItems)
	}
	if r.BonusPoints != nil {
		set = append(set, "bonus_points")
		if *r.BonusPoints <= 0 {
			v.add(at+".bonus_points", "must be positive")
		}
	}
	if r.PointsMultiplierPct != nil {
		set = append(set, "points_multiplier_pct")
		v.multiplier(at+".points_multiplier_pct", *r.PointsMultiplierPct, false)
	}
	if r.Cashback != nil {
		set = append(set, "cashback")
		v.percent(at+".cashback.percent", r.Cashback.Percent)
	}
	switch len(set) {
	case 0:
		v.add(at, "exactly one of "+rewardKinds)
	case 1:
	default:
		v.add(at, "exactly one of "+rewardKinds+"; found "+strings.Join(set, ", "))
	}
}

func (v *validator) percent(at string, d Decimal) {
	if d.Units <= 0 || d.Units > maxPercentUnits {
		v.add(at, "must be more than 0 and at most 100")
	}
}

func (v *validator) freeItems(at string, fi *FreeItems) {
	if fi.Qty <= 0 {
		v.add(at+".qty", "must be positive")
	}
	if (len(fi.SKUs) > 0) == (len(fi.Attributes) > 0) {
		v.add(at, "exactly one of skus, attributes")
	}
	v.names(at+".skus", fi.SKUs)
	v.attributes(at+".attributes", fi.Attributes)
}

func (v *validator) coupons(bs []CouponBatch, campaignIDs map[string]bool) {
	codes := make(map[string]string)
	for i, b := range bs {
		at := fmt.Sprintf("coupons[%d]", i)
		switch {
		case b.Campaign == "":
			v.add(at+".campaign", "is required")
		case !campaignIDs[b.Campaign]:
			v.addf(at+".campaign", "no campaign with id %q", b.Campaign)
		}
		for j, code := range b.Codes {
			cat := fmt.Sprintf("%s.codes[%d]", at, j)
			switch {
			case code == "" || strings.ContainsFunc(code, isSpaceOrControl):
				v.add(cat, "must be non-empty, without spaces or control characters")
			case codes[code] != "":
				v.addf(cat, "duplicate code %q, also %s", code, codes[code])
			default:
				codes[code] = cat
			}
		}
		switch {
		case b.Generate < 0 || b.Generate > MaxCouponGenerate:
			v.addf(at+".generate", "must be between 0 and %d (MaxCouponGenerate)", MaxCouponGenerate)
		case b.Generate > 0 && b.Prefix == "":
			v.add(at+".prefix", "is required when generate is set")
		case b.Generate == 0 && len(b.Codes) == 0:
			v.add(at, "needs codes or generate")
		}
		if b.UsesPerCode < 0 {
			v.add(at+".uses_per_code", "must not be negative (0 means 1)")
		}
		if b.ValidTo != "" {
			v.date(at+".valid_to", b.ValidTo)
		}
	}
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r >= 0x2000 && r <= 0x200b || r == 0x3000
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// isHourMinute reports whether s is "HH:MM" between 00:00 and 24:00.
func isHourMinute(s string) bool {
	if len(s) != 5 || s[2] != ':' || !allDigits(s[:2]) || !allDigits(s[3:]) {
		return false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	return m < 60 && (h < 24 || h == 24 && m == 0)
}

// sortedKeys returns a map's keys in order, so that problems come out in
// the same order every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
