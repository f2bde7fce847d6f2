package node

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Member authenticators (docs/otp.md): a TOTP key the member links to an
// authenticator app at a till, so that any store can verify the member
// without SMS — also while it is offline. Linking proves the mobile the
// way a redemption does (an SMS code) and proves that the app scanned the
// key (its first code); then the key travels to every store in a
// member.authenticator event. A redemption then takes the app's code with
// redeem.otp_kind "totp" (otp.go). The guards are this node's: a used
// time step is never accepted again, OTPMaxTries wrong codes lock the
// authenticator for TOTPLockout, and the terminal limits of otp.go apply.

// member.authenticator actions.
const (
	AuthenticatorStatus  = "status"  // what the member has
	AuthenticatorEnroll  = "enroll"  // a new key to scan, and an SMS code
	AuthenticatorConfirm = "confirm" // the app's first code and the SMS code: link it
	AuthenticatorRemove  = "remove"  // a current app code: unlink it
)

// Authenticator statuses.
const (
	AuthenticatorActive = "active"
	AuthenticatorNone   = "none"
)

// Authenticator limits and names.
const (
	// TOTPLockout is how long OTPMaxTries wrong authenticator codes lock
	// a member's authenticator on this node. The code changes every
	// TOTPPeriod, so unlike an SMS code the lock must end on its own:
	// 5 guesses per 15 minutes, each right with odds of 3 in 10^6 (the
	// skew window), is about 1.4 in 1000 a day per member per node.
	TOTPLockout = 15 * time.Minute
	// AuthenticatorIssuer names the account in the member's app.
	AuthenticatorIssuer = "Patron"
)

// AuthenticatorRequest is member.authenticator's params (an extension of
// the protocol, docs/protocol.md).
type AuthenticatorRequest struct {
	MemberID string `json:"member_id"`
	Action   string `json:"action"`
	// Code is the app's current code (confirm, remove).
	Code string `json:"code,omitempty"`
	// SMSOTP is the code the enrolment texted to the member (confirm).
	SMSOTP string `json:"sms_otp,omitempty"`
}

// AuthenticatorAnswer is member.authenticator's result.
type AuthenticatorAnswer struct {
	MemberID      string     `json:"member_id"`
	Status        string     `json:"status"` // "active" or "none"
	EnrolledAt    *time.Time `json:"enrolled_at,omitempty"`
	EnrolledStore string     `json:"enrolled_store,omitempty"`
	// PendingUntil: an enrolment made here waits for its confirmation
	// until then.
	PendingUntil *time.Time `json:"pending_until,omitempty"`
	// LockedUntil: too many wrong codes; this node refuses the
	// authenticator until then.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	// Enrolment is enroll's answer: what the till shows, as a QR code,
	// for the app to scan.
	Enrolment *AuthenticatorEnrolment `json:"enrolment,omitempty"`
}

// AuthenticatorEnrolment is the key to scan and where the SMS code went.
type AuthenticatorEnrolment struct {
	URI       string    `json:"uri"`    // otpauth://totp/...
	Secret    string    `json:"secret"` // base32, no padding, for typing in
	Issuer    string    `json:"issuer"`
	Algorithm string    `json:"algorithm"`
	Digits    int       `json:"digits"`
	Period    int       `json:"period"`
	SentTo    string    `json:"sent_to"`
	ExpiresAt time.Time `json:"expires_at"` // confirm before then
}

// authLocal is a member's authenticator state on this node (in the
// member's otpRecord): the replay and guessing guards, and an enrolment
// waiting for its confirmation.
type authLocal struct {
	LastStep    int64        `json:"last_step,omitempty"` // the latest time step accepted here
	Tries       int          `json:"tries,omitempty"`     // wrong codes since the last right one or lock
	LockedUntil time.Time    `json:"locked_until,omitzero"`
	Pending     *authPending `json:"pending,omitempty"`
}

// authPending is an enrolment waiting for confirm: the key shown, and
// the SMS code sent with it (hashed, derived like an OTP for re-sends).
type authPending struct {
	Secret    []byte    `json:"secret"`
	Salt      []byte    `json:"salt"`
	Hash      []byte    `json:"hash"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Tries     int       `json:"tries"`
	Resends   int       `json:"resends"`
}

// Authenticator serves member.authenticator. Refusals: invalid_params,
// member_not_found; enroll: otp_locked, otp_rate_limited; confirm:
// not_found (no enrolment waiting here), otp_invalid, otp_locked,
// otp_rate_limited; remove: otp_invalid, otp_locked, otp_rate_limited.
//
// enroll draws a key and texts an SMS code; asked again before it
// expires, it answers the same key and re-sends the same code (rate
// limited as redeem.otp). confirm links the key when the app's code and
// the SMS code are both right, as one member.authenticator event; a
// retry with the same params gets the same answer. remove unlinks it on
// a current app code (removing an absent one is a no-op); a member who
// lost the app enrols a new one instead, which replaces it.
func (n *Node) Authenticator(ctx context.Context, terminal string, req AuthenticatorRequest) (*AuthenticatorAnswer, error) {
	if err := n.enterTill(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if req.MemberID == "" {
		return nil, n.refused(invalid("member_id", "member_id required"))
	}
	switch req.Action {
	case AuthenticatorStatus:
		return n.authenticatorStatus(req.MemberID)
	case AuthenticatorEnroll:
		return n.enrollAuthenticator(ctx, terminal, req.MemberID)
	case AuthenticatorConfirm:
		if req.Code == "" {
			return nil, n.refused(invalid("code", "code (the app's current code) required"))
		}
		if req.SMSOTP == "" {
			return nil, n.refused(invalid("sms_otp", "sms_otp (the code texted at enrolment) required"))
		}
		return n.confirmAuthenticator(terminal, req)
	case AuthenticatorRemove:
		if req.Code == "" {
			return nil, n.refused(invalid("code", "code (the app's current code) required"))
		}
		return n.removeAuthenticator(terminal, req)
	}
	return nil, n.refused(invalid("action", `action must be "status", "enroll", "confirm" or "remove"`))
}

func (n *Node) authenticatorStatus(member string) (*AuthenticatorAnswer, error) {
	now := n.now()
	var ans *AuthenticatorAnswer
	err := n.db.View(func(tx *bbolt.Tx) error {
		m, found, err := loadMember(tx, member)
		if err != nil || !found || !m.State.Enrolled {
			return err
		}
		var rec otpRecord
		if _, err := getJSON(tx.Bucket(bucketOTPs), []byte(member), &rec); err != nil {
			return err
		}
		ans = authenticatorView(&m.State, rec.Auth, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ans == nil {
		return nil, n.refused(refuse(ReasonMemberNotFound, "no such member"))
	}
	return ans, nil
}

// authenticatorView is the answer's status part.
func authenticatorView(st *engine.MemberState, local *authLocal, now time.Time) *AuthenticatorAnswer {
	ans := &AuthenticatorAnswer{MemberID: st.ID, Status: AuthenticatorNone}
	if a := st.ActiveAuthenticator(); a != nil {
		at := a.At
		ans.Status, ans.EnrolledAt, ans.EnrolledStore = AuthenticatorActive, &at, a.Store
	}
	if local != nil {
		if p := local.Pending; p != nil && now.Before(p.ExpiresAt) {
			t := p.ExpiresAt
			ans.PendingUntil = &t
		}
		if now.Before(local.LockedUntil) {
			t := local.LockedUntil
			ans.LockedUntil = &t
		}
	}
	return ans
}

func (n *Node) enrollAuthenticator(ctx context.Context, terminal, member string) (*AuthenticatorAnswer, error) {
	fresh, err := n.otpRandom()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, TOTPSecretBytes)
	if _, err := io.ReadFull(n.cfg.Random, secret); err != nil {
		return nil, fmt.Errorf("node: authenticator key: %w", err)
	}
	now := n.now()
	var (
		ans     *AuthenticatorAnswer
		msg     outMessage
		refusal *engine.Refusal
		w       sendWait
	)
	defer w.forget()
	err = n.update(func(tx *bbolt.Tx) error {
		ans, refusal = nil, nil
		m, found, err := loadMember(tx, member)
		if err != nil {
			return err
		}
		if !found || !m.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		b := tx.Bucket(bucketOTPs)
		var rec otpRecord
		if _, err := getJSON(b, []byte(member), &rec); err != nil {
			return err
		}
		rec.V = recordVersion
		if rec.Auth == nil {
			rec.Auth = &authLocal{}
		}
		old := rec.Auth.Pending
		live := old != nil && now.Before(old.ExpiresAt)
		if live && old.Tries >= OTPMaxTries {
			refusal = refuse(ReasonOTPLocked, "too many wrong codes; enrol again when this enrolment expires",
				"retry_at", old.ExpiresAt.Format(time.RFC3339))
			return nil
		}
		sends, trec, r, err := sendAllowed(tx, rec.Sends, terminal, now)
		if err != nil || r != nil {
			refusal = r
			return err
		}
		rec.Sends = sends
		key, err := otpKey(tx, fresh.key)
		if err != nil {
			return err
		}
		lc := liveCode{}
		if live {
			lc = liveCode{live: true, salt: old.Salt, hash: old.Hash, issued: old.IssuedAt}
		}
		code, resend, err := issueCode(key, purposeAuthenticator, member, lc, fresh.salt, now)
		if err != nil {
			return err
		}
		p := old
		switch {
		case resend:
			p.Resends++
		case live: // the node key changed under it: a new code for the same key
			p.Salt, p.Hash, p.IssuedAt, p.Resends = fresh.salt, otpHash(fresh.salt, code), now, 0
		default:
			p = &authPending{Secret: secret, Salt: fresh.salt, Hash: otpHash(fresh.salt, code), IssuedAt: now,
				ExpiresAt: now.Add(OTPValidity)}
		}
		rec.Auth.Pending = p
		text, err := n.render(engine.MessageAuthenticatorOTP, engine.MessageData{Code: codePlaceholder, Minutes: minutesLeft(p.ExpiresAt, now)})
		if err != nil {
			return err
		}
		msg = otpMessage(engine.MessageAuthenticatorOTP, purposeAuthenticator, member, p.Salt, p.IssuedAt, p.Resends, text, p.ExpiresAt)
		if err := putJSON(b, []byte(member), rec); err != nil {
			return err
		}
		if err := putJSON(b, otpTerminalKey(terminal), trec); err != nil {
			return err
		}
		w.expect(n.outbox, msg.id)
		ans = authenticatorView(&m.State, rec.Auth, now)
		ans.Enrolment = enrolmentOf(member, p)
		return n.queueTx(tx, msg, now)
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	if err := n.deliverCode(ctx, msg, w.first); err != nil {
		return nil, err
	}
	return ans, nil
}

// enrolmentOf is what the till shows for a pending key: an otpauth URI
// (Google Authenticator's Key Uri Format) and the key in base32.
func enrolmentOf(member string, p *authPending) *AuthenticatorEnrolment {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(p.Secret)
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", AuthenticatorIssuer)
	q.Set("algorithm", TOTPAlgorithm)
	q.Set("digits", strconv.Itoa(TOTPDigits))
	q.Set("period", strconv.Itoa(TOTPPeriod))
	// The label names the account without the whole number: the QR is
	// shown on a till screen.
	label := url.PathEscape(AuthenticatorIssuer + ":" + maskMobile(member))
	return &AuthenticatorEnrolment{URI: "otpauth://totp/" + label + "?" + q.Encode(), Secret: secret,
		Issuer: AuthenticatorIssuer, Algorithm: TOTPAlgorithm, Digits: TOTPDigits, Period: TOTPPeriod,
		SentTo: maskMobile(member), ExpiresAt: p.ExpiresAt}
}

func (n *Node) confirmAuthenticator(terminal string, req AuthenticatorRequest) (*AuthenticatorAnswer, error) {
	fp, err := fingerprint("member.authenticator/confirm/v1", req)
	if err != nil {
		return nil, err
	}
	replayKey := key("a", terminal, fp)
	now := n.now()
	var (
		ans     *AuthenticatorAnswer
		refusal *engine.Refusal
	)
	err = n.update(func(tx *bbolt.Tx) error {
		ans, refusal = nil, nil
		m, found, err := loadMember(tx, req.MemberID)
		if err != nil {
			return err
		}
		if !found || !m.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		var stored answerRecord
		if found, err := getJSON(tx.Bucket(bucketAnswers), replayKey, &stored); err != nil {
			return err
		} else if found && stored.Fingerprint == fp {
			ans = new(AuthenticatorAnswer)
			if err := json.Unmarshal(stored.Answer, ans); err != nil {
				return fmt.Errorf("node: stored authenticator answer: %w: %w", ErrCorrupt, err)
			}
			return nil
		}
		trec, err := loadOTPTerminal(tx, terminal)
		if err != nil {
			return err
		}
		if refusal = terminalLocked(trec, now); refusal != nil {
			return nil
		}
		b := tx.Bucket(bucketOTPs)
		var rec otpRecord
		if _, err := getJSON(b, []byte(req.MemberID), &rec); err != nil {
			return err
		}
		var p *authPending
		if rec.Auth != nil {
			p = rec.Auth.Pending
		}
		switch {
		case p == nil || !now.Before(p.ExpiresAt):
			refusal = refuse(ReasonNotFound, "no authenticator enrolment is waiting here; enroll first")
			return nil
		case p.Tries >= OTPMaxTries:
			refusal = refuse(ReasonOTPLocked, "too many wrong codes; enrol again when this enrolment expires",
				"retry_at", p.ExpiresAt.Format(time.RFC3339))
			return nil
		}
		// The app's code first: the till knows the key it showed, so
		// this code proves only that the app scanned it, and a mistyped
		// one must not spend the SMS code's tries. No step of a new key
		// was used yet.
		step, ok, _ := totpMatch(enrolledParams(p.Secret), req.Code, now, math.MinInt64)
		if !ok {
			refusal = refuse(ReasonOTPInvalid, "the app's code does not match this key: scan the code shown and check the phone's clock")
			return nil
		}
		if subtle.ConstantTimeCompare(otpHash(p.Salt, req.SMSOTP), p.Hash) != 1 {
			p.Tries++
			if p.Tries >= OTPMaxTries {
				refusal = refuse(ReasonOTPLocked, "too many wrong codes; enrol again when this enrolment expires",
					"retry_at", p.ExpiresAt.Format(time.RFC3339))
			} else {
				refusal = refuse(ReasonOTPInvalid, "wrong SMS code", "field", "sms_otp", "tries_left", OTPMaxTries-p.Tries)
			}
			if err := putJSON(b, []byte(req.MemberID), rec); err != nil {
				return err
			}
			return countTerminalFail(tx, terminal, now)
		}
		ev := engine.Event{Kind: engine.EventMemberAuthenticator, Member: req.MemberID, Terminal: terminal, At: now,
			Authenticator: &engine.AuthenticatorChange{Action: engine.AuthenticatorEnrolled, Secret: p.Secret,
				Algorithm: TOTPAlgorithm, Digits: TOTPDigits, Period: TOTPPeriod}}
		if _, err := n.emit(tx, ev, nil, newEffects()); err != nil {
			return err
		}
		rec.Auth = &authLocal{LastStep: step} // the confirming code is used
		if err := putJSON(b, []byte(req.MemberID), rec); err != nil {
			return err
		}
		if m, _, err = loadMember(tx, req.MemberID); err != nil {
			return err
		}
		ans = authenticatorView(&m.State, rec.Auth, now)
		data, err := json.Marshal(ans)
		if err != nil {
			return fmt.Errorf("node: encode authenticator answer: %w", err)
		}
		return putJSON(tx.Bucket(bucketAnswers), replayKey, answerRecord{V: recordVersion, Fingerprint: fp, Answer: data})
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	return ans, nil
}

func (n *Node) removeAuthenticator(terminal string, req AuthenticatorRequest) (*AuthenticatorAnswer, error) {
	now := n.now()
	var (
		ans     *AuthenticatorAnswer
		refusal *engine.Refusal
	)
	err := n.update(func(tx *bbolt.Tx) error {
		ans, refusal = nil, nil
		m, found, err := loadMember(tx, req.MemberID)
		if err != nil {
			return err
		}
		if !found || !m.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		b := tx.Bucket(bucketOTPs)
		var rec otpRecord
		if _, err := getJSON(b, []byte(req.MemberID), &rec); err != nil {
			return err
		}
		rec.V = recordVersion
		a := m.State.ActiveAuthenticator()
		if a == nil {
			ans = authenticatorView(&m.State, rec.Auth, now) // removed already: a retry
			return nil
		}
		trec, err := loadOTPTerminal(tx, terminal)
		if err != nil {
			return err
		}
		if refusal = terminalLocked(trec, now); refusal != nil {
			return nil
		}
		r, out := checkTOTP(a, &rec, req.Code, now)
		if out != codeUntouched {
			if err := putJSON(b, []byte(req.MemberID), rec); err != nil {
				return err
			}
		}
		if out == codeWrong {
			if err := countTerminalFail(tx, terminal, now); err != nil {
				return err
			}
		}
		if r != nil {
			refusal = r
			return nil
		}
		ev := engine.Event{Kind: engine.EventMemberAuthenticator, Member: req.MemberID, Terminal: terminal, At: now,
			Authenticator: &engine.AuthenticatorChange{Action: engine.AuthenticatorRemoved}}
		if _, err := n.emit(tx, ev, nil, newEffects()); err != nil {
			return err
		}
		if m, _, err = loadMember(tx, req.MemberID); err != nil {
			return err
		}
		ans = authenticatorView(&m.State, rec.Auth, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	return ans, nil
}

// checkTOTP checks an authenticator code against the member's active
// authenticator a, with this node's guards in rec: a step used here is
// refused (not counted: it cannot be a guess that succeeds), a wrong code
// counts, and OTPMaxTries of them lock it for TOTPLockout.
func checkTOTP(a *engine.AuthenticatorState, rec *otpRecord, code string, now time.Time) (*engine.Refusal, codeOutcome) {
	if a == nil {
		return refuse(ReasonOTPRequired, "no authenticator is linked to this member; use an SMS OTP"), codeUntouched
	}
	if rec.Auth == nil {
		rec.Auth = &authLocal{}
	}
	l := rec.Auth
	if now.Before(l.LockedUntil) {
		return refuse(ReasonOTPLocked, "too many wrong authenticator codes; use an SMS OTP or wait",
			"retry_at", l.LockedUntil.Format(time.RFC3339)), codeUntouched
	}
	step, fresh, matched := totpMatch(paramsOf(a), code, now, l.LastStep)
	switch {
	case fresh:
		l.LastStep, l.Tries, l.LockedUntil = step, 0, time.Time{}
		return nil, codeAccepted
	case matched:
		return refuse(ReasonOTPInvalid, "this code was used already; wait for the app's next code"), codeUntouched
	}
	l.Tries++
	if l.Tries >= OTPMaxTries {
		l.Tries, l.LockedUntil = 0, now.Add(TOTPLockout)
		return refuse(ReasonOTPLocked, "too many wrong authenticator codes; use an SMS OTP or wait",
			"retry_at", l.LockedUntil.Format(time.RFC3339)), codeWrong
	}
	return refuse(ReasonOTPInvalid, "wrong authenticator code", "tries_left", OTPMaxTries-l.Tries), codeWrong
}
