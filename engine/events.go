package engine

import (
	"time"
)

// EventKind names what an event records.
type EventKind string

// The event kinds. Each carries exactly one payload field of Event (see
// Event); programme.loaded carries no member.
const (
	EventMemberEnrolled  EventKind = "member.enrolled"  // Enrolment
	EventMemberUpdated   EventKind = "member.updated"   // Profile
	EventMemberConsents  EventKind = "member.consents"  // Consents
	EventCardIssued      EventKind = "card.issued"      // Card (number, type)
	EventCardBlocked     EventKind = "card.blocked"     // Card (number, reason)
	EventCardUnblocked   EventKind = "card.unblocked"   // Card (number)
	EventSaleCompleted   EventKind = "sale.completed"   // Sale
	EventSaleReturned    EventKind = "sale.returned"    // Return
	EventProgrammeLoaded EventKind = "programme.loaded" // Programme
)

// The profile fields a member.enrolled or member.updated event may set;
// each is a last-writer-wins register of the member.
const (
	FieldFirstName   = "first_name"
	FieldLastName    = "last_name"
	FieldEmail       = "email"
	FieldCountry     = "country"
	FieldBirthday    = "birthday"
	FieldAnniversary = "anniversary"
	FieldLanguage    = "language" // a BCP 47 tag (language.go)
)

// ProfileFields lists the profile fields in their canonical order.
func ProfileFields() []string {
	return []string{FieldFirstName, FieldLastName, FieldEmail, FieldCountry, FieldBirthday, FieldAnniversary, FieldLanguage}
}

// Card statuses, as the card status register holds them.
const (
	CardActive  = "active"
	CardBlocked = "blocked"
)

// Event is one immutable change, appended on the node where it happened.
// (Origin, Seq) is its identity: the origin's Seq-th event. HLC orders it
// against concurrent events of other origins for last-writer-wins fields.
// At is the business time (the origin node's clock); Store is the store
// that made the change (for HQ, "HQ"). Exactly the payload field of Kind
// is set.
type Event struct {
	Origin   string
	Seq      uint64
	HLC      HLC
	Kind     EventKind
	Member   string // member id; "" for programme.loaded and anonymous sales
	Store    string
	Terminal string // the till that asked, when one did
	At       time.Time

	Enrolment *Enrolment        // member.enrolled
	Profile   map[string]string // member.updated: field → new value ("" clears)
	Consents  map[string]bool   // member.consents: consent id → given
	Card      *CardChange       // card.issued, card.blocked, card.unblocked
	Sale      *SaleCompleted    // sale.completed
	Return    *SaleReturned     // sale.returned
	Programme *ProgrammeLoaded  // programme.loaded

	Authenticator *AuthenticatorChange // member.authenticator (events_authenticator.go)
	Tier          *TierChanged         // tier.changed (events_tier.go)
	Greeting      *Greeting            // member.greeted (events_greeting.go)
	Expiry        *PointsExpiry        // points.expired, points.expiry_warned (events_expiry.go)
	Group         *GroupDefinition     // group.defined (events_groups.go)
	GroupChange   *GroupChange         // member.groups (events_groups.go)
	Erasure       *Erasure             // member.erased (events_erasure.go)
	Offers        *OffersIssued        // offers.issued (events_offers.go)
	Format        *ChainFormatChange   // chain.format (format.go)
}

// ID is an event's identity.
type EventID struct {
	Origin string
	Seq    uint64
}

// ID returns the event's identity.
func (e Event) ID() EventID { return EventID{Origin: e.Origin, Seq: e.Seq} }

// Stamp is the event's position for last-writer-wins registers.
func (e Event) Stamp() Stamp { return Stamp{HLC: e.HLC, Origin: e.Origin} }

// Enrolment is a member.enrolled payload. Profile holds the fields given
// at enrolment; an empty field is left out, so two enrolments of one
// mobile at two stores keep what either was told.
type Enrolment struct {
	Profile  map[string]string `json:"profile"`
	Consents map[string]bool   `json:"consents"`
	Cards    []CardChange      `json:"cards"`
	Groups   []string          `json:"groups"`
}

// CardChange names a card and, for an issue, its type, or for a block,
// the reason.
type CardChange struct {
	Number string `json:"number"`
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SaleCompleted is a sale.completed payload: what a return (at any
// store) and the ledger need.
type SaleCompleted struct {
	ReceiptID        string     `json:"receipt_id"`
	Terminal         string     `json:"terminal"`
	ReceiptNo        string     `json:"receipt_no"`
	Fingerprint      string     `json:"fingerprint"` // of the till's params, for replays
	ProgrammeVersion string     `json:"programme_version"`
	Day              int64      `json:"day"` // spend day (programme zone), days since 1970-01-01
	Evaluation       Evaluation `json:"evaluation"`
	// Entries are the ledger entries the sale posts, with stable ids.
	Entries []Entry `json:"entries"`
	// Spend is the money the member paid, added to their spend on Day.
	Spend Money `json:"spend"`
	// HoldID names the HQ hold the redemption posts (online redemption).
	HoldID string `json:"hold_id,omitempty"`
	// Offline marks a redemption made while HQ was unreachable, under the
	// programme's offline allowance.
	Offline bool `json:"offline,omitempty"`
}

// SaleReturned is a sale.returned payload.
type SaleReturned struct {
	ReceiptID   string       `json:"receipt_id"`
	ReturnNo    string       `json:"return_no"`
	ReturnID    string       `json:"return_id"`
	Fingerprint string       `json:"fingerprint"`
	Day         int64        `json:"day"` // the sale's spend day
	Result      ReturnResult `json:"result"`
	Entries     []Entry      `json:"entries"`
	// Spend is the (negative) change of the member's spend on Day.
	Spend Money `json:"spend"`
	// CouponsReleased are the sale's coupon uses a completing return
	// gives back.
	CouponsReleased []string `json:"coupons_released"`
}

// ProgrammeLoaded is a programme.loaded payload: the document as loaded.
type ProgrammeLoaded struct {
	Version  string `json:"version"`
	Document []byte `json:"document"`
}

// Stamp orders writes to a last-writer-wins register: by HLC, ties broken
// by origin id in byte order. Two writes of one origin never tie (its
// HLCs strictly increase).
type Stamp struct {
	HLC    HLC    `json:"hlc"`
	Origin string `json:"origin"`
}

// Compare returns -1, 0 or +1 as s is before, equal to or after o.
func (s Stamp) Compare(o Stamp) int {
	if c := s.HLC.Compare(o.HLC); c != 0 {
		return c
	}
	switch {
	case s.Origin < o.Origin:
		return -1
	case s.Origin > o.Origin:
		return 1
	}
	return 0
}
