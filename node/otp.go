package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
	"go.etcd.io/bbolt"
)

// Redemption OTPs (docs/otp.md). A code is 6 digits, valid OTPValidity,
// and stored only as a salted hash. It is not random but derived:
// HMAC-SHA256 keyed with the node's OTP key (32 random bytes made once in
// the meta bucket, never replicated, never logged) over the member, the
// salt and the issue time, reduced to 6 digits without modulo bias. So a
// member who asks again while the code is valid gets the same code again
// — the node derives it from what the record keeps — and the wrong-try
// count stays with the code: asking again never unlocks it.

// OTP limits beyond limits.go's.
const (
	// OTPTerminalMaxSends bounds the SMS codes (new or re-sent, OTPs and
	// authenticator links) one terminal asks for within OTPSendWindow: a
	// till may serve a queue of members, but not text the whole base.
	OTPTerminalMaxSends = 30
	// OTPTerminalMaxFails bounds the wrong codes (SMS or authenticator)
	// one terminal gives within OTPSendWindow; past it every code check
	// from that terminal is otp_rate_limited until the window moves on.
	// A member's lock stops guessing one member; this stops a till (or a
	// stolen till token) from guessing across many members.
	OTPTerminalMaxFails = 10
	// otpKeyBytes is the node's OTP key: a full HMAC-SHA256 block of
	// entropy.
	otpKeyBytes = 32
	// otpSaltBytes is the per-code salt (and derivation nonce).
	otpSaltBytes = 16
)

// OTP kinds a redemption's redeem.otp_kind may name (docs/protocol.md).
const (
	OTPKindSMS  = "sms"  // the code redeem.otp sent (the default)
	OTPKindTOTP = "totp" // the member's authenticator app (authenticator.go)
)

// metaOTPKey holds the node's OTP key (store-local, like the whole meta
// bucket: events carry nothing of it).
var metaOTPKey = []byte("otp_key")

// otpPurpose separates the codes derived for different uses: a code
// derived for one never equals, by construction, one derived for another.
const (
	purposeRedeem        = "redeem"
	purposeAuthenticator = "authenticator"
)

// RequestOTP sends a redemption OTP to the member's mobile by SMS,
// authorising a redemption of up to req.Points points. Asked again while
// the code is valid, it sends the same code again (its expiry does not
// move; the text names the points it authorises) unless more points are
// asked for: then a new code replaces it, keeping its wrong tries. A
// locked code that is still valid is otp_locked (data.retry_at: when it
// expires). More than OTPMaxSends texts per member, or OTPTerminalMaxSends
// per terminal, within OTPSendWindow is otp_rate_limited (data.retry_at).
// Refusals: invalid_params, member_not_found, otp_locked,
// otp_rate_limited.
func (n *Node) RequestOTP(ctx context.Context, terminal string, req OTPRequest) (*OTPSent, error) {
	if err := n.enterTill(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if req.MemberID == "" {
		return nil, n.refused(invalid("member_id", "member_id required"))
	}
	if req.Points <= 0 {
		return nil, n.refused(invalid("points", "points must be positive"))
	}
	fresh, err := n.otpRandom()
	if err != nil {
		return nil, err
	}
	now := n.now()
	var (
		sent    *OTPSent
		msg     outMessage
		refusal *engine.Refusal
		w       sendWait
	)
	defer w.forget()
	err = n.update(func(tx *bbolt.Tx) error {
		sent, refusal = nil, nil
		if m, found, err := loadMember(tx, req.MemberID); err != nil {
			return err
		} else if !found || !m.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		b := tx.Bucket(bucketOTPs)
		var rec otpRecord
		if _, err := getJSON(b, []byte(req.MemberID), &rec); err != nil {
			return err
		}
		rec.V = recordVersion
		live := rec.Hash != nil && now.Before(rec.ExpiresAt)
		if live && rec.Tries >= OTPMaxTries {
			refusal = refuse(ReasonOTPLocked, "too many wrong OTPs; a new one can be asked for when this one expires",
				"retry_at", rec.ExpiresAt.Format(time.RFC3339))
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
		code, resend, err := issueCode(key, purposeRedeem, req.MemberID,
			liveCode{live: live && req.Points <= rec.Points, salt: rec.Salt, hash: rec.Hash, issued: rec.IssuedAt},
			fresh.salt, now)
		if err != nil {
			return err
		}
		if resend {
			rec.Resends++
		} else {
			if !live {
				rec.Tries = 0 // a new code after expiry: a new guessing space
			}
			rec.Salt, rec.Hash, rec.Points = fresh.salt, otpHash(fresh.salt, code), req.Points
			rec.IssuedAt, rec.ExpiresAt, rec.Resends = now, now.Add(OTPValidity), 0
		}
		text, err := n.renderFor(tx, engine.MessageOTP, req.MemberID, engine.MessageData{Code: codePlaceholder, Points: rec.Points,
			Minutes: minutesLeft(rec.ExpiresAt, now)})
		if err != nil {
			return err
		}
		msg = otpMessage(engine.MessageOTP, purposeRedeem, req.MemberID, rec.Salt, rec.IssuedAt, rec.Resends, text, rec.ExpiresAt)
		if err := putJSON(b, []byte(req.MemberID), rec); err != nil {
			return err
		}
		if err := putJSON(b, otpTerminalKey(terminal), trec); err != nil {
			return err
		}
		w.expect(n.outbox, msg.id)
		sent = &OTPSent{SentTo: maskMobile(engine.MemberMobile(req.MemberID)), ExpiresAt: rec.ExpiresAt}
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
	return sent, nil
}

// deliverCode hands a code's text to the SMS gateway: straight to
// Config.SMS without an outbox, else it waits for the outbox's first
// attempt (waitFirstSend).
func (n *Node) deliverCode(ctx context.Context, msg outMessage, first <-chan error) error {
	if n.outbox == nil {
		text := msg.text
		if msg.code != nil {
			var err error
			if text, err = n.fillCode(text, msg.code); err != nil {
				return err
			}
		}
		if err := n.cfg.SMS.Send(ctx, sms.Message{ID: msg.id, To: msg.member, Text: text, Kind: msg.kind}); err != nil {
			return fmt.Errorf("node: send otp: %w", err)
		}
		return nil
	}
	return waitFirstSend(ctx, first)
}

// sendWait is the registration for an outbox message's first attempt.
// It is made inside the transaction (the id depends on what is stored),
// so a re-run transaction replaces it; forget ends it.
type sendWait struct {
	first <-chan error
	stop  func()
}

func (w *sendWait) expect(o *outbox, id string) {
	if o == nil {
		return
	}
	w.forget()
	w.first, w.stop = o.expect(id)
}

func (w *sendWait) forget() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
}

// otpMessage is the outbox message of a code: the first send keeps the
// id form "<kind>/<member>/<issued>-<salt>", the n-th re-send appends
// "/r<n>" (a new message each: the outbox queues an id once).
func otpMessage(kind, purpose, member string, salt []byte, issued time.Time, resends int, text string, expires time.Time) outMessage {
	id := fmt.Sprintf("%s/%s/%d-%x", kind, member, issued.UnixNano(), salt[:4])
	if resends > 0 {
		id += fmt.Sprintf("/r%d", resends)
	}
	exp := expires
	return outMessage{id: id, kind: kind, member: member, text: text, expires: &exp,
		code: &codeRef{Purpose: purpose, Member: member, Salt: salt, Issued: issued}}
}

// An OTP text waits in the outbox with codePlaceholder where the code
// goes, and a codeRef: the outbox derives the code again (deriveCode,
// from the node's key) just before it hands the text to the gateway. So
// the code is never written to the data file, not even for the seconds a
// text waits — only its hash, in the OTP record.
const codePlaceholder = "[[patron:otp-code]]"

// codeRef names the code of an OTP text: deriveCode's inputs but the key.
type codeRef struct {
	Purpose string    `json:"purpose"`
	Member  string    `json:"member"`
	Salt    []byte    `json:"salt"`
	Issued  time.Time `json:"issued"`
}

// fillCode puts the code ref names into text, in place of codePlaceholder.
// The caller is inside enter (a till method, or the outbox's send).
func (n *Node) fillCode(text string, ref *codeRef) (string, error) {
	var key []byte
	if err := n.db.View(func(tx *bbolt.Tx) error {
		k := tx.Bucket(bucketMeta).Get(metaOTPKey)
		if len(k) != otpKeyBytes {
			return fmt.Errorf("node: otp key missing for a queued code: %w", ErrCorrupt)
		}
		key = append([]byte(nil), k...)
		return nil
	}); err != nil {
		return "", err
	}
	code, err := deriveCode(key, ref.Purpose, ref.Member, ref.Salt, ref.Issued)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(text, codePlaceholder, code), nil
}

// minutesLeft is the validity a text states: whole minutes left, rounded
// up, at least one.
func minutesLeft(expires, now time.Time) int {
	return max(1, int((expires.Sub(now)+time.Minute-1)/time.Minute))
}

// sendAllowed applies the per-member (sends) and per-terminal send
// limits, and returns both lists with now added when the send may go.
func sendAllowed(tx *bbolt.Tx, sends []time.Time, terminal string, now time.Time) ([]time.Time, otpTerminalRecord, *engine.Refusal, error) {
	trec, err := loadOTPTerminal(tx, terminal)
	if err != nil {
		return nil, trec, nil, err
	}
	recent := within(sends, now)
	if len(recent) >= OTPMaxSends {
		return nil, trec, refuse(ReasonOTPRateLimited, "too many codes asked for this member",
			"retry_at", recent[0].Add(OTPSendWindow).Format(time.RFC3339)), nil
	}
	trec.Sends = within(trec.Sends, now)
	if len(trec.Sends) >= OTPTerminalMaxSends {
		return nil, trec, refuse(ReasonOTPRateLimited, "too many codes asked for by this terminal",
			"retry_at", trec.Sends[0].Add(OTPSendWindow).Format(time.RFC3339)), nil
	}
	trec.Sends = append(trec.Sends, now)
	trec.Fails = within(trec.Fails, now)
	return append(recent, now), trec, nil, nil
}

// within keeps the times less than OTPSendWindow before now (never nil,
// so a stored record's lists encode as [] and round-trip).
func within(ts []time.Time, now time.Time) []time.Time {
	out := []time.Time{}
	for _, t := range ts {
		if now.Sub(t) < OTPSendWindow {
			out = append(out, t)
		}
	}
	return out
}

// otpTerminalRecord is a terminal's recent code sends and wrong codes,
// kept in bucketOTPs under otpTerminalKey.
type otpTerminalRecord struct {
	V     int         `json:"v"`
	Sends []time.Time `json:"sends"`
	Fails []time.Time `json:"fails"`
}

func (r otpTerminalRecord) version() int { return r.V }

// otpTerminalKey is "\x00terminal" \x00 terminal: member ids never start
// with 0x00, so it cannot collide with a member's record.
func otpTerminalKey(terminal string) []byte { return key("\x00terminal", terminal) }

func loadOTPTerminal(tx *bbolt.Tx, terminal string) (otpTerminalRecord, error) {
	rec := otpTerminalRecord{V: recordVersion, Sends: []time.Time{}, Fails: []time.Time{}}
	_, err := getJSON(tx.Bucket(bucketOTPs), otpTerminalKey(terminal), &rec)
	return rec, err
}

// terminalLocked refuses when terminal gave OTPTerminalMaxFails wrong
// codes within OTPSendWindow.
func terminalLocked(trec otpTerminalRecord, now time.Time) *engine.Refusal {
	fails := within(trec.Fails, now)
	if len(fails) < OTPTerminalMaxFails {
		return nil
	}
	return refuse(ReasonOTPRateLimited, "too many wrong codes from this terminal",
		"retry_at", fails[0].Add(OTPSendWindow).Format(time.RFC3339))
}

// countTerminalFail records a wrong code given by terminal.
func countTerminalFail(tx *bbolt.Tx, terminal string, now time.Time) error {
	trec, err := loadOTPTerminal(tx, terminal)
	if err != nil {
		return err
	}
	trec.Sends, trec.Fails = within(trec.Sends, now), append(within(trec.Fails, now), now)
	return putJSON(tx.Bucket(bucketOTPs), otpTerminalKey(terminal), trec)
}

// waitFirstSend waits up to OTPSendWait for the outbox's first attempt
// to send an OTP. A permanent failure is the till's error (the code
// will never arrive); a retryable one, or no answer in time, leaves the
// code queued and the answer "sent".
func waitFirstSend(ctx context.Context, first <-chan error) error {
	if first == nil {
		return nil
	}
	t := time.NewTimer(OTPSendWait)
	defer t.Stop()
	select {
	case err := <-first:
		if errors.Is(err, sms.ErrPermanent) {
			return fmt.Errorf("node: send otp: %w", err)
		}
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// otpAnswer is the OTP a redemption carries: the code, its kind
// (OTPKindSMS or OTPKindTOTP) and the terminal that gave it.
type otpAnswer struct {
	code, kind, terminal string
}

// saleOTP is a sale's OTP answer.
func saleOTP(s *sale) otpAnswer {
	a := otpAnswer{terminal: s.terminal}
	if s.req.Redeem != nil {
		a.code, a.kind = s.req.Redeem.OTP, s.req.Redeem.OTPKind
	}
	return a
}

// checkOTPKind checks redeem.otp_kind (the "malformed params" step).
func checkOTPKind(r *RedeemRequest) *engine.Refusal {
	if r == nil {
		return nil
	}
	switch r.OTPKind {
	case "", OTPKindSMS, OTPKindTOTP:
		return nil
	}
	return invalid("redeem.otp_kind", `otp_kind must be "sms" or "totp"`)
}

// checkOTP checks the OTP of a redemption when the programme asks for
// one: the SMS code (consumed on success) or the member's authenticator
// code (its time step then cannot be used again here). Wrong codes count
// towards the member's lock and the terminal's limit, written in tx. It
// returns the refusal, if any.
func (n *Node) checkOTP(tx *bbolt.Tx, p *engine.Programme, member string, points engine.Points, ans otpAnswer, now time.Time) (*engine.Refusal, error) {
	return verifyOTP(tx, p, member, points, ans, now, true)
}

// peekOTP is checkOTP without writing: the refusal it would give, for the
// checks made before asking HQ for a hold.
func peekOTP(tx *bbolt.Tx, p *engine.Programme, member string, points engine.Points, ans otpAnswer, now time.Time) (*engine.Refusal, error) {
	return verifyOTP(tx, p, member, points, ans, now, false)
}

// codeOutcome is what a code check did to the record.
type codeOutcome int

const (
	codeUntouched codeOutcome = iota // refused before comparing: nothing to write
	codeWrong                        // a wrong code, counted
	codeAccepted                     // right: consumed (SMS) or its step used (TOTP)
)

func verifyOTP(tx *bbolt.Tx, p *engine.Programme, member string, points engine.Points, ans otpAnswer, now time.Time, write bool) (*engine.Refusal, error) {
	if !otpNeeded(p.Redeem.OTP, points) {
		return nil, nil
	}
	if ans.code == "" {
		return refuse(ReasonOTPRequired, "this redemption needs an OTP"), nil
	}
	trec, err := loadOTPTerminal(tx, ans.terminal)
	if err != nil {
		return nil, err
	}
	if r := terminalLocked(trec, now); r != nil {
		return r, nil
	}
	b := tx.Bucket(bucketOTPs)
	var rec otpRecord
	found, err := getJSON(b, []byte(member), &rec)
	if err != nil {
		return nil, err
	}
	rec.V = recordVersion
	var (
		r   *engine.Refusal
		out codeOutcome
	)
	if ans.kind == OTPKindTOTP {
		m, _, err := loadMember(tx, member)
		if err != nil {
			return nil, err
		}
		r, out = checkTOTP(m.State.ActiveAuthenticator(), &rec, ans.code, now)
	} else {
		r, out = checkSMSCode(&rec, found, ans.code, points, now)
	}
	if !write || out == codeUntouched {
		return r, nil
	}
	if err := putJSON(b, []byte(member), rec); err != nil {
		return nil, err
	}
	if out == codeWrong {
		if err := countTerminalFail(tx, ans.terminal, now); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkSMSCode checks a redemption's SMS code against rec, counting a
// wrong one and consuming a right one.
func checkSMSCode(rec *otpRecord, found bool, code string, points engine.Points, now time.Time) (*engine.Refusal, codeOutcome) {
	switch {
	case !found || rec.Hash == nil:
		return refuse(ReasonOTPRequired, "no OTP was sent for this redemption; ask for one"), codeUntouched
	case rec.Tries >= OTPMaxTries:
		return refuse(ReasonOTPLocked, "too many wrong OTPs; ask for a new one when this one expires",
			"retry_at", rec.ExpiresAt.Format(time.RFC3339)), codeUntouched
	case !now.Before(rec.ExpiresAt):
		return refuse(ReasonOTPExpired, "the OTP has expired; ask for a new one"), codeUntouched
	}
	if subtle.ConstantTimeCompare(otpHash(rec.Salt, code), rec.Hash) != 1 {
		rec.Tries++
		if rec.Tries >= OTPMaxTries {
			return refuse(ReasonOTPLocked, "too many wrong OTPs; ask for a new one when this one expires",
				"retry_at", rec.ExpiresAt.Format(time.RFC3339)), codeWrong
		}
		return refuse(ReasonOTPInvalid, "wrong OTP", "tries_left", OTPMaxTries-rec.Tries), codeWrong
	}
	if points > rec.Points {
		return refuse(ReasonOTPInvalid, fmt.Sprintf("the OTP authorises at most %d points", rec.Points)), codeUntouched
	}
	rec.Salt, rec.Hash, rec.Tries, rec.Resends, rec.IssuedAt = nil, nil, 0, 0, time.Time{} // consumed
	return nil, codeAccepted
}

// otpNeeded applies redeem.otp; the zero rule is "required".
func otpNeeded(rule engine.OTPRule, points engine.Points) bool {
	switch rule.Mode {
	case engine.OTPOff:
		return false
	case engine.OTPAbove:
		return points > rule.Above
	}
	return true
}

// otpFresh is the randomness one code request may need, drawn before its
// transaction: a node key (used only if the node has none yet) and a
// salt (used only if a new code is issued).
type otpFresh struct {
	key, salt []byte
}

func (n *Node) otpRandom() (otpFresh, error) {
	buf := make([]byte, otpKeyBytes+otpSaltBytes)
	if _, err := io.ReadFull(n.cfg.Random, buf); err != nil {
		return otpFresh{}, fmt.Errorf("node: otp random: %w", err)
	}
	return otpFresh{key: buf[:otpKeyBytes], salt: buf[otpKeyBytes:]}, nil
}

// otpKey returns the node's OTP key, storing fresh as the key on first
// use.
func otpKey(tx *bbolt.Tx, fresh []byte) ([]byte, error) {
	meta := tx.Bucket(bucketMeta)
	if k := meta.Get(metaOTPKey); k != nil {
		if len(k) != otpKeyBytes {
			return nil, fmt.Errorf("node: otp key of %d bytes: %w", len(k), ErrCorrupt)
		}
		return append([]byte(nil), k...), nil
	}
	if len(fresh) != otpKeyBytes {
		return nil, fmt.Errorf("node: otp key: %d random bytes, want %d", len(fresh), otpKeyBytes)
	}
	if err := meta.Put(metaOTPKey, fresh); err != nil {
		return nil, fmt.Errorf("node: store otp key: %w", err)
	}
	return fresh, nil
}

// liveCode is a stored code that may be sent again.
type liveCode struct {
	live   bool // valid, and may be re-sent for this ask
	salt   []byte
	hash   []byte
	issued time.Time
}

// issueCode returns the code to send: the live one again (resend) when
// the node key still derives it (a file restored from another node's
// copy would not), else a new one from salt at now.
func issueCode(key []byte, purpose, member string, old liveCode, salt []byte, now time.Time) (code string, resend bool, err error) {
	if old.live && old.salt != nil && !old.issued.IsZero() {
		code, err := deriveCode(key, purpose, member, old.salt, old.issued)
		if err != nil {
			return "", false, err
		}
		if subtle.ConstantTimeCompare(otpHash(old.salt, code), old.hash) == 1 {
			return code, true, nil
		}
	}
	code, err = deriveCode(key, purpose, member, salt, now)
	return code, false, err
}

// deriveCode is the code of (purpose, member, salt, issued) under key:
// HMAC-SHA256 over them, read as big-endian 32-bit words, the first word
// below the largest multiple of 10^OTPDigits under 2^32 taken modulo
// 10^OTPDigits (rejection keeps every code equally likely). A block has 8
// words; the chance that all of one are rejected is about 10^-29, and
// another block (counter+1) is drawn then.
func deriveCode(key []byte, purpose, member string, salt []byte, issued time.Time) (string, error) {
	const space = 1_000_000 // 10^OTPDigits
	const limit = (1 << 32) / space * space
	for counter := byte(0); counter < 4; counter++ {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("patron-otp-v1\x00" + purpose + "\x00" + member + "\x00"))
		mac.Write(salt)
		mac.Write(binary.BigEndian.AppendUint64(nil, uint64(issued.UnixNano())))
		mac.Write([]byte{counter})
		sum := mac.Sum(nil)
		for i := 0; i+4 <= len(sum); i += 4 {
			if v := binary.BigEndian.Uint32(sum[i:]); v < limit {
				return fmt.Sprintf("%0*d", OTPDigits, v%space), nil
			}
		}
	}
	return "", errors.New("node: otp: no code in 32 words (broken HMAC?)")
}

func otpHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// maskMobile keeps the first 3 and last 4 characters of an E.164 number:
// "+919876543210" → "+91******3210".
func maskMobile(m string) string {
	if len(m) <= 7 {
		return strings.Repeat("*", len(m))
	}
	return m[:3] + strings.Repeat("*", len(m)-7) + m[len(m)-4:]
}
