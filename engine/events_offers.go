package engine

import (
	"strings"
	"time"
)

// The offers.issued event (docs/personal-offers.md). HQ's personal offers
// job emits one per member it offers something to; it names the member
// (Event.Member), so the member's events index, erasure and redaction
// treat it like any other event of the member (a redacted one keeps its
// codes: they say nothing about the person). Every node applying it
// stores each offer as a coupon of its campaign bound to the member, one
// use, valid to ValidTo; redeeming it is the coupon path.

// EventOffersIssued records personal offers issued to a member. Its
// payload is Event.Offers.
const EventOffersIssued EventKind = "offers.issued"

// OffersIssued is an offers.issued payload.
type OffersIssued struct {
	// Programme is the version whose personal_offers rules chose them.
	Programme string        `json:"programme"`
	Offers    []IssuedOffer `json:"offers"`
}

// IssuedOffer is one personal offer: a coupon code of Campaign valid to
// ValidTo (inclusive, programme zone). Value describes the discount as
// the campaign gave it at issue (DescribeReward) and For what the member
// bought that earned it ("category:books"); both are informational — the
// campaign in the current programme decides the discount.
type IssuedOffer struct {
	Code     string `json:"code"`
	Campaign string `json:"campaign"`
	ValidTo  string `json:"valid_to"`
	Value    string `json:"value,omitempty"`
	For      string `json:"for,omitempty"`
}

// checkOffersIssued checks an offers.issued payload: a programme version,
// 1 to MaxEventItems offers with distinct codes (no spaces or control
// characters), campaigns and dates.
func checkOffersIssued(ev Event) error {
	o := ev.Offers
	if !validEventID(o.Programme) {
		return badEvent("offers programme version must be 1 to %d printable characters", MaxEventIDLen)
	}
	if len(o.Offers) == 0 || len(o.Offers) > MaxEventItems {
		return badEvent("%d offers, want 1 to %d", len(o.Offers), MaxEventItems)
	}
	seen := make(map[string]bool, len(o.Offers))
	for _, x := range o.Offers {
		switch {
		case !validEventID(x.Code) || strings.ContainsFunc(x.Code, isSpaceOrControl):
			return badEvent("offer code %q must be 1 to %d characters without spaces", x.Code, MaxEventIDLen)
		case seen[x.Code]:
			return badEvent("offer code %q named twice", x.Code)
		case !validEventID(x.Campaign):
			return badEvent("offer campaign must be 1 to %d printable characters", MaxEventIDLen)
		case len(x.Value) > MaxEventIDLen || len(x.For) > MaxEventIDLen:
			return badEvent("offer value and basis must be at most %d bytes", MaxEventIDLen)
		}
		if d, err := time.Parse(time.DateOnly, x.ValidTo); err != nil || d.Format(time.DateOnly) != x.ValidTo {
			return badEvent("offer valid_to %q is not YYYY-MM-DD", x.ValidTo)
		}
		seen[x.Code] = true
	}
	return nil
}
