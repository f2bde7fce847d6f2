package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event encoding limits.
const (
	// EventVersion is the "v" of the event encoding this build writes and
	// reads. A different version is refused (ErrBadEvent): a node must be
	// upgraded before it can apply events of a newer format.
	EventVersion = 1
	// MaxEventBytes bounds an encoded event other than programme.loaded.
	// The largest is a sale of engine.MaxBasketLines lines: its
	// evaluation is a few hundred bytes a line, so 1 MiB holds the
	// largest legal basket with room to spare while keeping one event
	// well inside a sync batch.
	MaxEventBytes = 1 << 20
	// MaxProgrammeEventBytes bounds an encoded programme.loaded event: a
	// document of MaxProgrammeBytes in base64 (4/3) plus the envelope.
	MaxProgrammeEventBytes = MaxProgrammeBytes/3*4 + 64<<10
	// MaxOriginLen bounds an origin id (a store id or "HQ"); origins are
	// parts of storage keys.
	MaxOriginLen = 64
	// MaxEventIDLen bounds member ids, receipt ids, card numbers and
	// other ids an event carries; they are parts of storage keys.
	MaxEventIDLen = 256
	// MaxEventItems bounds each list or map of an event payload other
	// than a sale's evaluation (cards, groups, consents, entries).
	MaxEventItems = 64
)

// wireEvent is the JSON form of an Event.
type wireEvent struct {
	V         int               `json:"v"`
	Origin    string            `json:"origin"`
	Seq       uint64            `json:"seq"`
	HLC       HLC               `json:"hlc"`
	Kind      EventKind         `json:"kind"`
	Member    string            `json:"member,omitempty"`
	Store     string            `json:"store"`
	Terminal  string            `json:"terminal,omitempty"`
	At        time.Time         `json:"at"`
	Enrolment *Enrolment        `json:"enrolment,omitempty"`
	Profile   map[string]string `json:"profile,omitempty"`
	Consents  map[string]bool   `json:"consents,omitempty"`
	Card      *CardChange       `json:"card,omitempty"`
	Sale      *SaleCompleted    `json:"sale,omitempty"`
	Return    *SaleReturned     `json:"return,omitempty"`
	Programme *ProgrammeLoaded  `json:"programme,omitempty"`

	Authenticator *AuthenticatorChange `json:"authenticator,omitempty"`
	Tier          *TierChanged         `json:"tier,omitempty"`
	Greeting      *Greeting            `json:"greeting,omitempty"`
	Expiry        *PointsExpiry        `json:"expiry,omitempty"`
	Group         *GroupDefinition     `json:"group,omitempty"`
	GroupChange   *GroupChange         `json:"group_change,omitempty"`
	Erasure       *Erasure             `json:"erasure,omitempty"`
	Offers        *OffersIssued        `json:"offers,omitempty"`
	Format        *ChainFormatChange   `json:"format,omitempty"`
}

// EncodeEvent returns the versioned JSON encoding of ev. An event that
// would not decode (ValidateEvent) is refused with ErrBadEvent.
func EncodeEvent(ev Event) ([]byte, error) {
	if err := ValidateEvent(ev); err != nil {
		return nil, err
	}
	w := wireEvent{V: EventVersion, Origin: ev.Origin, Seq: ev.Seq, HLC: ev.HLC, Kind: ev.Kind,
		Member: ev.Member, Store: ev.Store, Terminal: ev.Terminal, At: ev.At, Enrolment: ev.Enrolment,
		Profile: ev.Profile, Consents: ev.Consents, Card: ev.Card, Sale: ev.Sale, Return: ev.Return,
		Programme: ev.Programme}
	w.Authenticator = ev.Authenticator
	w.Tier, w.Greeting = ev.Tier, ev.Greeting
	w.Expiry = ev.Expiry
	w.Group, w.GroupChange, w.Erasure = ev.Group, ev.GroupChange, ev.Erasure
	w.Offers = ev.Offers // events_offers.go
	w.Format = ev.Format
	data, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("engine: encode event %s/%d: %w: %w", ev.Origin, ev.Seq, ErrBadEvent, err)
	}
	if err := checkEventSize(ev.Kind, len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

// DecodeEvent decodes an EncodeEvent encoding strictly: unknown fields,
// another version, an unknown kind, trailing bytes, a missing identity, a
// payload that does not match the kind or an oversized event are refused
// with ErrBadEvent (wrapped with the detail).
func DecodeEvent(data []byte) (Event, error) {
	if len(data) > MaxProgrammeEventBytes {
		return Event{}, badEvent("%d bytes, over MaxProgrammeEventBytes", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireEvent
	if err := dec.Decode(&w); err != nil {
		return Event{}, fmt.Errorf("engine: decode event: %w: %w", ErrBadEvent, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return Event{}, badEvent("trailing data")
	}
	if w.V > EventVersion {
		return Event{}, badEvent("encoding version %d is newer than this build reads (%d): upgrade this node", w.V, EventVersion)
	}
	if w.V != EventVersion {
		return Event{}, badEvent("version %d, want %d", w.V, EventVersion)
	}
	ev := Event{Origin: w.Origin, Seq: w.Seq, HLC: w.HLC, Kind: w.Kind, Member: w.Member, Store: w.Store,
		Terminal: w.Terminal, At: w.At, Enrolment: w.Enrolment, Profile: w.Profile, Consents: w.Consents,
		Card: w.Card, Sale: w.Sale, Return: w.Return, Programme: w.Programme}
	ev.Authenticator = w.Authenticator
	ev.Tier, ev.Greeting = w.Tier, w.Greeting
	ev.Expiry = w.Expiry
	ev.Group, ev.GroupChange, ev.Erasure = w.Group, w.GroupChange, w.Erasure
	ev.Offers = w.Offers // events_offers.go
	ev.Format = w.Format
	if err := ValidateEvent(ev); err != nil {
		return Event{}, err
	}
	if err := checkEventSize(ev.Kind, len(data)); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// checkEventSize applies MaxEventBytes (MaxProgrammeEventBytes for a
// programme).
func checkEventSize(kind EventKind, n int) error {
	max := MaxEventBytes
	if kind == EventProgrammeLoaded {
		max = MaxProgrammeEventBytes
	}
	if n > max {
		return badEvent("%s event of %d bytes, over the limit of %d", kind, n, max)
	}
	return nil
}

// ValidateEvent checks an event's identity, kind and payload: what
// DecodeEvent accepts. Problems are ErrBadEvent, wrapped with the detail.
func ValidateEvent(ev Event) error {
	if !validOrigin(ev.Origin) {
		return badEvent("origin %q must be 1 to %d letters, digits, '_' or '.'", ev.Origin, MaxOriginLen)
	}
	if ev.Seq == 0 {
		return badEvent("%s: seq must be positive", ev.Origin)
	}
	if ev.At.IsZero() {
		return badEvent("%s/%d: at required", ev.Origin, ev.Seq)
	}
	if !validEventID(ev.Store) || (ev.Terminal != "" && !validEventID(ev.Terminal)) {
		return badEvent("%s/%d: store and terminal must be 1 to %d printable characters", ev.Origin, ev.Seq, MaxEventIDLen)
	}
	if err := checkPayloads(ev); err != nil {
		return fmt.Errorf("engine: event %s/%d (%s): %w", ev.Origin, ev.Seq, ev.Kind, err)
	}
	return nil
}

// checkPayloads checks that exactly the payload of ev.Kind is set, and
// checks it.
func checkPayloads(ev Event) error {
	set := map[EventKind]bool{
		EventMemberEnrolled:      ev.Enrolment != nil,
		EventMemberUpdated:       ev.Profile != nil,
		EventMemberConsents:      ev.Consents != nil,
		EventCardIssued:          ev.Card != nil,
		EventSaleCompleted:       ev.Sale != nil,
		EventSaleReturned:        ev.Return != nil,
		EventProgrammeLoaded:     ev.Programme != nil,
		EventMemberAuthenticator: ev.Authenticator != nil,
		EventTierChanged:         ev.Tier != nil,
		EventMemberGreeted:       ev.Greeting != nil,
		EventPointsExpired:       ev.Expiry != nil,
		EventGroupDefined:        ev.Group != nil,
		EventMemberGroups:        ev.GroupChange != nil,
		EventMemberErased:        ev.Erasure != nil,
		EventOffersIssued:        ev.Offers != nil,
		EventChainFormat:         ev.Format != nil,
	}
	want := ev.Kind
	if want == EventCardBlocked || want == EventCardUnblocked {
		want = EventCardIssued // the same payload field
	}
	if want == EventPointsExpiryWarned {
		want = EventPointsExpired // the same payload field
	}
	if _, known := set[want]; !known {
		return badEvent("unknown kind %q (written by a newer build? upgrade this node)", ev.Kind)
	}
	for k, present := range set {
		if present != (k == want) {
			return badEvent("payload does not match the kind")
		}
	}
	needMember := ev.Kind != EventProgrammeLoaded && ev.Kind != EventSaleCompleted && ev.Kind != EventSaleReturned &&
		ev.Kind != EventGroupDefined && ev.Kind != EventChainFormat
	switch {
	case needMember && ev.Member == "":
		return badEvent("member required")
	case ev.Member != "" && !validEventID(ev.Member):
		return badEvent("member id must be 1 to %d printable characters", MaxEventIDLen)
	case (ev.Kind == EventProgrammeLoaded || ev.Kind == EventChainFormat) && ev.Member != "":
		return badEvent("a %s event names no member", ev.Kind)
	}
	switch ev.Kind {
	case EventMemberEnrolled:
		return checkEnrolment(ev.Enrolment)
	case EventMemberUpdated:
		return checkProfile(ev.Profile, true)
	case EventMemberConsents:
		return checkConsentSet(ev.Consents, 1)
	case EventCardIssued, EventCardBlocked, EventCardUnblocked:
		return checkCardChange(*ev.Card)
	case EventSaleCompleted:
		return checkSale(ev)
	case EventSaleReturned:
		return checkReturn(ev)
	case EventMemberAuthenticator:
		return checkAuthenticatorChange(ev.Authenticator)
	case EventTierChanged:
		return checkTierChanged(ev.Tier)
	case EventMemberGreeted:
		return checkGreeting(ev.Greeting)
	case EventPointsExpired, EventPointsExpiryWarned:
		return checkPointsExpiry(ev)
	case EventGroupDefined:
		return checkGroupDefinition(ev)
	case EventMemberGroups:
		return checkGroupChange(ev.GroupChange)
	case EventMemberErased:
		return checkErasure(ev)
	case EventOffersIssued:
		return checkOffersIssued(ev) // events_offers.go
	case EventChainFormat:
		if ev.Format.Version < ChainFormat1 || ev.Format.Version > CurrentChainFormat {
			return badEvent("chain format %d: this build reads formats %d to %d; upgrade it", ev.Format.Version, ChainFormat1, CurrentChainFormat)
		}
	default:
		p := ev.Programme
		if !validEventID(p.Version) || len(p.Document) == 0 {
			return badEvent("programme version and document required")
		}
	}
	return nil
}

func checkEnrolment(e *Enrolment) error {
	if err := checkProfile(e.Profile, false); err != nil {
		return err
	}
	if err := checkConsentSet(e.Consents, 0); err != nil {
		return err
	}
	if len(e.Cards) > MaxEventItems || len(e.Groups) > MaxEventItems {
		return badEvent("more than %d cards or groups", MaxEventItems)
	}
	for _, c := range e.Cards {
		if err := checkCardChange(c); err != nil {
			return err
		}
	}
	for _, g := range e.Groups {
		if !validEventID(g) {
			return badEvent("group %q must be 1 to %d printable characters", g, MaxEventIDLen)
		}
	}
	return nil
}

// checkProfile checks profile fields; at an enrolment empty values are
// left out (update: they clear the field, and at least one is set).
func checkProfile(p map[string]string, update bool) error {
	if update && len(p) == 0 {
		return badEvent("no profile field set")
	}
	if len(p) > MaxEventItems {
		return badEvent("too many profile fields")
	}
	for k, v := range p {
		known := false
		for _, f := range ProfileFields() {
			known = known || f == k
		}
		if !known {
			return badEvent("unknown profile field %q", k)
		}
		if !update && v == "" {
			return badEvent("enrolment profile field %q is empty", k)
		}
		if len(v) > MaxEventIDLen {
			return badEvent("profile field %q longer than %d bytes", k, MaxEventIDLen)
		}
	}
	return nil
}

func checkConsentSet(c map[string]bool, min int) error {
	if len(c) < min || len(c) > MaxEventItems {
		return badEvent("%d consents, want %d to %d", len(c), min, MaxEventItems)
	}
	for k := range c {
		if !validEventID(k) {
			return badEvent("consent id %q must be 1 to %d printable characters", k, MaxEventIDLen)
		}
	}
	return nil
}

func checkCardChange(c CardChange) error {
	if !validEventID(c.Number) || len(c.Type) > MaxEventIDLen || len(c.Reason) > MaxEventIDLen {
		return badEvent("card number must be 1 to %d printable characters", MaxEventIDLen)
	}
	return nil
}

func checkSale(ev Event) error {
	s := ev.Sale
	if !validEventID(s.ReceiptID) {
		return badEvent("receipt id must be 1 to %d printable characters", MaxEventIDLen)
	}
	if (len(s.Entries) > 0 || s.HoldID != "" || s.Offline) && ev.Member == "" {
		return badEvent("ledger entries, a hold or an offline redemption need a member")
	}
	if s.HoldID != "" && !validEventID(s.HoldID) {
		return badEvent("hold id must be 1 to %d printable characters", MaxEventIDLen)
	}
	return checkEntries(s.Entries)
}

func checkReturn(ev Event) error {
	r := ev.Return
	if len(r.Entries) > 0 && ev.Member == "" {
		return badEvent("ledger entries need a member")
	}
	if !validEventID(r.ReceiptID) || !validEventID(r.ReturnNo) || !validEventID(r.ReturnID) {
		return badEvent("receipt id, return no and return id must be 1 to %d printable characters", MaxEventIDLen)
	}
	if len(r.CouponsReleased) > MaxEventItems {
		return badEvent("more than %d coupons released", MaxEventItems)
	}
	for _, c := range r.CouponsReleased {
		if !validEventID(c) {
			return badEvent("coupon code must be 1 to %d printable characters", MaxEventIDLen)
		}
	}
	return checkEntries(r.Entries)
}

func checkEntries(entries []Entry) error {
	if len(entries) > MaxEventItems {
		return badEvent("more than %d ledger entries", MaxEventItems)
	}
	for _, e := range entries {
		if !validEventID(e.ID) {
			return badEvent("ledger entry id must be 1 to %d printable characters", MaxEventIDLen)
		}
		if e.At.IsZero() {
			return badEvent("ledger entry %s has no time", e.ID)
		}
		if err := checkLotTerms(e); err != nil { // lots.go
			return err
		}
	}
	return nil
}

// validOrigin reports whether s is 1..MaxOriginLen of [A-Za-z0-9_.].
func validOrigin(s string) bool {
	if len(s) == 0 || len(s) > MaxOriginLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// validEventID reports whether s is 1..MaxEventIDLen bytes of valid UTF-8
// without control characters (ids are parts of keys joined by 0x00).
func validEventID(s string) bool {
	if len(s) == 0 || len(s) > MaxEventIDLen {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

func badEvent(format string, args ...any) error {
	return fmt.Errorf("engine: event: %s: %w", fmt.Sprintf(format, args...), ErrBadEvent)
}
