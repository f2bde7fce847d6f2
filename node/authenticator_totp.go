package node

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"time"

	"github.com/patron/patron/engine"
)

// TOTP (RFC 6238 over RFC 4226's HOTP), standard library only: the check
// needs the clock, so it lives here and not in the engine, which only
// carries the key.

// TOTP parameters the node enrols, and how it checks codes.
const (
	// TOTPAlgorithm, TOTPDigits and TOTPPeriod are what every
	// authenticator app supports (Google Authenticator ignores anything
	// else).
	TOTPAlgorithm = engine.TOTPSHA1
	TOTPDigits    = 6
	TOTPPeriod    = 30 // seconds
	// TOTPSkewSteps is the clock skew tolerated each way, in steps: a
	// phone up to 30 s off, and a code typed just as it rolled over.
	TOTPSkewSteps = 1
	// TOTPSecretBytes is RFC 4226's recommended 160-bit key.
	TOTPSecretBytes = 20
)

// totpParams are the parameters of one key.
type totpParams struct {
	secret    []byte
	algorithm string
	digits    int
	period    int
}

func paramsOf(a *engine.AuthenticatorState) totpParams {
	return totpParams{secret: a.Secret, algorithm: a.Algorithm, digits: a.Digits, period: a.Period}
}

// enrolledParams are the parameters of a key the node enrols.
func enrolledParams(secret []byte) totpParams {
	return totpParams{secret: secret, algorithm: TOTPAlgorithm, digits: TOTPDigits, period: TOTPPeriod}
}

// totpStep is the RFC 6238 time step of t: floor(unix seconds / period).
func totpStep(t time.Time, period int) int64 {
	s := t.Unix()
	step := s / int64(period)
	if s%int64(period) < 0 {
		step-- // floor, not truncation, before 1970
	}
	return step
}

// hotp is RFC 4226's HOTP value of counter, as digits decimal digits.
func hotp(p totpParams, counter int64) string {
	var h func() hash.Hash
	switch p.algorithm {
	case engine.TOTPSHA256:
		h = sha256.New
	case engine.TOTPSHA512:
		h = sha512.New
	default:
		h = sha1.New
	}
	mac := hmac.New(h, p.secret)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(counter)))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range p.digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", p.digits, v%mod)
}

// totpMatch compares code with the codes of the steps within
// TOTPSkewSteps of now, all of them, in constant time each. matched is
// true when any step's code equals it; step is the latest such step after
// last (fresh), so a code whose step was used already matches but is not
// fresh.
func totpMatch(p totpParams, code string, now time.Time, last int64) (step int64, fresh, matched bool) {
	cur := totpStep(now, p.period)
	for s := cur - TOTPSkewSteps; s <= cur+TOTPSkewSteps; s++ {
		if subtle.ConstantTimeCompare([]byte(hotp(p, s)), []byte(code)) != 1 {
			continue
		}
		matched = true
		if s > last {
			step, fresh = s, true
		}
	}
	return step, fresh, matched
}
