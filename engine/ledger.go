package engine

import "time"

// EntryKind names what a ledger entry records.
type EntryKind string

// The ledger entry kinds of pos-protocol-v1.md (member.ledger).
const (
	EntryEarn   EntryKind = "earn"
	EntryRedeem EntryKind = "redeem"
	EntryReturn EntryKind = "return"
	EntryAdjust EntryKind = "adjust"
	EntryExpire EntryKind = "expire"
	EntryBonus  EntryKind = "bonus"
)

// Entry is one immutable change to a member's points. Points is signed:
// redemptions, clawbacks and expiries are negative.
type Entry struct {
	ID     string    `json:"id"` // unique, e.g. "<receipt_id>/earn"
	At     time.Time `json:"at"`
	Store  string    `json:"store"`
	Kind   EntryKind `json:"kind"`
	Points Points    `json:"points"`
	Ref    string    `json:"ref"`
	// Offline marks a redemption a store made while HQ was unreachable,
	// under the programme's offline allowance.
	Offline bool `json:"offline,omitempty"`
	// ExpiresAt, PendingUntil and Source are the lot terms (lots.go):
	// when the points of a positive entry expire and until when earned
	// points are pending (zero: never), and for a claw-back the receipt
	// whose lots it takes its points from first.
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	PendingUntil time.Time `json:"pending_until,omitzero"`
	Source       string    `json:"source,omitempty"`
}
