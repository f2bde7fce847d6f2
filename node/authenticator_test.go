package node

import (
	"encoding/base32"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// TestTOTPVectors checks hotp against RFC 6238 Appendix B (8 digits; the
// keys are the ASCII digits repeated to the hash's size).
func TestTOTPVectors(t *testing.T) {
	keys := map[string][]byte{
		engine.TOTPSHA1:   []byte("12345678901234567890"),
		engine.TOTPSHA256: []byte("12345678901234567890123456789012"),
		engine.TOTPSHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	tests := []struct {
		unix               int64
		sha1, sha256, s512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tt := range tests {
		for alg, want := range map[string]string{engine.TOTPSHA1: tt.sha1, engine.TOTPSHA256: tt.sha256, engine.TOTPSHA512: tt.s512} {
			p := totpParams{secret: keys[alg], algorithm: alg, digits: 8, period: 30}
			if got := hotp(p, totpStep(time.Unix(tt.unix, 0), 30)); got != want {
				t.Errorf("%s at %d: %s, want %s", alg, tt.unix, got, want)
			}
		}
		// 6 digits are the last 6 of the 8 (the same truncation, mod 10^6).
		p := enrolledParams(keys[engine.TOTPSHA1])
		if got := hotp(p, totpStep(time.Unix(tt.unix, 0), 30)); got != tt.sha1[2:] {
			t.Errorf("6 digits at %d: %s, want %s", tt.unix, got, tt.sha1[2:])
		}
	}
	if got := totpStep(time.Unix(-1, 0), 30); got != -1 {
		t.Errorf("step of -1 s: %d, want -1 (floor)", got)
	}
}

// appKey is an authenticator app: the key it scanned from an enrolment.
type appKey struct{ p totpParams }

func scan(t testing.TB, e *AuthenticatorEnrolment) appKey {
	t.Helper()
	u, err := url.Parse(e.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("uri %q: %v", e.URI, err)
	}
	q := u.Query()
	if q.Get("secret") != e.Secret || q.Get("issuer") != AuthenticatorIssuer || q.Get("algorithm") != "SHA1" ||
		q.Get("digits") != "6" || q.Get("period") != "30" {
		t.Fatalf("uri %q does not carry the enrolment %+v", e.URI, e)
	}
	if strings.Contains(e.URI, "9876543210") {
		t.Errorf("uri %q shows the whole mobile", e.URI)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(secret) != TOTPSecretBytes {
		t.Fatalf("secret %q: %v", e.Secret, err)
	}
	return appKey{enrolledParams(secret)}
}

// code is the app's code at now, offset by skew steps.
func (a appKey) code(now time.Time, skew int64) string {
	return hotp(a.p, totpStep(now, a.p.period)+skew)
}

func (h *otpHarness) authenticator(t testing.TB, terminal string, req AuthenticatorRequest) *AuthenticatorAnswer {
	t.Helper()
	ans, err := h.Authenticator(ctx, terminal, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Action, err)
	}
	return ans
}

// link enrols and confirms an authenticator for member at T01.
func (h *otpHarness) link(t testing.TB, member string) appKey {
	t.Helper()
	ans := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: member, Action: AuthenticatorEnroll})
	app := scan(t, ans.Enrolment)
	sms := h.box.lastCode(t, engine.MessageAuthenticatorOTP)
	done := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: member, Action: AuthenticatorConfirm,
		Code: app.code(h.clock.Now(), 0), SMSOTP: sms})
	if done.Status != AuthenticatorActive {
		t.Fatalf("confirmed: %+v", done)
	}
	return app
}

// TestAuthenticatorEnrolConfirm: enrolment needs the SMS code and the
// app's code; asking again re-sends the same; a confirm retry replays.
func TestAuthenticatorEnrolConfirm(t *testing.T) {
	const asha = "+919876543210"
	h := newOTPHarness(t, "required", 11)
	h.enrolRich(t, asha)
	st := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorStatus})
	if st.Status != AuthenticatorNone || st.PendingUntil != nil || st.Enrolment != nil {
		t.Fatalf("status before: %+v", st)
	}
	first := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorEnroll})
	app := scan(t, first.Enrolment)
	sms := h.box.lastCode(t, engine.MessageAuthenticatorOTP)
	if first.Status != AuthenticatorNone || first.PendingUntil == nil || !first.Enrolment.ExpiresAt.Equal(testStart.Add(OTPValidity)) {
		t.Fatalf("enrolment %+v", first)
	}
	h.clock.Advance(time.Minute)
	again := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorEnroll})
	if again.Enrolment.Secret != first.Enrolment.Secret || h.box.lastCode(t, engine.MessageAuthenticatorOTP) != sms ||
		!again.Enrolment.ExpiresAt.Equal(first.Enrolment.ExpiresAt) {
		t.Fatalf("asked again: %+v, code %s; first %+v, code %s", again.Enrolment,
			h.box.lastCode(t, engine.MessageAuthenticatorOTP), first.Enrolment, sms)
	}
	if n := len(h.box.sent(engine.MessageAuthenticatorOTP)); n != 2 {
		t.Fatalf("%d texts, want 2", n)
	}

	confirm := func(code, smsCode string) (*AuthenticatorAnswer, error) {
		return h.Authenticator(ctx, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorConfirm, Code: code, SMSOTP: smsCode})
	}
	now := h.clock.Now()
	wantReason(t, mustFail(confirm(app.code(now, 2), sms)), ReasonOTPInvalid)                 // app's code off by 2 steps
	r := wantReason(t, mustFail(confirm(app.code(now, 0), wrongCode(sms))), ReasonOTPInvalid) // SMS code wrong
	if r.Details["tries_left"] != OTPMaxTries-1 || r.Details["field"] != "sms_otp" {
		t.Errorf("wrong SMS code: %+v", r.Details)
	}
	wantReason(t, mustFail(confirm("", sms)), ReasonInvalidParams)
	if st := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorStatus}); st.Status != AuthenticatorNone {
		t.Fatalf("linked before confirm: %+v", st)
	}
	req := AuthenticatorRequest{MemberID: asha, Action: AuthenticatorConfirm, Code: app.code(now, 0), SMSOTP: sms}
	done := h.authenticator(t, "T01", req)
	if done.Status != AuthenticatorActive || done.EnrolledStore != "S001" || done.PendingUntil != nil {
		t.Fatalf("confirmed: %+v", done)
	}
	if replay := h.authenticator(t, "T01", req); !reflect.DeepEqual(replay, done) {
		t.Fatalf("confirm retry: %+v, first %+v", replay, done)
	}
	wantReason(t, mustFail(h.Authenticator(ctx, "T02", req)), ReasonNotFound) // another till: nothing pending
	(&harness{Node: h.Node}).checkFold(t, asha)

	// The confirming code cannot redeem: its step is used.
	redeem := h.redeemer(asha, "T01")
	wantReason(t, redeem(app.code(now, 0), OTPKindTOTP), ReasonOTPInvalid)
	h.clock.Advance(TOTPPeriod * time.Second)
	if err := redeem(app.code(h.clock.Now(), 0), OTPKindTOTP); err != nil {
		t.Fatalf("redeem with the app: %v", err)
	}

	// An enrolment left unconfirmed lapses.
	const ravi = "+919800000002"
	h.enrolRich(t, ravi)
	h.authenticator(t, "T01", AuthenticatorRequest{MemberID: ravi, Action: AuthenticatorEnroll})
	h.clock.Advance(OTPValidity)
	wantReason(t, mustFail(h.Authenticator(ctx, "T01", AuthenticatorRequest{MemberID: ravi, Action: AuthenticatorConfirm,
		Code: "000000", SMSOTP: "000000"})), ReasonNotFound)

	for _, bad := range []AuthenticatorRequest{{Action: AuthenticatorStatus}, {MemberID: asha, Action: "pause"},
		{MemberID: asha, Action: AuthenticatorConfirm, Code: "123456"}, {MemberID: asha, Action: AuthenticatorRemove}} {
		wantReason(t, mustFail(h.Authenticator(ctx, "T01", bad)), ReasonInvalidParams)
	}
	wantReason(t, mustFail(h.Authenticator(ctx, "T01", AuthenticatorRequest{MemberID: "+910000000000", Action: AuthenticatorEnroll})),
		ReasonMemberNotFound)
}

// TestAuthenticatorRedeem: the app's code verifies a redemption; a used
// code is refused; ±1 step of skew passes and ±2 does not; wrong codes
// lock it for TOTPLockout; SMS OTPs still work; removal ends it.
func TestAuthenticatorRedeem(t *testing.T) {
	const asha = "+919876543210"
	h := newOTPHarness(t, "required", 12)
	h.enrolRich(t, asha)
	redeem := h.redeemer(asha, "T01")
	wantReason(t, redeem("123456", OTPKindTOTP), ReasonOTPRequired) // none linked
	app := h.link(t, asha)
	step := func() { h.clock.Advance(TOTPPeriod * time.Second) }

	tests := []struct {
		name   string
		skew   int64
		reason string
	}{
		{"now", 0, ""},
		{"app a step behind", -1, ""},
		{"app a step ahead", 1, ""},
		{"app two steps behind", -2, ReasonOTPInvalid},
		{"app two steps ahead", 2, ReasonOTPInvalid},
	}
	for _, tt := range tests {
		step()
		step()
		step() // past every step used so far
		err := redeem(app.code(h.clock.Now(), tt.skew), OTPKindTOTP)
		if tt.reason == "" && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.reason != "" {
			wantReason(t, err, tt.reason)
		}
	}

	// Replay: the same code again, and an older step after a newer one.
	step()
	now := h.clock.Now()
	if err := redeem(app.code(now, 0), OTPKindTOTP); err != nil {
		t.Fatal(err)
	}
	r := wantReason(t, redeem(app.code(now, 0), OTPKindTOTP), ReasonOTPInvalid)
	if _, counted := r.Details["tries_left"]; counted {
		t.Errorf("a replay counted as a wrong try: %+v", r.Details)
	}
	wantReason(t, redeem(app.code(now, -1), OTPKindTOTP), ReasonOTPInvalid)
	if err := redeem(app.code(now, 1), OTPKindTOTP); err != nil {
		t.Errorf("the next step: %v", err)
	}

	// The right codes since reset the count; five wrong ones lock it.
	step()
	step()
	step()
	for i := 1; i < OTPMaxTries; i++ {
		wantReason(t, redeem(wrongCode(app.code(h.clock.Now(), 0)), OTPKindTOTP), ReasonOTPInvalid)
	}
	r = wantReason(t, redeem(wrongCode(app.code(h.clock.Now(), 0)), OTPKindTOTP), ReasonOTPLocked)
	if r.Details["retry_at"] != h.clock.Now().Add(TOTPLockout).Format(time.RFC3339) {
		t.Errorf("lock: %+v", r.Details)
	}
	wantReason(t, redeem(app.code(h.clock.Now(), 0), OTPKindTOTP), ReasonOTPLocked)
	st := h.authenticator(t, "T01", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorStatus})
	if st.LockedUntil == nil {
		t.Errorf("status does not show the lock: %+v", st)
	}
	// An SMS OTP still works while the authenticator is locked.
	h.ask(t, asha, "T01", 100)
	if err := redeem(h.box.lastCode(t, engine.MessageOTP), OTPKindSMS); err != nil {
		t.Fatalf("sms while locked: %v", err)
	}
	h.clock.Advance(TOTPLockout)
	if err := redeem(app.code(h.clock.Now(), 0), OTPKindTOTP); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}

	// Removal needs a current code, and then the app no longer redeems.
	step()
	rm := AuthenticatorRequest{MemberID: asha, Action: AuthenticatorRemove, Code: wrongCode(app.code(h.clock.Now(), 0))}
	wantReason(t, mustFail(h.Authenticator(ctx, "T01", rm)), ReasonOTPInvalid)
	rm.Code = app.code(h.clock.Now(), 0)
	if ans := h.authenticator(t, "T01", rm); ans.Status != AuthenticatorNone {
		t.Fatalf("removed: %+v", ans)
	}
	if ans := h.authenticator(t, "T01", rm); ans.Status != AuthenticatorNone { // a retry
		t.Fatalf("removed again: %+v", ans)
	}
	step()
	wantReason(t, redeem(app.code(h.clock.Now(), 0), OTPKindTOTP), ReasonOTPRequired)
	(&harness{Node: h.Node}).checkFold(t, asha)
}

// TestAuthenticatorReplicates: the link travels to another store, which
// verifies the app's code on its own (no SMS, no HQ); a removal there
// comes back; both end with the same state.
func TestAuthenticatorReplicates(t *testing.T) {
	const asha = "+919876543210"
	a := newOTPHarness(t, "required", 21)
	a.enrolRich(t, asha)
	app := a.link(t, asha)

	b := newOTPHarness(t, "required", 22)
	copyAuthEvents(t, a.Node, b.Node)
	b.clock.Advance(TOTPPeriod * time.Second)
	if err := b.redeemer(asha, "T05")(app.code(b.clock.Now(), 0), OTPKindTOTP); err != nil {
		t.Fatalf("at the other store: %v", err)
	}
	if n := len(b.box.sent(engine.MessageOTP)); n != 0 {
		t.Fatalf("the other store texted %d OTPs", n)
	}
	b.clock.Advance(TOTPPeriod * time.Second)
	b.authenticator(t, "T05", AuthenticatorRequest{MemberID: asha, Action: AuthenticatorRemove, Code: app.code(b.clock.Now(), 0)})
	copyAuthEvents(t, b.Node, a.Node)
	a.clock.Advance(3 * TOTPPeriod * time.Second)
	wantReason(t, a.redeemer(asha, "T01")(app.code(a.clock.Now(), 0), OTPKindTOTP), ReasonOTPRequired)
	da, err := a.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da[DigestState] != db[DigestState] {
		t.Fatalf("states differ after sync: %v / %v", da, db)
	}
}

// copyAuthEvents applies to `to` every event `from` holds that `to` lacks.
func copyAuthEvents(t testing.TB, from, to *Node) {
	t.Helper()
	vv, err := from.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have, err := to.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for origin := range vv {
		evs, err := from.EventsAfter(ctx, origin, have[origin], 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
}
