package node

import (
	"context"
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

// RequestOTP sends a redemption OTP to the member's mobile by SMS: 6
// random digits, valid OTPValidity, stored only as a salted hash. It
// authorises a redemption of up to req.Points points. Asking again while
// one is valid issues a fresh code and invalidates the old one (the old one
// cannot be re-sent: only its hash is kept). More than OTPMaxSends per
// member within OTPSendWindow is refused with otp_rate_limited
// (data.retry_at). Refusals: invalid_params, member_not_found.
func (n *Node) RequestOTP(ctx context.Context, terminal string, req OTPRequest) (*OTPSent, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if req.MemberID == "" {
		return nil, n.refused(invalid("member_id", "member_id required"))
	}
	if req.Points <= 0 {
		return nil, n.refused(invalid("points", "points must be positive"))
	}
	code, salt, err := n.newCode()
	if err != nil {
		return nil, err
	}
	now := n.now()
	sent := &OTPSent{SentTo: maskMobile(req.MemberID), ExpiresAt: now.Add(OTPValidity)}
	text, err := n.render(engine.MessageOTP, engine.MessageData{Code: code, Points: req.Points,
		Minutes: int(OTPValidity / time.Minute)})
	if err != nil {
		return nil, err
	}
	// The id is unique per request (the salt is random): every code asked
	// for is a message of its own.
	msg := outMessage{id: fmt.Sprintf("otp/%s/%d-%x", req.MemberID, now.UnixNano(), salt[:4]), kind: engine.MessageOTP,
		member: req.MemberID, text: text, expires: &sent.ExpiresAt}
	var first <-chan error
	if n.outbox != nil {
		var forget func()
		first, forget = n.outbox.expect(msg.id)
		defer forget()
	}
	var refusal *engine.Refusal
	err = n.update(func(tx *bbolt.Tx) error {
		refusal = nil
		if rec, found, err := loadMember(tx, req.MemberID); err != nil {
			return err
		} else if !found || !rec.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		var rec otpRecord
		if _, err := getJSON(tx.Bucket(bucketOTPs), []byte(req.MemberID), &rec); err != nil {
			return err
		}
		sends := []time.Time{}
		for _, t := range rec.Sends {
			if now.Sub(t) < OTPSendWindow {
				sends = append(sends, t)
			}
		}
		if len(sends) >= OTPMaxSends {
			refusal = refuse(ReasonOTPRateLimited, "too many OTPs asked for",
				"retry_at", sends[0].Add(OTPSendWindow).Format(time.RFC3339))
			return nil
		}
		rec = otpRecord{V: recordVersion, Salt: salt, Hash: otpHash(salt, code), Points: req.Points,
			ExpiresAt: sent.ExpiresAt, Sends: append(sends, now)}
		if err := putJSON(tx.Bucket(bucketOTPs), []byte(req.MemberID), rec); err != nil {
			return err
		}
		return n.queueTx(tx, msg, now)
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	if n.outbox == nil {
		if err := n.cfg.SMS.Send(ctx, sms.Message{ID: msg.id, To: msg.member, Text: text, Kind: msg.kind}); err != nil {
			return nil, fmt.Errorf("node: send otp: %w", err)
		}
		return sent, nil
	}
	return sent, waitFirstSend(ctx, first)
}

// waitFirstSend waits up to OTPSendWait for the outbox's first attempt
// to send an OTP. A permanent failure is the till's error (the code
// will never arrive); a retryable one, or no answer in time, leaves the
// code queued and the answer "sent".
func waitFirstSend(ctx context.Context, first <-chan error) error {
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

// checkOTP checks the OTP of a redemption when the programme asks for
// one, counting wrong tries and consuming the OTP on success (both
// written in tx). It returns the refusal, if any.
func (n *Node) checkOTP(tx *bbolt.Tx, p *engine.Programme, member string, points engine.Points, otp string, now time.Time) (*engine.Refusal, error) {
	if !otpNeeded(p.Redeem.OTP, points) {
		return nil, nil
	}
	b := tx.Bucket(bucketOTPs)
	var rec otpRecord
	found, err := getJSON(b, []byte(member), &rec)
	if err != nil {
		return nil, err
	}
	switch {
	case otp == "":
		return refuse(ReasonOTPRequired, "this redemption needs an OTP"), nil
	case !found || rec.Hash == nil:
		return refuse(ReasonOTPRequired, "no OTP was sent for this redemption; ask for one"), nil
	case rec.Tries >= OTPMaxTries:
		return refuse(ReasonOTPLocked, "too many wrong OTPs; ask for a new one"), nil
	case !now.Before(rec.ExpiresAt):
		return refuse(ReasonOTPExpired, "the OTP has expired; ask for a new one"), nil
	}
	if subtle.ConstantTimeCompare(otpHash(rec.Salt, otp), rec.Hash) != 1 {
		rec.Tries++
		if err := putJSON(b, []byte(member), rec); err != nil {
			return nil, err
		}
		if rec.Tries >= OTPMaxTries {
			return refuse(ReasonOTPLocked, "too many wrong OTPs; ask for a new one"), nil
		}
		return refuse(ReasonOTPInvalid, "wrong OTP", "tries_left", OTPMaxTries-rec.Tries), nil
	}
	if points > rec.Points {
		return refuse(ReasonOTPInvalid, fmt.Sprintf("the OTP authorises at most %d points", rec.Points)), nil
	}
	rec.Salt, rec.Hash, rec.Tries = nil, nil, 0 // consumed
	return nil, putJSON(b, []byte(member), rec)
}

// peekOTP is checkOTP without writing: the refusal it would give, for the
// checks made before asking HQ for a hold.
func peekOTP(tx *bbolt.Tx, p *engine.Programme, member string, points engine.Points, otp string, now time.Time) (*engine.Refusal, error) {
	if !otpNeeded(p.Redeem.OTP, points) {
		return nil, nil
	}
	var rec otpRecord
	found, err := getJSON(tx.Bucket(bucketOTPs), []byte(member), &rec)
	if err != nil {
		return nil, err
	}
	switch {
	case otp == "", !found || rec.Hash == nil:
		return refuse(ReasonOTPRequired, "this redemption needs an OTP"), nil
	case rec.Tries >= OTPMaxTries:
		return refuse(ReasonOTPLocked, "too many wrong OTPs"), nil
	case !now.Before(rec.ExpiresAt):
		return refuse(ReasonOTPExpired, "the OTP has expired"), nil
	case subtle.ConstantTimeCompare(otpHash(rec.Salt, otp), rec.Hash) != 1, points > rec.Points:
		return refuse(ReasonOTPInvalid, "wrong OTP"), nil
	}
	return nil, nil
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

// newCode draws a uniform OTPDigits-digit code and a salt from
// Config.Random.
func (n *Node) newCode() (code string, salt []byte, err error) {
	const space = 1_000_000 // 10^OTPDigits
	const limit = (1 << 32) / space * space
	var buf [4]byte
	for {
		if _, err := io.ReadFull(n.cfg.Random, buf[:]); err != nil {
			return "", nil, fmt.Errorf("node: otp random: %w", err)
		}
		if v := binary.BigEndian.Uint32(buf[:]); v < limit { // rejection keeps it uniform
			code = fmt.Sprintf("%0*d", OTPDigits, v%space)
			break
		}
	}
	salt = make([]byte, 16)
	if _, err := io.ReadFull(n.cfg.Random, salt); err != nil {
		return "", nil, fmt.Errorf("node: otp random: %w", err)
	}
	return code, salt, nil
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
