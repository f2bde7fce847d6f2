package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Erasure on request (GDPR art. 17; docs/erasure.md). HQ decides an
// erasure and emits one member.erased event; every node that applies it
// forgets the member's personal data and keeps the ledger under a
// pseudonym, and every event of the member that arrives later (a sale an
// offline store made before it heard of the erasure) lands on the
// pseudonym with its personal data redacted (RedactEvent).
//
// The event names the pseudonym (Event.Member, "anon-" and 32 hex digits
// HQ draws at random) and the erased member only by its subject, a hash
// of the member id (ErasureSubject): the event is kept and replicated
// for ever, so it must not carry the mobile number in clear. A node finds
// the member's data by the subject (it indexes its events by the subject
// of their member), and recognises a late event by hashing its member id.
// A mobile number is a small space, so the subject can be reversed by
// trying every number: it is a pseudonymous reference, not an anonymous
// one (docs/erasure.md weighs this).
//
// A pseudonymous member has no profile, consents, cards, groups or
// authenticator: its state folds the erasure register and the
// ledger-side registers (tier, expiry, greeting year) only (applyErased),
// whatever events reach it, so a late enrolment or profile change can
// never bring personal data back. A mobile enrolled again after an erasure starts a
// new member with a new id (NextMemberLife): the old id stays erased for
// ever, so events of the old member that are still on their way can
// never be confused with the new one's.

// EventMemberErased erases a member. Event.Member is the pseudonym; the
// payload is Event.Erasure.
const EventMemberErased EventKind = "member.erased"

// Pseudonym format: PseudonymPrefix and pseudonymHexLen lower-case hex
// digits (128 random bits: two erasures never draw the same one).
const (
	PseudonymPrefix  = "anon-"
	pseudonymHexLen  = 32
	PseudonymRandLen = pseudonymHexLen / 2 // bytes NewPseudonym takes
	// memberLifeSep separates a mobile number from the number of its
	// life in the id of a member enrolled again after an erasure
	// ("+919800000001~2"). '~' never appears in an E.164 number.
	memberLifeSep = "~"
)

// erasureDomain separates the subject hash from any other use of SHA-256
// over a member id.
const erasureDomain = "patron member erasure subject v1\x00"

// Erasure is a member.erased payload.
type Erasure struct {
	// Subject is ErasureSubject of the erased member's id.
	Subject string `json:"subject"`
}

// ErasedState is the erasure register of a pseudonymous member: the
// earliest erasure that named it.
type ErasedState struct {
	At    time.Time `json:"at"`
	Store string    `json:"store"`
	Stamp Stamp     `json:"stamp"`
}

// ErasureSubject is the subject of member id: lower-case hex of SHA-256
// over a domain string and the id.
func ErasureSubject(id string) string {
	k := ErasureSubjectKey(id)
	return hex.EncodeToString(k[:])
}

// ErasureSubjectKey is ErasureSubject as bytes.
func ErasureSubjectKey(id string) [sha256.Size]byte {
	return sha256.Sum256([]byte(erasureDomain + id))
}

// NewPseudonym returns the pseudonym made of random, which must be
// PseudonymRandLen bytes from a cryptographic source (the caller's: the
// engine reads no randomness).
func NewPseudonym(random []byte) (string, bool) {
	if len(random) != PseudonymRandLen {
		return "", false
	}
	return PseudonymPrefix + hex.EncodeToString(random), true
}

// IsPseudonym reports whether id is a pseudonym: "anon-" and 32
// lower-case hex digits. No till-made member id is one (those are E.164
// numbers).
func IsPseudonym(id string) bool {
	rest, ok := strings.CutPrefix(id, PseudonymPrefix)
	return ok && isLowerHex(rest, pseudonymHexLen)
}

// MemberMobile returns the mobile number of member id: the id itself, or
// for a member enrolled again after an erasure ("+919800000001~2") the
// part before the life number.
func MemberMobile(id string) string {
	mobile, _, _ := strings.Cut(id, memberLifeSep)
	return mobile
}

// NextMemberLife returns the id a mobile enrolled again after the member
// id was erased gets: "<mobile>~2" after "<mobile>", "<mobile>~3" after
// "<mobile>~2", and so on.
func NextMemberLife(id string) string {
	mobile, life, found := strings.Cut(id, memberLifeSep)
	n := 1
	if found {
		if v, err := strconv.Atoi(life); err == nil && v > 1 {
			n = v
		}
	}
	return mobile + memberLifeSep + strconv.Itoa(n+1)
}

// checkErasure checks a member.erased event.
func checkErasure(ev Event) error {
	if !IsPseudonym(ev.Member) {
		return badEvent("an erasure names its pseudonym as the member, %q is not one", ev.Member)
	}
	if !isLowerHex(ev.Erasure.Subject, 2*sha256.Size) {
		return badEvent("erasure subject must be %d lower-case hex digits", 2*sha256.Size)
	}
	if ev.Erasure.Subject == ErasureSubject(ev.Member) {
		return badEvent("an erasure cannot erase its own pseudonym")
	}
	return nil
}

// RedactEvent returns ev as a node keeps it once the member it names is
// erased: it names the pseudonym, and every value that describes the
// person is gone. What the ledger, the card maintenance log and the
// audit need stays: kind, identity, times, store, terminal, ledger
// entries, receipts, card types and block reasons. Dropped: profile
// values (the field names stay, set to ""), consents (set to false),
// enrolment groups, authenticator keys (a removal instead); card numbers
// keep their last four characters (MaskCardNumber). An erasure event is
// returned as it is. RedactEvent is idempotent, and redacting an event
// already redacted for another pseudonym equals redacting the original:
// every node keeps the same bytes whatever order it learned things in.
// ev is not modified.
func RedactEvent(ev Event, pseudonym string) Event {
	if ev.Kind == EventMemberErased || ev.Member == "" {
		return ev
	}
	ev.Member = pseudonym
	switch {
	case ev.Enrolment != nil:
		cards := make([]CardChange, 0, len(ev.Enrolment.Cards))
		for _, c := range ev.Enrolment.Cards {
			cards = append(cards, redactCard(c))
		}
		ev.Enrolment = &Enrolment{Profile: map[string]string{}, Consents: map[string]bool{}, Cards: cards, Groups: []string{}}
	case ev.Profile != nil:
		p := make(map[string]string, len(ev.Profile))
		for k := range ev.Profile {
			p[k] = ""
		}
		ev.Profile = p
	case ev.Consents != nil:
		c := make(map[string]bool, len(ev.Consents))
		for k := range ev.Consents {
			c[k] = false
		}
		ev.Consents = c
	case ev.Card != nil:
		c := redactCard(*ev.Card)
		ev.Card = &c
	case ev.Authenticator != nil:
		ev.Authenticator = &AuthenticatorChange{Action: AuthenticatorRemoved}
	case ev.GroupChange != nil:
		ev.GroupChange = &GroupChange{Add: append([]string{}, ev.GroupChange.Add...),
			Remove: append([]string{}, ev.GroupChange.Remove...)}
	}
	return ev
}

// redactCard masks a card change's number.
func redactCard(c CardChange) CardChange {
	c.Number = MaskCardNumber(c.Number)
	return c
}

// MaskCardNumber keeps a card number's last four characters and replaces
// the others with '*' ("******7890"); a number of four characters or
// fewer becomes "****". Masking a masked number changes nothing.
func MaskCardNumber(number string) string {
	r := []rune(number)
	if len(r) <= 4 {
		return "****"
	}
	return strings.Repeat("*", len(r)-4) + string(r[len(r)-4:])
}

// applyErased folds what is particular to a pseudonymous member: the
// erasure register (the earliest erasure that named it), and nothing of
// the kinds that describe a person (profile, consents, cards, groups,
// authenticator), so a redacted or late event never brings personal data
// back. handled is false for the other kinds (the ledger-side registers:
// tier, expiry, greetings), which fold as for any member, and for every
// event of a member that is not a pseudonym.
func (s *MemberState) applyErased(ev Event, st Stamp) (handled, changed bool) {
	if !IsPseudonym(s.ID) {
		return false, false
	}
	switch ev.Kind {
	case EventMemberErased:
		if s.Erased != nil && s.Erased.Stamp.Compare(st) <= 0 {
			return true, false
		}
		s.Erased = &ErasedState{At: ev.At, Store: ev.Store, Stamp: st}
		return true, true
	case EventMemberEnrolled, EventMemberUpdated, EventMemberConsents, EventCardIssued, EventCardBlocked,
		EventCardUnblocked, EventMemberAuthenticator, EventMemberGroups:
		return true, false
	}
	return false, false
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
