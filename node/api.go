package node

import (
	"time"

	"github.com/patron/patron/engine"
)

// The request and result types below are the service API that bridges call.
// Their JSON forms are the params and results of pos-protocol-v1.md, so a
// bridge decodes params straight into them.

// Identifier names a member by exactly one of mobile, card or email.
type Identifier struct {
	Mobile string `json:"mobile,omitempty"`
	Card   string `json:"card,omitempty"`
	Email  string `json:"email,omitempty"`
}

// Member is a member as tills see it (member.identify and friends).
type Member struct {
	MemberID    string          `json:"member_id"`
	FirstName   string          `json:"first_name"`
	LastName    string          `json:"last_name"`
	Email       string          `json:"email"`
	Country     string          `json:"country,omitempty"`
	Birthday    string          `json:"birthday,omitempty"`    // "MM-DD"
	Anniversary string          `json:"anniversary,omitempty"` // "MM-DD"
	Language    string          `json:"language,omitempty"`    // BCP 47 tag, an extension (language.go)
	Tier        string          `json:"tier"`
	Groups      []string        `json:"groups"`
	Cards       []Card          `json:"cards"`
	Points      MemberPoints    `json:"points"`
	Consents    map[string]bool `json:"consents"`
	Stale       bool            `json:"stale"`
	Offers      []Offer         `json:"offers"`
	EnrolledAt  time.Time       `json:"enrolled_at"`
}

// Card is one loyalty card of a member.
type Card struct {
	Number      string    `json:"number"`
	Type        string    `json:"type"`
	Status      string    `json:"status"` // "active" or "blocked"
	BlockReason string    `json:"block_reason,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
}

// MemberPoints is a member's points position.
type MemberPoints struct {
	Balance    engine.Points `json:"balance"`
	Redeemable engine.Points `json:"redeemable"`
	Pending    engine.Points `json:"pending"`
	// Expiring is the soonest day within the programme's warning window
	// on which points expire (an extension, docs/protocol.md).
	Expiring *engine.Expiring `json:"expiring,omitempty"`
}

// Offer is a personal offer or coupon handed to the till.
type Offer struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	ValidTo     string `json:"valid_to,omitempty"`
}

// Hello is the hello result.
type Hello struct {
	Protocol    string       `json:"protocol"`
	Store       string       `json:"store"`
	Terminal    string       `json:"terminal"`
	Currency    string       `json:"currency"`
	MinorDigits int          `json:"minor_digits"`
	PointValue  engine.Money `json:"point_value"`
	ServerTime  string       `json:"server_time"`
	HQReachable bool         `json:"hq_reachable"`
	Programme   string       `json:"programme_version"`
}

// IdentifyRequest is member.identify's params.
type IdentifyRequest struct {
	Identifier *Identifier `json:"identifier"`
}

// EnrollRequest is member.enroll's params.
type EnrollRequest struct {
	Mobile      string          `json:"mobile"`
	FirstName   string          `json:"first_name"`
	LastName    string          `json:"last_name"`
	Email       string          `json:"email"`
	Birthday    string          `json:"birthday"`
	Anniversary string          `json:"anniversary"`
	Country     string          `json:"country"`
	Card        *CardRequest    `json:"card"`
	Consents    map[string]bool `json:"consents"`
	Groups      []string        `json:"groups"`
	Language    string          `json:"language"` // BCP 47 tag, an extension (language.go)
}

// CardRequest names a card to issue with enrolment.
type CardRequest struct {
	Number string `json:"number"`
	Type   string `json:"type"`
}

// UpdateRequest is member.update's params. Only fields present in Set
// change; a field set to "" clears it.
type UpdateRequest struct {
	MemberID string        `json:"member_id"`
	Set      ProfileChange `json:"set"`
}

// ProfileChange holds the profile fields to change; nil means unchanged.
type ProfileChange struct {
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Email       *string `json:"email"`
	Country     *string `json:"country"`
	Birthday    *string `json:"birthday"`
	Anniversary *string `json:"anniversary"`
	Language    *string `json:"language"` // an extension (language.go)
}

// ConsentsRequest is member.consents' params.
type ConsentsRequest struct {
	MemberID string          `json:"member_id"`
	Set      map[string]bool `json:"set"`
}

// IssueCardRequest is card.issue's params.
type IssueCardRequest struct {
	MemberID string `json:"member_id"`
	Number   string `json:"number"`
	Type     string `json:"type"`
}

// BlockCardRequest is card.block's params.
type BlockCardRequest struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
}

// EvaluateRequest is basket.evaluate's params.
type EvaluateRequest struct {
	Basket          *engine.Basket          `json:"basket"`
	Member          *Identifier             `json:"member"`
	Coupons         []string                `json:"coupons"`
	FreeItemChoices []engine.FreeItemChoice `json:"free_item_choices"`
	At              *time.Time              `json:"at"`
	Redeem          *RedeemRequest          `json:"redeem"`
}

// RedeemRequest is a sale's redemption.
type RedeemRequest struct {
	Points engine.Points `json:"points"`
	OTP    string        `json:"otp,omitempty"`
	// OTPKind says what OTP is: "sms" (the default) or "totp" (the
	// member's authenticator app, node/authenticator.go). An extension.
	OTPKind string `json:"otp_kind,omitempty"`
}

// OTPRequest is redeem.otp's params.
type OTPRequest struct {
	MemberID string        `json:"member_id"`
	Points   engine.Points `json:"points"`
}

// OTPSent is redeem.otp's result.
type OTPSent struct {
	SentTo    string    `json:"sent_to"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Tender is one means of payment.
type Tender struct {
	Type   string       `json:"type"` // "points" is the points tender
	Amount engine.Money `json:"amount"`
}

// Expect carries the totals the till computed; a mismatch is
// evaluation_changed.
type Expect struct {
	Net *engine.Money `json:"net"`
}

// SaleRequest is sale.complete's params.
type SaleRequest struct {
	ReceiptNo       string                  `json:"receipt_no"`
	Basket          *engine.Basket          `json:"basket"`
	Member          *Identifier             `json:"member"`
	Coupons         []string                `json:"coupons"`
	FreeItemChoices []engine.FreeItemChoice `json:"free_item_choices"`
	Redeem          *RedeemRequest          `json:"redeem"`
	Tenders         []Tender                `json:"tenders"`
	Expect          *Expect                 `json:"expect"`
}

// Receipt is sale.complete's result.
type Receipt struct {
	ReceiptID        string              `json:"receipt_id"`
	At               time.Time           `json:"at"`
	MemberID         string              `json:"member_id,omitempty"`
	Totals           engine.Totals       `json:"totals"`
	Discounts        []engine.Discount   `json:"discounts"`
	Lines            []engine.LineResult `json:"lines"`
	FreeItems        []engine.FreeItem   `json:"free_items"`
	Applied          []string            `json:"applied"`
	Points           ReceiptPoints       `json:"points"`
	ReceiptText      []string            `json:"receipt_text"`
	Offers           []Offer             `json:"offers"`
	ProgrammeVersion string              `json:"programme_version"`
}

// ReceiptPoints is the points part of a receipt.
type ReceiptPoints struct {
	Earned   engine.Points `json:"earned"`
	Redeemed engine.Points `json:"redeemed"`
	Balance  engine.Points `json:"balance"`
}

// ReturnRequest is sale.return's params.
type ReturnRequest struct {
	ReceiptID string              `json:"receipt_id"`
	ReturnNo  string              `json:"return_no"`
	Lines     []engine.ReturnLine `json:"lines"`
}

// VoidRequest is sale.void's params: a full return of what is left.
type VoidRequest struct {
	ReceiptID string `json:"receipt_id"`
	ReturnNo  string `json:"return_no,omitempty"` // default "VOID"
}

// ReturnReceipt is sale.return's and sale.void's result.
type ReturnReceipt struct {
	ReturnID string                `json:"return_id"`
	Points   ReturnPoints          `json:"points"`
	Refund   Refund                `json:"refund"`
	Lines    []engine.ReturnedLine `json:"lines"`
	Complete bool                  `json:"complete"`
}

// ReturnPoints is the points part of a return.
type ReturnPoints struct {
	ClawedBack engine.Points `json:"clawed_back"`
	Refunded   engine.Points `json:"refunded"`
	Balance    engine.Points `json:"balance"`
}

// Refund is what goes back to the customer.
type Refund struct {
	Money  engine.Money  `json:"money"`
	Points engine.Points `json:"points"`
}

// LedgerRequest is member.ledger's params.
type LedgerRequest struct {
	MemberID string     `json:"member_id"`
	From     *time.Time `json:"from"`
	To       *time.Time `json:"to"`
	Limit    int        `json:"limit"`
	Cursor   string     `json:"cursor"`
}

// LedgerPage is member.ledger's result.
type LedgerPage struct {
	Entries []LedgerEntry `json:"entries"`
	Cursor  string        `json:"cursor"`
}

// LedgerEntry is one ledger line with the running balance after it.
type LedgerEntry struct {
	At      time.Time        `json:"at"`
	Store   string           `json:"store"`
	Kind    engine.EntryKind `json:"kind"`
	Points  engine.Points    `json:"points"`
	Ref     string           `json:"ref"`
	Balance engine.Points    `json:"balance"`
	// Offline marks a redemption made while HQ was unreachable (an
	// additive field: absent when false).
	Offline bool `json:"offline,omitempty"`
}

// CouponCheckRequest is coupon.check's params.
type CouponCheckRequest struct {
	Code   string      `json:"code"`
	Member *Identifier `json:"member"`
}

// CouponCheck is coupon.check's result.
type CouponCheck struct {
	Valid       bool   `json:"valid"`
	Campaign    string `json:"campaign"`
	Description string `json:"description"`
}

// MemberChange tells subscribers that a member's balance or status changed.
type MemberChange struct {
	Member Member `json:"member"`
}
