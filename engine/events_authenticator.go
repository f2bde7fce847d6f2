package engine

import "time"

// A member's authenticator: a TOTP key (RFC 6238) the member enrolled in
// an authenticator app at a till, so that a store can verify the member
// without SMS while it is offline. The key must reach every store (the
// member may redeem at another store while that one is offline), so it
// travels in a replicated event; docs/otp.md has the threat model.
//
// The register is last-writer-wins by Stamp, like a profile field: an
// enrolment (a new key) and a removal at two stores that could not see
// each other resolve to the later of the two on every node. The engine
// only carries and folds the key; checking a code needs the clock and is
// the node's business.

// EventMemberAuthenticator enrols or removes a member's authenticator.
// Its payload is Event.Authenticator.
const EventMemberAuthenticator EventKind = "member.authenticator"

// Authenticator actions.
const (
	AuthenticatorEnrolled = "enrolled"
	AuthenticatorRemoved  = "removed"
)

// TOTP parameters an authenticator may carry. Authenticator apps
// universally support HMAC-SHA-1, 6 digits and 30 s, which is what the
// node enrols; the others are accepted so that a later build can enrol
// them without a new event format.
const (
	TOTPSHA1   = "SHA1"
	TOTPSHA256 = "SHA256"
	TOTPSHA512 = "SHA512"
)

// Authenticator key and parameter bounds.
const (
	// MinAuthenticatorSecret is RFC 4226's minimum key length (128 bits);
	// the node draws 20 bytes (160 bits), its recommendation for SHA-1.
	MinAuthenticatorSecret = 16
	// MaxAuthenticatorSecret is a SHA-512 block: a longer HMAC key is
	// hashed first and gains nothing.
	MaxAuthenticatorSecret = 128
	// MinTOTPPeriod and MaxTOTPPeriod bound the time step in seconds.
	MinTOTPPeriod = 15
	MaxTOTPPeriod = 120
)

// AuthenticatorChange is a member.authenticator payload. An enrolment
// carries the key and its TOTP parameters; a removal carries none.
type AuthenticatorChange struct {
	Action    string `json:"action"`
	Secret    []byte `json:"secret,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Digits    int    `json:"digits,omitempty"`
	Period    int    `json:"period,omitempty"` // seconds
}

// AuthenticatorState is a member's authenticator register. After a
// removal it keeps no key (the events keep it: see docs/otp.md).
type AuthenticatorState struct {
	Active    bool      `json:"active"`
	Secret    []byte    `json:"secret,omitempty"`
	Algorithm string    `json:"algorithm,omitempty"`
	Digits    int       `json:"digits,omitempty"`
	Period    int       `json:"period,omitempty"`
	At        time.Time `json:"at"`    // when it was enrolled or removed
	Store     string    `json:"store"` // where
	Stamp     Stamp     `json:"stamp"`
}

// checkAuthenticatorChange checks a member.authenticator payload.
func checkAuthenticatorChange(a *AuthenticatorChange) error {
	switch a.Action {
	case AuthenticatorRemoved:
		if len(a.Secret) != 0 || a.Algorithm != "" || a.Digits != 0 || a.Period != 0 {
			return badEvent("an authenticator removal carries no key")
		}
		return nil
	case AuthenticatorEnrolled:
	default:
		return badEvent("authenticator action %q must be %q or %q", a.Action, AuthenticatorEnrolled, AuthenticatorRemoved)
	}
	if len(a.Secret) < MinAuthenticatorSecret || len(a.Secret) > MaxAuthenticatorSecret {
		return badEvent("authenticator key of %d bytes, want %d to %d", len(a.Secret), MinAuthenticatorSecret, MaxAuthenticatorSecret)
	}
	switch a.Algorithm {
	case TOTPSHA1, TOTPSHA256, TOTPSHA512:
	default:
		return badEvent("authenticator algorithm %q must be SHA1, SHA256 or SHA512", a.Algorithm)
	}
	if a.Digits != 6 && a.Digits != 8 {
		return badEvent("authenticator digits %d must be 6 or 8", a.Digits)
	}
	if a.Period < MinTOTPPeriod || a.Period > MaxTOTPPeriod {
		return badEvent("authenticator period %d s must be %d to %d", a.Period, MinTOTPPeriod, MaxTOTPPeriod)
	}
	return nil
}

// setAuthenticator writes the authenticator register if ev is later than
// what it holds.
func (s *MemberState) setAuthenticator(ev Event, st Stamp) bool {
	if s.Authenticator != nil && s.Authenticator.Stamp.Compare(st) >= 0 {
		return false
	}
	a := ev.Authenticator
	next := &AuthenticatorState{At: ev.At, Store: ev.Store, Stamp: st}
	if a.Action == AuthenticatorEnrolled {
		next.Active = true
		next.Secret = append([]byte(nil), a.Secret...)
		next.Algorithm, next.Digits, next.Period = a.Algorithm, a.Digits, a.Period
	}
	s.Authenticator = next
	return true
}

// ActiveAuthenticator returns the member's authenticator when one is
// enrolled and not removed, else nil.
func (s *MemberState) ActiveAuthenticator() *AuthenticatorState {
	if s.Authenticator == nil || !s.Authenticator.Active {
		return nil
	}
	return s.Authenticator
}

// MessageAuthenticatorOTP is the SMS that proves the member holds the
// mobile before an authenticator is linked to it (transactional: it needs
// no marketing consent). Its template sees {{.Code}} and {{.Minutes}}.
const MessageAuthenticatorOTP = "otp_authenticator"
