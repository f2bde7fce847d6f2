package engine

import "time"

// Programme is one edition of a loyalty programme (programme-v1.md): the
// catalogue, earning, redemption, tiers, consents, campaigns and coupons.
// A Programme returned by [ParseProgramme] is valid and must be treated as
// immutable: it is shared by concurrent evaluations.
type Programme struct {
	Version            string        `json:"version"`
	Currency           string        `json:"currency"`
	MinorDigits        int           `json:"minor_digits"`
	Timezone           string        `json:"timezone,omitempty"`
	DefaultCountryCode string        `json:"default_country_code,omitempty"`
	Catalogue          Catalogue     `json:"catalogue"`
	Earn               EarnRules     `json:"earn"`
	Redeem             RedeemRules   `json:"redeem"`
	Campaigns          []Campaign    `json:"campaigns"`
	Coupons            []CouponBatch `json:"coupons,omitempty"`
	Tiers              []Tier        `json:"tiers,omitempty"`
	TierWindowDays     int           `json:"tier_window_days,omitempty"`
	Consents           []Consent     `json:"consents,omitempty"`
	Messages           *Messages     `json:"messages,omitempty"` // SMS templates; nil: the built-in texts
	// PersonalOffers: HQ's personal offer rules (personal_offers.go); nil: none.
	PersonalOffers *PersonalOffers `json:"personal_offers,omitempty"`

	// Location is the resolved Timezone (UTC when Timezone is empty). It is
	// set by ParseProgramme through the caller's ZoneResolver, because
	// loading a zone database is I/O the engine must not do itself.
	Location *time.Location `json:"-"`

	// productIndex maps SKU to its index in Catalogue.Products; built by
	// ParseProgramme (see IndexCatalogue).
	productIndex map[string]int
}

// IndexCatalogue builds the SKU index that Product uses. ParseProgramme
// calls it; code that builds a Programme by hand should too.
func (p *Programme) IndexCatalogue() {
	p.productIndex = make(map[string]int, len(p.Catalogue.Products))
	for i, prod := range p.Catalogue.Products {
		p.productIndex[prod.SKU] = i
	}
}

// Product returns the catalogue entry for sku, or the default product
// (with SKU kept as sent) and false when the catalogue does not know it.
func (p *Programme) Product(sku string) (Product, bool) {
	if i, ok := p.productIndex[sku]; ok {
		return p.Catalogue.Products[i], true
	}
	if p.productIndex == nil {
		for _, prod := range p.Catalogue.Products {
			if prod.SKU == sku {
				return prod, true
			}
		}
	}
	d := p.Catalogue.DefaultProduct
	d.SKU = sku
	return d, false
}

// Catalogue lists the products the programme knows.
type Catalogue struct {
	Products       []Product `json:"products"`
	DefaultProduct Product   `json:"default_product"`
}

// Product is one catalogue entry. Price is informational: lines are priced
// as the till sends them.
type Product struct {
	SKU        string            `json:"sku"`
	Name       string            `json:"name,omitempty"`
	Category   string            `json:"category"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Price      Money             `json:"price,omitempty"`
}

// EarnRules say how many points money paid earns.
type EarnRules struct {
	Basis     string              `json:"basis"` // only "net_paid"
	Rates     []EarnRate          `json:"rates"`
	CardTypes map[string]CardType `json:"card_types,omitempty"`
	Rounding  string              `json:"rounding"` // only "floor"
	// Lots (lots.go, docs/programme-extensions.md): days until earned
	// points expire (0: never) and until they can be redeemed (0: at
	// once), and how many days ahead an expiry is announced (nil: 30).
	ExpireAfterDays   int  `json:"expire_after_days,omitempty"`
	PendingDays       int  `json:"pending_days,omitempty"`
	ExpiryWarningDays *int `json:"expiry_warning_days,omitempty"`
}

// EarnRate earns Points for every Per minor units paid on lines of Category
// ("*" matches every category). The first matching rate wins.
type EarnRate struct {
	Category string `json:"category"`
	Points   Points `json:"points"`
	Per      Money  `json:"per"`
}

// CardType carries the earning multiplier of a card type, in percent.
type CardType struct {
	MultiplierPct int64 `json:"multiplier_pct"`
}

// RedeemRules say how points are spent as a tender.
type RedeemRules struct {
	PointValue             Money   `json:"point_value"`
	MinPoints              Points  `json:"min_points"`
	MaxSharePct            int64   `json:"max_share_pct"`
	OTP                    OTPRule `json:"otp"`
	OfflineAllowancePoints Points  `json:"offline_allowance_points"`
}

// OTPRule is the decoded redeem.otp setting: "required", "off" or
// "above:<points>".
type OTPRule struct {
	Mode  string // "required", "off" or "above"
	Above Points // with Mode "above": an OTP is needed for more than Above points
}

// Tier is a membership tier reached by money paid within the tier window.
type Tier struct {
	Name          string `json:"name"`
	MinSpend      Money  `json:"min_spend"`
	MultiplierPct int64  `json:"multiplier_pct,omitempty"` // 0 means 100
}

// Consent is a consent the programme asks members for.
type Consent struct {
	ID       string `json:"id"`
	Required bool   `json:"required,omitempty"`
}

// Level says what a campaign's condition looks at.
type Level string

// The campaign levels.
const (
	LevelInvoice Level = "invoice"
	LevelItem    Level = "item"
)

// Campaign is one promotion (programme-v1.md, Campaigns).
type Campaign struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	Level          Level     `json:"level"`
	Order          int       `json:"order"`
	Stop           bool      `json:"stop,omitempty"`
	Valid          Validity  `json:"valid"`
	Stores         []string  `json:"stores,omitempty"`
	MembersOnly    bool      `json:"members_only,omitempty"`
	Tiers          []string  `json:"tiers,omitempty"`
	Groups         []string  `json:"groups,omitempty"`
	CouponRequired bool      `json:"coupon_required,omitempty"`
	Condition      Condition `json:"condition"`
	Reward         Reward    `json:"reward"`
}

// Validity restricts when a campaign applies, in the programme's time zone.
// Empty fields mean no restriction.
type Validity struct {
	From  string   `json:"from,omitempty"`  // "YYYY-MM-DD", inclusive
	To    string   `json:"to,omitempty"`    // "YYYY-MM-DD", inclusive
	Days  []string `json:"days,omitempty"`  // "mon".."sun"
	Hours []string `json:"hours,omitempty"` // ["HH:MM", "HH:MM"], see DESIGN.md
}

// Condition is what a bill or line must satisfy for a campaign to apply.
type Condition struct {
	Items ItemFilter `json:"items"`
	Value MoneyRange `json:"value"`
	Qty   QtyRange   `json:"qty"`
}

// ItemFilter selects lines. Within one list any entry matches; across the
// lists, every non-empty one must match. An empty filter matches every line.
type ItemFilter struct {
	SKUs       []string            `json:"skus,omitempty"`
	Categories []string            `json:"categories,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"` // decoded from a string or a list of strings
}

// MoneyRange is an inclusive range; a nil bound is open.
type MoneyRange struct {
	Min *Money
	Max *Money
}

// QtyRange is an inclusive range of units; a nil bound is open.
type QtyRange struct {
	Min *int64
	Max *int64
}

// Reward is what a campaign gives; exactly one field is set.
type Reward struct {
	Percent             *Decimal   `json:"percent,omitempty"`
	AmountOff           *Money     `json:"amount_off,omitempty"`
	FreeItems           *FreeItems `json:"free_items,omitempty"`
	BonusPoints         *Points    `json:"bonus_points,omitempty"`
	PointsMultiplierPct *int64     `json:"points_multiplier_pct,omitempty"`
	Cashback            *Cashback  `json:"cashback,omitempty"`
}

// FreeItems gives Qty units of one SKU from SKUs, or of one product whose
// attributes match Attributes.
type FreeItems struct {
	SKUs       []string            `json:"skus,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"`
	Qty        int64               `json:"qty"`
}

// Cashback awards points worth Percent of the money paid.
type Cashback struct {
	Percent Decimal `json:"percent"`
}

// Decimal is an exact non-negative decimal with up to DecimalPlaces digits
// after the point, held as an integer count of 10^-DecimalPlaces units:
// 2.5 is Decimal{Units: 25000}. It is how fractional percentages are read
// without floats.
type Decimal struct {
	Units int64
}

// DecimalPlaces is the precision of Decimal: four places is finer than any
// retail percentage and keeps percent × money within 128-bit intermediates.
const DecimalPlaces = 4

// CouponBatch lists or generates coupon codes for one campaign.
type CouponBatch struct {
	Campaign    string   `json:"campaign"`
	Codes       []string `json:"codes,omitempty"`
	Generate    int      `json:"generate,omitempty"`
	Prefix      string   `json:"prefix,omitempty"`
	UsesPerCode int      `json:"uses_per_code,omitempty"` // 0 means 1
	ValidTo     string   `json:"valid_to,omitempty"`      // "YYYY-MM-DD", inclusive
	Member      string   `json:"member,omitempty"`        // personal offer: only this member
}

// ZoneResolver loads an IANA time zone. The engine takes it from the caller
// (time.LoadLocation) because reading the zone database is I/O.
type ZoneResolver func(name string) (*time.Location, error)
