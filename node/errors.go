package node

import (
	"errors"
	"fmt"

	"github.com/patron/patron/engine"
)

// Sentinel errors. Business refusals are not errors of this kind: they are
// *engine.Refusal values carrying a protocol reason (see the Reason
// constants).
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("node: closed")
	// ErrNoProgramme is returned by methods that need a programme before
	// one has been loaded.
	ErrNoProgramme = errors.New("node: no programme loaded")
	// ErrProgrammeConflict is returned by LoadProgramme when a programme of
	// the same version but different content is already stored: a version
	// names one edition, so it must never change meaning.
	ErrProgrammeConflict = errors.New("node: programme version already loaded with different content")
	// ErrBadTerminal is returned for a terminal id that is not 1 to
	// MaxTerminalIDLen letters, digits, '_' or '.', or a token shorter than
	// MinTerminalTokenLen.
	ErrBadTerminal = errors.New("node: bad terminal id or token")
	// ErrCorrupt is returned when a stored record cannot be decoded.
	ErrCorrupt = errors.New("node: corrupt record")
	// ErrTooManyEvents refuses an ApplyEvents batch of more than
	// MaxApplyEvents events.
	// It wraps engine.ErrBadEvent: every replica refuses such a batch alike,
	// so the HQ FSM treats it as a refusal, not a store failure.
	ErrTooManyEvents = fmt.Errorf("node: too many events in one batch: %w", engine.ErrBadEvent)
	// ErrBadHold refuses a hold without an id, member or positive points.
	// It wraps engine.ErrBadEvent for the same reason as ErrTooManyEvents.
	ErrBadHold = fmt.Errorf("node: malformed hold: %w", engine.ErrBadEvent)
	// ErrSchemaVersion is matched (errors.Is) by a *SchemaVersionError.
	ErrSchemaVersion = errors.New("node: unsupported data file schema version")
	// ErrLocked is returned when another process (a running node) holds
	// the data file's lock for longer than OpenTimeout.
	ErrLocked = errors.New("node: data file locked by another process (is a node running on it?)")
)

// SchemaVersionError reports a data file written by another build: a
// newer one, or an older one this build cannot migrate.
type SchemaVersionError struct {
	Found     uint32 // version in the file
	Supported uint32 // highest version this build reads
}

func (e *SchemaVersionError) Error() string {
	if e.Found < e.Supported {
		return fmt.Sprintf("node: data file schema version %d is older than this build (%d) and cannot be migrated; start from a fresh data file", e.Found, e.Supported)
	}
	return fmt.Sprintf("node: data file schema version %d is newer than this build reads (%d): run a newer patron on it (an older build never downgrades a file)", e.Found, e.Supported)
}

// Is makes errors.Is(err, ErrSchemaVersion) true.
func (e *SchemaVersionError) Is(target error) bool { return target == ErrSchemaVersion }

// The refusal reasons of pos-protocol-v1.md that the node produces (the
// engine produces invalid_params and insufficient_points itself too).
const (
	ReasonInvalidParams     = engine.ReasonInvalidParams
	ReasonMemberNotFound    = "member_not_found"
	ReasonMemberExists      = "member_exists"
	ReasonCardBlocked       = "card_blocked"
	ReasonOTPRequired       = "otp_required"
	ReasonOTPInvalid        = "otp_invalid"
	ReasonOTPExpired        = "otp_expired"
	ReasonOTPLocked         = "otp_locked"
	ReasonCouponInvalid     = "coupon_invalid"
	ReasonCouponUsed        = "coupon_used"
	ReasonCouponExpired     = "coupon_expired"
	ReasonReceiptConflict   = "receipt_conflict"
	ReasonEvaluationChanged = "evaluation_changed"
	ReasonNotFound          = "not_found"
	ReasonUnavailable       = "unavailable"
	ReasonOfflineLimit      = "offline_limit"
	// ReasonOTPRateLimited is an additive extension of the protocol: more
	// than OTPMaxSends OTPs were asked for one member within OTPSendWindow.
	// data.retry_at says when the next one may be sent. It is not
	// "unavailable" because an automatic retry would be refused again.
	ReasonOTPRateLimited = "otp_rate_limited"
)

// refuse builds a refusal. details alternate key, value.
func refuse(reason, msg string, details ...any) *engine.Refusal {
	r := &engine.Refusal{Reason: reason, Message: msg}
	for i := 0; i+1 < len(details); i += 2 {
		if r.Details == nil {
			r.Details = make(map[string]any)
		}
		r.Details[details[i].(string)] = details[i+1]
	}
	return r
}

// invalid is an invalid_params refusal naming field.
func invalid(field, msg string) *engine.Refusal {
	return &engine.Refusal{Reason: ReasonInvalidParams, Message: msg, Field: field}
}

// asRefusal reports whether err is a business refusal.
func asRefusal(err error) (*engine.Refusal, bool) {
	var r *engine.Refusal
	if errors.As(err, &r) {
		return r, true
	}
	return nil, false
}
