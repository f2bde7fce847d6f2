package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Chain formats. A chain upgrades one node at a time (HQ first, then the
// stores), so for a while nodes of the previous build read what new nodes
// write. The previous build's event decoder is strict — an unknown kind,
// an unknown field or an unknown profile field is a malformed event, and
// a store that cannot apply an event stops syncing at it. So a node writes
// only events its chain's format allows: format 1 is everything the first
// released build reads; format 2 adds this build's kinds and fields. A
// chain moves to format 2 when an operator finalizes the upgrade at HQ
// (after every node runs a build that reads format 2), which emits a
// chain.format event; nodes apply it and from then on write format 2.
const (
	ChainFormat1 = 1
	// CurrentChainFormat is the newest format this build reads and writes.
	CurrentChainFormat = 2
)

// EventChainFormat raises the chain's format: HQ emits it when an
// operator finalizes an upgrade.
const EventChainFormat EventKind = "chain.format"

// ChainFormatChange is the payload of chain.format.
type ChainFormatChange struct {
	Version int `json:"version"`
}

// format1Kinds are the kinds the first released build decodes.
var format1Kinds = []EventKind{EventMemberEnrolled, EventMemberUpdated, EventMemberConsents,
	EventCardIssued, EventCardBlocked, EventCardUnblocked, EventSaleCompleted, EventSaleReturned,
	EventProgrammeLoaded}

// format1Profile are the profile fields the first released build accepts.
var format1Profile = []string{FieldFirstName, FieldLastName, FieldEmail, FieldCountry, FieldBirthday, FieldAnniversary}

// format1Keys are the JSON keys the first released build's event decoder
// accepts, by path in the event ("" the envelope, "[]" a list element).
// They were generated from that build's types (wireEvent and its payloads)
// and are frozen here: TestFormat1KeysStillDecode checks this build still
// has every one of them.
var format1Keys = map[string][]string{
	"":                                     {"at", "card", "consents", "enrolment", "hlc", "kind", "member", "origin", "profile", "programme", "return", "sale", "seq", "store", "terminal", "v"},
	".card":                                {"number", "reason", "type"},
	".enrolment":                           {"cards", "consents", "groups", "profile"},
	".enrolment.cards[]":                   {"number", "reason", "type"},
	".hlc":                                 {"logical", "wall"},
	".programme":                           {"document", "version"},
	".return":                              {"coupons_released", "day", "entries", "fingerprint", "receipt_id", "result", "return_id", "return_no", "spend"},
	".return.entries[]":                    {"at", "id", "kind", "offline", "points", "ref", "store"},
	".return.result":                       {"clawed_back", "complete", "lines", "money", "refunded"},
	".return.result.lines[]":               {"bonus_points", "earn", "line", "money", "points_share", "qty", "qty_milli"},
	".sale":                                {"day", "entries", "evaluation", "fingerprint", "hold_id", "offline", "programme_version", "receipt_id", "receipt_no", "spend", "terminal"},
	".sale.entries[]":                      {"at", "id", "kind", "offline", "points", "ref", "store"},
	".sale.evaluation":                     {"applied", "bill_discounts", "bonus_points", "cashback_points", "choices", "coupons_used", "free_items", "lines", "points", "programme_version", "tier", "totals"},
	".sale.evaluation.bill_discounts[]":    {"amount", "campaign"},
	".sale.evaluation.choices[]":           {"campaign", "group", "qty", "skus"},
	".sale.evaluation.free_items[]":        {"campaign", "qty", "sku"},
	".sale.evaluation.lines[]":             {"bonus_points", "category", "discounts", "earn", "gross", "line", "net", "paid", "points_share", "qty", "qty_milli", "sku"},
	".sale.evaluation.lines[].discounts[]": {"amount", "campaign"},
	".sale.evaluation.points":              {"earn", "max_redeem_points", "redeem", "redeemable"},
	".sale.evaluation.totals":              {"discount", "gross", "net"},
}

// Format1Kind reports whether the first released build decodes kind.
func Format1Kind(kind EventKind) bool { return slices.Contains(format1Kinds, kind) }

// EventFormat returns the oldest chain format whose nodes can decode ev:
// ChainFormat1 when its kind, every JSON key of its encoding and every
// profile field are ones the first released build reads, else
// CurrentChainFormat. An event that does not encode needs the current
// format (EncodeEvent reports why).
func EventFormat(ev Event) int {
	if !slices.Contains(format1Kinds, ev.Kind) {
		return CurrentChainFormat
	}
	for _, p := range []map[string]string{ev.Profile, enrolmentProfile(ev.Enrolment)} {
		for field := range p {
			if !slices.Contains(format1Profile, field) {
				return CurrentChainFormat
			}
		}
	}
	data, err := EncodeEvent(ev)
	if err != nil {
		return CurrentChainFormat
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return CurrentChainFormat
	}
	if format1JSON(v, "") != nil {
		return CurrentChainFormat
	}
	return ChainFormat1
}

func enrolmentProfile(e *Enrolment) map[string]string {
	if e == nil {
		return nil
	}
	return e.Profile
}

// format1JSON reports the first key of v, at path, that format 1 lacks.
func format1JSON(v any, path string) error {
	switch x := v.(type) {
	case map[string]any:
		keys, schema := format1Keys[path]
		if !schema {
			return nil // a map of data (profile, consents): keys are values
		}
		for k, child := range x {
			if !slices.Contains(keys, k) {
				return fmt.Errorf("engine: %s.%s is not in chain format 1", strings.TrimPrefix(path, "."), k)
			}
			if err := format1JSON(child, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range x {
			if err := format1JSON(child, path+"[]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// ProgrammeFormat returns the oldest chain format whose nodes can parse
// p's document: the first build's programme decoder is strict too, and
// refuses the sections added since (earn's lot settings, personal_offers;
// docs/programme-extensions.md). A programme.loaded event carries the
// document, so EventFormat cannot see inside it; loaders check this.
func ProgrammeFormat(p *Programme) int {
	e := p.Earn
	if p.PersonalOffers != nil || e.ExpireAfterDays != 0 || e.PendingDays != 0 || e.ExpiryWarningDays != nil ||
		!format1Messages(p.Messages) {
		return CurrentChainFormat
	}
	return ChainFormat1
}

// format1MessageKinds are the message kinds the first build's programme
// validator knows.
var format1MessageKinds = []string{MessageOTP, MessagePointsEarned, MessagePointsRedeemed, MessageBirthday,
	MessageAnniversary, MessagePointsExpiring, MessageTierChanged}

// format1MessageData is the first build's MessageData: its validator
// renders every template with it, so a template using a field added
// since ({{.ExpiresOn}}) is refused there.
type format1MessageData struct {
	Points    Points
	Balance   Points
	Code      string
	Minutes   int
	FirstName string
	Tier      string
}

// format1Messages reports whether the first build's validator accepts m:
// known kinds, templates that render with its MessageData (the language
// tags and limits it checks have not changed).
func format1Messages(m *Messages) bool {
	if m == nil {
		return true
	}
	for kind, byLang := range m.Templates {
		if !slices.Contains(format1MessageKinds, kind) {
			return false
		}
		for lang, src := range byLang {
			t, err := parseMessageTemplate(kind+"."+lang, src)
			if err != nil || t.Execute(&strings.Builder{}, format1MessageData{}) != nil {
				return false
			}
		}
	}
	return true
}

// ErrChainFormat refuses to write an event the chain's format does not
// allow yet (see EventFormat).
var ErrChainFormat = fmt.Errorf("engine: the chain has not been upgraded to format %d yet", CurrentChainFormat)
