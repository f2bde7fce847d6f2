package engine

import "time"

// Basket is what a till sends to be priced.
type Basket struct {
	Lines []Line `json:"lines"`
}

// Line is one basket line. Exactly one of Qty and QtyMilli is set (weighed
// goods use QtyMilli, thousandths of a unit). Gross is Amount when the till
// sent one, else UnitPrice × Qty, or UnitPrice × QtyMilli / 1000 rounded
// half up.
type Line struct {
	Line      int    `json:"line"`
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty,omitempty"`
	QtyMilli  int64  `json:"qty_milli,omitempty"`
	UnitPrice Money  `json:"unit_price"`
	Amount    *Money `json:"amount,omitempty"`
}

// FreeItemChoice is the customer's pick for a free-item campaign that
// offered a choice.
type FreeItemChoice struct {
	Campaign string `json:"campaign"`
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
}

// MemberFacts is what evaluation needs to know about the member, if any.
type MemberFacts struct {
	ID       string
	Tier     string   // tier before this sale (scopes campaigns)
	Groups   []string // customer groups
	CardType string   // card presented, else newest active card; "" if none
	// SpendInWindow is the money the member paid within the tier window
	// before this sale; the sale's own paid money is added to pick the
	// earning tier.
	SpendInWindow Money
	// Balance is the member's point balance; Redeemable is what may be
	// spent now (0 without every required consent).
	Balance    Points
	Redeemable Points
	// ConsentsOK is false when a required consent is missing: the member
	// earns nothing and cannot redeem.
	ConsentsOK bool
}

// EvalInput is everything one evaluation depends on.
type EvalInput struct {
	Programme *Programme
	Basket    Basket
	At        time.Time
	Store     string
	Member    *MemberFacts // nil for an anonymous sale
	// Coupons are the codes presented that the caller found valid and
	// unused, each with its campaign.
	Coupons         []AcceptedCoupon
	FreeItemChoices []FreeItemChoice
	// RedeemPoints is how many points the member spends on this bill
	// (0 for none). The caller has checked the balance and OTP; the engine
	// checks min_points and max_share_pct.
	RedeemPoints Points
}

// AcceptedCoupon is a presented coupon code that unlocks Campaign.
type AcceptedCoupon struct {
	Code     string
	Campaign string
}

// Evaluation is a priced basket. Its JSON form is the basket.evaluate
// result of pos-protocol-v1.md, plus additive fields.
type Evaluation struct {
	Lines         []LineResult `json:"lines"`
	BillDiscounts []Discount   `json:"bill_discounts"`
	FreeItems     []FreeItem   `json:"free_items"`
	Choices       []Choice     `json:"choices"`
	Totals        Totals       `json:"totals"`
	Points        PointsOffer  `json:"points"`
	Applied       []string     `json:"applied"`

	// ProgrammeVersion is the Version of the programme that priced it.
	ProgrammeVersion string `json:"programme_version"`
	// CouponsUsed are the presented codes whose campaign applied.
	CouponsUsed []string `json:"coupons_used"`
	// Bonus and Cashback are the bill's bonus and cashback points, part of
	// Points.Earn; they come back only on a full return.
	Bonus    Points `json:"bonus_points"`
	Cashback Points `json:"cashback_points"`
	// Tier is the tier the sale earned at (after counting its own spend).
	Tier string `json:"tier,omitempty"`
}

// LineResult is one priced line.
type LineResult struct {
	Line      int        `json:"line"`
	SKU       string     `json:"sku"`
	Category  string     `json:"category"`
	Qty       int64      `json:"qty,omitempty"`
	QtyMilli  int64      `json:"qty_milli,omitempty"`
	Gross     Money      `json:"gross"`
	Discounts []Discount `json:"discounts"` // item level
	// Net is after item-level discounts and the line's share of
	// bill-level ones.
	Net Money `json:"net"`
	// PointsShare is the part of the redeemed points assigned to the
	// line; Paid = Net − PointsShare × point_value is the money paid.
	PointsShare Points `json:"points_share"`
	Paid        Money  `json:"paid"`
	// Earn is the points the line earns, floored once, bonus excluded.
	Earn Points `json:"earn"`
	// Bonus is item-level bonus points for this line.
	Bonus Points `json:"bonus_points"`
}

// Discount is money taken off by one campaign.
type Discount struct {
	Campaign string `json:"campaign"`
	Amount   Money  `json:"amount"`
}

// FreeItem is a zero-value line given by a campaign.
type FreeItem struct {
	Campaign string `json:"campaign"`
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
}

// Choice is a free-item reward waiting for the customer to pick one of
// SKUs (sorted). Group names the attribute group, or is "skus" for a list.
type Choice struct {
	Campaign string   `json:"campaign"`
	Group    string   `json:"group"`
	Qty      int64    `json:"qty"`
	SKUs     []string `json:"skus"`
}

// Totals sums a bill. Free items are not in totals.
type Totals struct {
	Gross    Money `json:"gross"`
	Discount Money `json:"discount"`
	Net      Money `json:"net"`
}

// PointsOffer tells the till about points on this bill.
type PointsOffer struct {
	Earn            Points `json:"earn"`
	Redeemable      Points `json:"redeemable"`
	MaxRedeemPoints Points `json:"max_redeem_points"`
	// Redeem is the points spent on this bill (EvalInput.RedeemPoints).
	Redeem Points `json:"redeem,omitempty"`
}

// Refusal is a business outcome that refuses a request: a stable
// snake_case Reason (the protocol's data.reason), a human Message, and
// optional details (Field names the offending field).
type Refusal struct {
	Reason  string
	Message string
	Field   string
	Details map[string]any
}

func (r *Refusal) Error() string { return "engine: " + r.Reason + ": " + r.Message }

// The refusal reasons the engine produces.
const (
	ReasonInvalidParams      = "invalid_params"
	ReasonConsentRequired    = "consent_required"
	ReasonInsufficientPoints = "insufficient_points"
)
