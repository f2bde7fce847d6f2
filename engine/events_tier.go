package engine

import "time"

// Tier changes. The tier itself is always computed from the spend window
// (Programme.TierFor); what an event records is that the member was told
// of a move: the node that first sees a member's computed tier differ
// from the recorded one — a store completing a sale or a return, or the
// HQ leader's daily review — appends tier.changed, and the fold keeps the
// latest one per member as a last-writer-wins register (by Stamp). Two
// stores that both see the same move while they cannot see each other
// append two events that say the same thing; every node keeps the later,
// so they converge (docs/tiers-and-greetings.md).

// EventTierChanged records a move of a member's tier. Its payload is
// Event.Tier.
const EventTierChanged EventKind = "tier.changed"

// Why a tier changed: the sale or return that crossed a threshold, or the
// HQ review that found the spend window had moved.
const (
	TierReasonSale   = "sale"
	TierReasonReturn = "return"
	TierReasonReview = "review"
)

// TierChanged is a tier.changed payload.
type TierChanged struct {
	From   string `json:"from"` // the recorded tier before ("" for none)
	To     string `json:"to"`   // the computed tier now ("" for none)
	Reason string `json:"reason"`
	// Ref names what crossed the threshold: a receipt id (sale), a
	// return id (return); empty for a review.
	Ref string `json:"ref,omitempty"`
	// Spend is the money in the tier window that decided it.
	Spend Money `json:"spend"`
}

// TierState is a member's recorded tier: the last tier.changed by Stamp.
type TierState struct {
	Name   string    `json:"name"`
	From   string    `json:"from"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Stamp  Stamp     `json:"stamp"`
}

// checkTierChanged checks a tier.changed payload.
func checkTierChanged(t *TierChanged) error {
	switch t.Reason {
	case TierReasonSale, TierReasonReturn, TierReasonReview:
	default:
		return badEvent("tier change reason %q is not sale, return or review", t.Reason)
	}
	if t.From == t.To {
		return badEvent("a tier change must change the tier")
	}
	for _, s := range []string{t.From, t.To, t.Ref} {
		if s != "" && !validEventID(s) {
			return badEvent("tier names and ref must be 1 to %d printable characters", MaxEventIDLen)
		}
	}
	return nil
}

// setTier folds a tier.changed event: the later stamp wins.
func (s *MemberState) setTier(ev Event, st Stamp) bool {
	if s.Tier != nil && s.Tier.Stamp.Compare(st) >= 0 {
		return false
	}
	t := ev.Tier
	s.Tier = &TierState{Name: t.To, From: t.From, Reason: t.Reason, At: ev.At, Stamp: st}
	return true
}

// RecordedTier is the tier the member was last told of: the latest
// tier.changed, or, for a member that never had one, the tier of no
// spend at all (the programme's base tier, "" without one). The base
// tier as the starting point keeps a new member's first small sale
// quiet and makes the first crossing of a threshold an event.
func (s *MemberState) RecordedTier(p *Programme) string {
	if s.Tier != nil {
		return s.Tier.Name
	}
	return p.TierFor(0)
}

// TierChangeFor compares the member's recorded tier with the tier that
// spend (the money in the tier window, as of the moment that matters)
// gives, and returns the change to record, or nil when they agree.
// Reason and ref are the caller's (what found it).
func TierChangeFor(p *Programme, s *MemberState, spend Money, reason, ref string) *TierChanged {
	from, to := s.RecordedTier(p), p.TierFor(spend)
	if from == to {
		return nil
	}
	return &TierChanged{From: from, To: to, Reason: reason, Ref: ref, Spend: spend}
}

// TierRises reports whether the move from → to is up: to's min_spend is
// above from's. A tier the programme no longer lists (or "") ranks below
// every listed one.
func (p *Programme) TierRises(from, to string) bool {
	return p.tierRank(to) > p.tierRank(from)
}

// tierRank is a tier's min_spend, or -1 for "" or an unknown tier.
func (p *Programme) tierRank(name string) Money {
	if name == "" {
		return -1
	}
	for _, t := range p.Tiers {
		if t.Name == name {
			return t.MinSpend
		}
	}
	return -1
}
