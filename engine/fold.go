package engine

import (
	"slices"
	"time"
)

// The fold turns the events of a member into its state, in any order: a
// node's state depends only on the set of events it holds, never on the
// order they arrived in. Profile fields, consents and card status are
// last-writer-wins registers ordered by Stamp; cards and groups only
// grow; the enrolment time is the earliest; ledger entries are a set
// keyed by entry id whose sum is the balance; spend is a sum per day.

// StringRegister is a last-writer-wins string.
type StringRegister struct {
	Value string `json:"value"`
	Stamp Stamp  `json:"stamp"`
}

// BoolRegister is a last-writer-wins bool.
type BoolRegister struct {
	Value bool  `json:"value"`
	Stamp Stamp `json:"stamp"`
}

// CardState is one card of a member: an issue register (type, time) and
// a status register (active or blocked, with the reason), each
// last-writer-wins. A card whose Issued stamp is zero was blocked or
// unblocked by an event that arrived before its issue: it is not held
// yet.
type CardState struct {
	Number      string    `json:"number"`
	Type        string    `json:"type"`
	IssuedAt    time.Time `json:"issued_at"`
	Issued      Stamp     `json:"issued"`
	Status      string    `json:"status"`
	BlockReason string    `json:"block_reason,omitempty"`
	StatusAt    time.Time `json:"status_at"`
	StatusStamp Stamp     `json:"status_stamp"`
}

// Held reports whether the card has been issued.
func (c CardState) Held() bool { return c.Issued != Stamp{} }

// MemberState is the register part of a member: everything but the
// ledger. Create it with NewMemberState so its JSON form is canonical
// (empty maps, never null), then Apply events in any order.
type MemberState struct {
	ID string `json:"id"`
	// Enrolled is false while only events that follow an enrolment (a
	// sale, a consent change) have arrived: the member is not shown yet.
	Enrolled   bool                      `json:"enrolled"`
	EnrolledAt time.Time                 `json:"enrolled_at"` // earliest enrolment
	Profile    map[string]StringRegister `json:"profile"`
	Consents   map[string]BoolRegister   `json:"consents"`
	Cards      map[string]CardState      `json:"cards"`
	Groups     []string                  `json:"groups"` // sorted set
	// Authenticator is the TOTP register (events_authenticator.go); nil
	// until one is enrolled.
	Authenticator *AuthenticatorState `json:"authenticator,omitempty"`
	// Tier is the recorded tier (events_tier.go); nil until a
	// tier.changed. Greeted is the year last greeted per greeting kind
	// (events_greeting.go).
	Tier    *TierState     `json:"tier,omitempty"`
	Greeted map[string]int `json:"greeted,omitempty"`
	// Expiry is HQ's points expiry register (events_expiry.go); nil
	// until a points.expired or points.expiry_warned.
	Expiry *ExpiryState `json:"expiry,omitempty"`
	// GroupRegs are the (member, group) registers behind Groups
	// (events_groups.go); Erased is a pseudonym's erasure register
	// (events_erasure.go).
	GroupRegs map[string]BoolRegister `json:"group_regs,omitempty"`
	Erased    *ErasedState            `json:"erased,omitempty"`
}

// NewMemberState returns the empty state of member id.
func NewMemberState(id string) *MemberState {
	return &MemberState{ID: id, Profile: map[string]StringRegister{}, Consents: map[string]BoolRegister{},
		Cards: map[string]CardState{}, Groups: []string{}}
}

// Field returns a profile field's value ("" when never set).
func (s *MemberState) Field(name string) string { return s.Profile[name].Value }

// ConsentValues returns the consents as given.
func (s *MemberState) ConsentValues() map[string]bool {
	out := make(map[string]bool, len(s.Consents))
	for k, r := range s.Consents {
		out[k] = r.Value
	}
	return out
}

// HeldCards returns the issued cards, oldest issue first (ties by number).
func (s *MemberState) HeldCards() []CardState {
	out := make([]CardState, 0, len(s.Cards))
	for _, c := range s.Cards {
		if c.Held() {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b CardState) int {
		if c := a.Issued.Compare(b.Issued); c != 0 {
			return c
		}
		return compareStrings(a.Number, b.Number)
	})
	return out
}

// Apply folds ev into the state if it concerns this member and reports
// whether a register, card, group or the enrolment changed. Applying an
// event again changes nothing. Sales and returns change only the ledger
// (EventEntries, EventSpend), not this state.
func (s *MemberState) Apply(ev Event) bool {
	if ev.Member != s.ID {
		return false
	}
	st := ev.Stamp()
	if handled, changed := s.applyErased(ev, st); handled {
		return changed // events_erasure.go: an erased member folds nothing personal
	}
	switch ev.Kind {
	case EventMemberEnrolled:
		return s.enrol(ev, st)
	case EventMemberUpdated:
		changed := false
		for _, k := range sortedKeys(ev.Profile) {
			changed = s.setField(k, ev.Profile[k], st) || changed
		}
		return changed
	case EventMemberConsents:
		return s.setConsents(ev.Consents, st)
	case EventCardIssued:
		return s.issueCard(*ev.Card, ev.At, st)
	case EventCardBlocked:
		return s.setCardStatus(ev.Card.Number, CardBlocked, ev.Card.Reason, ev.At, st)
	case EventCardUnblocked:
		return s.setCardStatus(ev.Card.Number, CardActive, "", ev.At, st)
	case EventMemberAuthenticator:
		return s.setAuthenticator(ev, st)
	case EventTierChanged:
		return s.setTier(ev, st)
	case EventMemberGreeted:
		return s.setGreeted(*ev.Greeting)
	case EventPointsExpired, EventPointsExpiryWarned:
		return s.setExpiry(ev)
	case EventMemberGroups:
		return s.applyGroupChange(ev.GroupChange, st)
	}
	return false
}

func (s *MemberState) enrol(ev Event, st Stamp) bool {
	changed := false
	if !s.Enrolled || ev.At.Before(s.EnrolledAt) {
		s.Enrolled, s.EnrolledAt, changed = true, ev.At, true
	}
	e := ev.Enrolment
	for _, k := range sortedKeys(e.Profile) {
		changed = s.setField(k, e.Profile[k], st) || changed
	}
	changed = s.setConsents(e.Consents, st) || changed
	for _, c := range e.Cards {
		changed = s.issueCard(c, ev.At, st) || changed
	}
	for _, g := range e.Groups {
		changed = s.setGroup(g, true, st) || changed // events_groups.go
	}
	return changed
}

func (s *MemberState) setField(name, value string, st Stamp) bool {
	if old, ok := s.Profile[name]; ok && old.Stamp.Compare(st) >= 0 {
		return false
	}
	s.Profile[name] = StringRegister{Value: value, Stamp: st}
	return true
}

func (s *MemberState) setConsents(set map[string]bool, st Stamp) bool {
	changed := false
	for k, v := range set {
		if old, ok := s.Consents[k]; ok && old.Stamp.Compare(st) >= 0 {
			continue
		}
		s.Consents[k] = BoolRegister{Value: v, Stamp: st}
		changed = true
	}
	return changed
}

// issueCard writes the issue register and sets the status active.
func (s *MemberState) issueCard(c CardChange, at time.Time, st Stamp) bool {
	cs := s.Cards[c.Number]
	cs.Number = c.Number
	changed := false
	if cs.Issued.Compare(st) < 0 {
		cs.Type, cs.IssuedAt, cs.Issued, changed = c.Type, at, st, true
	}
	if cs.StatusStamp.Compare(st) < 0 {
		cs.Status, cs.BlockReason, cs.StatusAt, cs.StatusStamp, changed = CardActive, "", at, st, true
	}
	if changed {
		s.Cards[c.Number] = cs
	}
	return changed
}

func (s *MemberState) setCardStatus(number, status, reason string, at time.Time, st Stamp) bool {
	cs := s.Cards[number]
	if cs.StatusStamp.Compare(st) >= 0 {
		return false
	}
	cs.Number, cs.Status, cs.BlockReason, cs.StatusAt, cs.StatusStamp = number, status, reason, at, st
	s.Cards[number] = cs
	return true
}

// EventEntries returns the ledger entries an event posts (sales and
// returns), or nil.
func EventEntries(ev Event) []Entry {
	switch {
	case ev.Sale != nil:
		return ev.Sale.Entries
	case ev.Return != nil:
		return ev.Return.Entries
	}
	return nil
}

// EventSpend returns the change an event makes to its member's spend and
// the day it falls on; ok is false when it makes none.
func EventSpend(ev Event) (day int64, delta Money, ok bool) {
	switch {
	case ev.Sale != nil && ev.Member != "" && ev.Sale.Spend != 0:
		return ev.Sale.Day, ev.Sale.Spend, true
	case ev.Return != nil && ev.Member != "" && ev.Return.Spend != 0:
		return ev.Return.Day, ev.Return.Spend, true
	}
	return 0, 0, false
}

// MemberFold is the whole fold of one member — registers, ledger and
// spend — kept in memory. It is the reference the node's stored fold is
// checked against, and the model of ARCHITECTURE.md's convergence rules.
type MemberFold struct {
	State   *MemberState
	Entries map[string]Entry // by entry id; a duplicate id is a no-op
	Spend   map[int64]Money  // by day
	seen    map[EventID]bool
}

// NewMemberFold returns the empty fold of member id.
func NewMemberFold(id string) *MemberFold {
	return &MemberFold{State: NewMemberState(id), Entries: map[string]Entry{}, Spend: map[int64]Money{},
		seen: map[EventID]bool{}}
}

// Apply folds ev in; an event already folded (by identity) is a no-op,
// and so is an event of another member.
func (f *MemberFold) Apply(ev Event) {
	if ev.Member != f.State.ID || f.seen[ev.ID()] {
		return
	}
	f.seen[ev.ID()] = true
	f.State.Apply(ev)
	for _, e := range EventEntries(ev) {
		if _, dup := f.Entries[e.ID]; !dup {
			f.Entries[e.ID] = e
		}
	}
	if day, delta, ok := EventSpend(ev); ok {
		f.Spend[day] += delta
		if f.Spend[day] == 0 {
			delete(f.Spend, day)
		}
	}
}

// Balance is the sum of the ledger entries, expiries included.
func (f *MemberFold) Balance() Points {
	var sum Points
	for _, e := range f.Ledger() {
		sum += e.Points
	}
	return sum
}

// Ledger returns the entries in ledger order: by time, ties by entry id;
// with the expiries the lots derive (Expiries).
func (f *MemberFold) Ledger() []Entry {
	out := make([]Entry, 0, len(f.Entries))
	for _, e := range f.Entries {
		out = append(out, e)
	}
	out = append(out, f.Expiries()...) // events_expiry.go
	slices.SortFunc(out, CompareEntries)
	return out
}

// CompareEntries orders ledger entries by time, ties by entry id: the
// order a ledger is listed in on every node, whatever the arrival order.
func CompareEntries(a, b Entry) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return compareStrings(a.ID, b.ID)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
