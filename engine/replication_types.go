package engine

import (
	"errors"
	"strings"
	"time"
)

// These types are shared by the node (which stores events and holds) and
// replication (which carries them): both import the engine and neither
// imports the other.

// RawEvent is one event as replication carries it: its identity and its
// encoded form (EncodeEvent), which replication never decodes.
type RawEvent struct {
	Origin string
	Seq    uint64
	Data   []byte
}

// VersionVector maps an origin to the highest sequence number held of it
// with no gap below.
type VersionVector map[string]uint64

// Errors of applying replicated events.
var (
	// ErrEventGap refuses an event that would be applied before an
	// earlier event of its origin: (o, n+1) never before (o, n).
	ErrEventGap = errors.New("engine: event sequence gap")
	// ErrBadEvent refuses an event that does not decode or whose identity
	// does not match its envelope.
	ErrBadEvent = errors.New("engine: malformed event")
	// ErrEventConflict refuses an event whose (origin, seq) a node already
	// holds with different content: the origin's identity was reused (a
	// data file copied or restored without a new incarnation). Events are
	// immutable, so this is never a retry; applying either silently would
	// lose the other. Errors wrapping it also wrap ErrBadEvent, so HQ's
	// FSM refuses the entry deterministically.
	ErrEventConflict = errors.New("engine: event identity reused with different content")
	// ErrHQUnreachable is what a store's hold authority returns when HQ
	// cannot be reached in time: the store then applies the programme's
	// offline redemption rules.
	ErrHQUnreachable = errors.New("engine: HQ unreachable")
)

// Hold asks HQ to reserve points for a redemption about to complete at a
// store. A redeem ledger entry that names the hold (its event carries the
// hold id) posts it when HQ applies that event.
type Hold struct {
	ID     string    `json:"id"`     // client-chosen, unique: "<store>-<terminal>-<receipt_no>"
	Store  string    `json:"store"`  // the store asking
	Member string    `json:"member"` // member id
	Points Points    `json:"points"` // points to reserve, > 0
	At     time.Time `json:"at"`     // when the leader proposed it (deterministic in the FSM)
}

// HoldDecision is HQ's answer to a Hold.
type HoldDecision struct {
	Granted bool `json:"granted"`
	// Available is the member's balance less pending holds (before this
	// hold) when it was decided: what a refused till may redeem instead.
	Available Points     `json:"available"`
	Status    HoldStatus `json:"status"`
}

// HoldStatus is where a hold is in its life.
type HoldStatus string

// The hold statuses.
const (
	HoldPending HoldStatus = "pending"
	HoldPosted  HoldStatus = "posted"
	HoldVoided  HoldStatus = "voided"
	HoldExpired HoldStatus = "expired"
	HoldRefused HoldStatus = "refused"
)

// IncarnationDigits is the length of the incarnation number in a store's
// origin, "S001.482913057" (see node/incarnation.go for why stores have
// incarnations).
const IncarnationDigits = 9

// OriginStore returns the store an origin belongs to: the origin itself,
// or, for an incarnated origin "S001.482913057" (the store id, '.', and
// IncarnationDigits digits), "S001". HQ admits a store's sessions and
// events by it.
func OriginStore(origin string) string {
	i := strings.LastIndexByte(origin, '.')
	if i <= 0 || len(origin)-i-1 != IncarnationDigits {
		return origin
	}
	for _, r := range origin[i+1:] {
		if r < '0' || r > '9' {
			return origin
		}
	}
	return origin[:i]
}
