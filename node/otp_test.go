package node

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
	"go.etcd.io/bbolt"
)

// lockedRand is a seeded, concurrency-safe Config.Random, so that codes
// and keys are the same on every run.
type lockedRand struct {
	mu sync.Mutex // guards following
	r  *rand.ChaCha8
}

func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

func seeded(seed byte) *lockedRand {
	var s [32]byte
	s[0] = seed
	return &lockedRand{r: rand.NewChaCha8(s)}
}

// textBox records every text sent, of every kind.
type textBox struct {
	mu   sync.Mutex // guards following
	msgs []sms.Message
}

func (b *textBox) Send(_ context.Context, m sms.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

// sent returns the texts of kind, oldest first.
func (b *textBox) sent(kind string) []sms.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sms.Message
	for _, m := range b.msgs {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// lastCode is the code in the last text of kind.
func (b *textBox) lastCode(t testing.TB, kind string) string {
	t.Helper()
	msgs := b.sent(kind)
	if len(msgs) == 0 {
		t.Fatalf("no %s text sent", kind)
	}
	return codeIn(t, msgs[len(msgs)-1].Text)
}

func codeIn(t testing.TB, text string) string {
	t.Helper()
	m := otpInText.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no code in %q", text)
	}
	return m[1]
}

// otpHarness is a node with a fake clock, a seeded Random and a textBox
// behind the outbox.
type otpHarness struct {
	*Node
	clock *fakeClock
	box   *textBox
	path  string
}

func newOTPHarness(t testing.TB, otp string, seed byte) *otpHarness {
	t.Helper()
	clock := &fakeClock{t: testStart}
	box := &textBox{}
	path := filepath.Join(t.TempDir(), "patron.db")
	n, err := Open(context.Background(), Config{Path: path, Store: "S001", Now: clock.Now, SMS: box,
		NoSync: true, Random: seeded(seed)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, testProgramme("test-1", otp)); err != nil {
		t.Fatal(err)
	}
	return &otpHarness{Node: n, clock: clock, box: box, path: path}
}

// enrolRich enrols a member with a card and a balance of 1000 points.
func (h *otpHarness) enrolRich(t testing.TB, mobile string) {
	t.Helper()
	req := EnrollRequest{Mobile: mobile, FirstName: "Asha", Consents: map[string]bool{"programme_terms": true}}
	if _, err := h.Enroll(ctx, "T01", req); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "seed-" + mobile, Basket: books(1, 1000000),
		Member: &Identifier{Mobile: mobile}}); err != nil {
		t.Fatal(err)
	}
}

// redeemer redeems 100 points for member at terminal, a new receipt
// each time.
func (h *otpHarness) redeemer(member, terminal string) func(code, kind string) error {
	n := 0
	return func(code, kind string) error {
		n++
		_, err := h.CompleteSale(ctx, terminal, SaleRequest{ReceiptNo: fmt.Sprintf("%s-%d", member[len(member)-4:], n),
			Member: &Identifier{Mobile: member}, Basket: books(1, 2500),
			Redeem:  &RedeemRequest{Points: 100, OTP: code, OTPKind: kind},
			Tenders: []Tender{{Type: "points", Amount: 2500}}})
		return err
	}
}

func (h *otpHarness) ask(t testing.TB, member, terminal string, points engine.Points) *OTPSent {
	t.Helper()
	sent, err := h.RequestOTP(ctx, terminal, OTPRequest{MemberID: member, Points: points})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

func wrongCode(code string) string { return fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000) }

// TestOTP walks the redemption OTP's rules: required, re-sent the same
// while valid, wrong tries that survive re-asking and lock it, expiry
// and a new code, the rate limit, consumption and the points bound.
func TestOTP(t *testing.T) {
	const asha = "+919876543210"
	h := newOTPHarness(t, "required", 1)
	h.enrolRich(t, asha)
	redeem := h.redeemer(asha, "T01")
	wantReason(t, redeem("", ""), ReasonOTPRequired)
	wantReason(t, redeem("123456", ""), ReasonOTPRequired) // none was sent

	first := h.ask(t, asha, "T01", 100)
	if first.SentTo != "+91******3210" || !first.ExpiresAt.Equal(testStart.Add(OTPValidity)) {
		t.Fatalf("sent %+v", first)
	}
	code := h.box.lastCode(t, engine.MessageOTP)
	for i := 1; i < OTPMaxTries; i++ {
		wantReason(t, redeem(wrongCode(code), ""), ReasonOTPInvalid)
	}

	// Asked again while valid: the same code, the same expiry, a text of
	// its own saying how long is left; the tries stay.
	h.clock.Advance(2*time.Minute + time.Second)
	again := h.ask(t, asha, "T01", 100)
	if got := h.box.lastCode(t, engine.MessageOTP); got != code {
		t.Fatalf("re-sent code %s, first %s", got, code)
	}
	if !again.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("re-send moved the expiry: %v, first %v", again.ExpiresAt, first.ExpiresAt)
	}
	texts := h.box.sent(engine.MessageOTP)
	if len(texts) != 2 || texts[0].ID == texts[1].ID {
		t.Fatalf("texts %+v: want two with distinct ids", texts)
	}
	if want := "Valid 3 minutes"; !bytes.Contains([]byte(texts[1].Text), []byte(want)) {
		t.Errorf("re-sent text %q lacks %q", texts[1].Text, want)
	}
	wantReason(t, redeem(wrongCode(code), ""), ReasonOTPLocked) // the 5th wrong try, across the re-send
	wantReason(t, redeem(code, ""), ReasonOTPLocked)            // even the right code now
	r := wantReason(t, mustFail(h.RequestOTP(ctx, "T01", OTPRequest{MemberID: asha, Points: 100})), ReasonOTPLocked)
	if r.Details["retry_at"] != first.ExpiresAt.Format(time.RFC3339) {
		t.Errorf("locked re-ask: retry_at %v, want the code's expiry", r.Details["retry_at"])
	}

	// After expiry: a new code, unlocked. 3 texts per 10 minutes: the
	// two above and this one.
	h.clock.Advance(3 * time.Minute)
	third := h.ask(t, asha, "T01", 100)
	fresh := h.box.lastCode(t, engine.MessageOTP)
	if fresh == code || !third.ExpiresAt.Equal(h.clock.Now().Add(OTPValidity)) {
		t.Fatalf("after expiry: code %s (old %s), expires %v", fresh, code, third.ExpiresAt)
	}
	wantReason(t, redeem(code, ""), ReasonOTPInvalid) // the old code is gone
	r = wantReason(t, mustFail(h.RequestOTP(ctx, "T01", OTPRequest{MemberID: asha, Points: 100})), ReasonOTPRateLimited)
	if r.Details["retry_at"] != testStart.Add(OTPSendWindow).Format(time.RFC3339) {
		t.Errorf("rate limited: retry_at %v", r.Details["retry_at"])
	}
	if err := redeem(fresh, ""); err != nil {
		t.Fatalf("right code: %v", err)
	}
	wantReason(t, redeem(fresh, ""), ReasonOTPRequired) // consumed

	// More points than the live code authorises: a new code, and the
	// wrong tries carry over to it.
	h.clock.Advance(OTPSendWindow)
	h.ask(t, asha, "T01", 50)
	small := h.box.lastCode(t, engine.MessageOTP)
	wantReason(t, redeem(small, ""), ReasonOTPInvalid) // authorised 50, asked 100: not a wrong try
	for i := 1; i < OTPMaxTries; i++ {
		wantReason(t, redeem(wrongCode(small), ""), ReasonOTPInvalid)
	}
	h.ask(t, asha, "T01", 100)
	big := h.box.lastCode(t, engine.MessageOTP)
	if big == small {
		t.Fatalf("more points re-sent the same code %s", big)
	}
	wantReason(t, redeem(wrongCode(big), ""), ReasonOTPLocked) // 5th wrong try overall
	wantReason(t, redeem(big, ""), ReasonOTPLocked)

	_, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+910000000000", Points: 1})
	wantReason(t, err, ReasonMemberNotFound)
	wantReason(t, redeem("123456", "push"), ReasonInvalidParams)
}

func mustFail[T any](_ T, err error) error { return err }

// TestOTPTerminalLimits: a terminal may ask for OTPTerminalMaxSends
// texts and give OTPTerminalMaxFails wrong codes per window, across
// members; another terminal is not held up.
func TestOTPTerminalLimits(t *testing.T) {
	h := newOTPHarness(t, "required", 2)
	members := make([]string, OTPTerminalMaxSends/OTPMaxSends+1)
	for i := range members {
		members[i] = fmt.Sprintf("+9198000%05d", i)
		h.enrolRich(t, members[i])
	}
	for _, m := range members[:len(members)-1] {
		for range OTPMaxSends {
			h.ask(t, m, "T01", 100)
		}
	}
	last := members[len(members)-1]
	r := wantReason(t, mustFail(h.RequestOTP(ctx, "T01", OTPRequest{MemberID: last, Points: 100})), ReasonOTPRateLimited)
	if r.Details["retry_at"] != testStart.Add(OTPSendWindow).Format(time.RFC3339) {
		t.Errorf("terminal limit: retry_at %v", r.Details["retry_at"])
	}
	h.ask(t, last, "T02", 100)
	code := h.box.lastCode(t, engine.MessageOTP)

	// Wrong codes across members count for the terminal.
	for i := range OTPTerminalMaxFails {
		m := members[i%3]
		wantReason(t, h.redeemer(m, "T01")("000000x", ""), ReasonOTPInvalid)
	}
	wantReason(t, h.redeemer(last, "T01")(code, ""), ReasonOTPRateLimited)
	if err := h.redeemer(last, "T02")(code, ""); err != nil {
		t.Fatalf("another terminal: %v", err)
	}
	h.clock.Advance(OTPSendWindow)
	h.ask(t, last, "T01", 100)
	if err := h.redeemer(last, "T01")(h.box.lastCode(t, engine.MessageOTP), ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestOTPStoredHashOnly: the digits of a code never reach the data file
// of a node without an outbox (texts go straight to the gateway), across
// a first send, a re-send, a wrong try and a use; with an outbox the
// OTP records still hold none (the outbox text holds it until sent:
// docs/otp.md).
func TestOTPStoredHashOnly(t *testing.T) {
	var logs syncBuffer
	clock := &fakeClock{t: testStart}
	path := filepath.Join(t.TempDir(), "patron.db")
	n, err := Open(ctx, Config{Path: path, Store: "S001", Now: clock.Now, NoSync: true, Random: seeded(3),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Close() }()
	if _, err := n.LoadProgramme(ctx, testProgramme("test-1", "required")); err != nil {
		t.Fatal(err)
	}
	h := &otpHarness{Node: n, clock: clock, box: &textBox{}, path: path}
	const asha = "+919876543210"
	h.enrolRich(t, asha)
	var codes []string
	for range 2 {
		h.ask(t, asha, "T01", 100)
		codes = append(codes, lastLoggedCode(t, &logs))
	}
	if codes[0] != codes[1] {
		t.Fatalf("re-send %s, first %s", codes[1], codes[0])
	}
	wantReason(t, h.redeemer(asha, "T01")(wrongCode(codes[0]), ""), ReasonOTPInvalid)
	for _, when := range []string{"pending", "used"} {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if isolated(codes[0]).Match(data) {
			t.Fatalf("%s: the code %s is in the data file", when, codes[0])
		}
		if n, err = Open(ctx, Config{Path: path, Store: "S001", Now: clock.Now, NoSync: true, Random: seeded(4),
			Logger: slog.New(slog.NewJSONHandler(&logs, nil))}); err != nil {
			t.Fatal(err)
		}
		h.Node = n
		if when == "pending" {
			if err := h.redeemer(asha, "T01")(codes[0], ""); err != nil {
				t.Fatalf("the code after reopening: %v", err)
			}
		}
	}

	// With an outbox: the texts wait with the code left out (the outbox
	// derives it at send), so the data file never holds it — not in the
	// OTP bucket, not in the outbox, not in a freed page.
	o := newOTPHarness(t, "required", 5)
	o.enrolRich(t, asha)
	o.ask(t, asha, "T01", 100)
	o.ask(t, asha, "T01", 100)
	code := o.box.lastCode(t, engine.MessageOTP)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(o.path)
	if err != nil {
		t.Fatal(err)
	}
	if isolated(code).Match(data) {
		t.Fatalf("with an outbox: the code %s is in the data file", code)
	}
}

// isolated matches code not inside a longer run of digits (a time or
// HLC in the file may hold any six digits).
func isolated(code string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^0-9])` + code + `([^0-9]|$)`)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex // guards following
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func lastLoggedCode(t testing.TB, s *syncBuffer) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	all := regexp.MustCompile(`"text":"(\d{6}) is your OTP`).FindAllStringSubmatch(s.b.String(), -1)
	if len(all) == 0 {
		t.Fatalf("no OTP logged in %s", s.b.String())
	}
	return all[len(all)-1][1]
}

// TestOTPResendThroughOutbox: a re-send is a new outbox message with the
// same code, and a message the gateway took loses its text.
func TestOTPResendThroughOutbox(t *testing.T) {
	h := newOTPHarness(t, "required", 6)
	const asha = "+919876543210"
	h.enrolRich(t, asha)
	h.ask(t, asha, "T01", 100)
	h.ask(t, asha, "T07", 100)
	texts := h.box.sent(engine.MessageOTP)
	if len(texts) != 2 || codeIn(t, texts[0].Text) != codeIn(t, texts[1].Text) {
		t.Fatalf("texts %+v", texts)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := h.OutboxMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var otps []OutboxMessage
		for _, m := range msgs {
			if m.Kind == engine.MessageOTP {
				otps = append(otps, m)
			}
		}
		if len(otps) != 2 || otps[0].ID == otps[1].ID {
			t.Fatalf("outbox %+v", otps)
		}
		if otps[0].State == OutboxSent && otps[1].State == OutboxSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox never marked both sent: %+v", otps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := h.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			if isolated(codeIn(t, texts[0].Text)).Match(v) {
				t.Errorf("sent message %q keeps its text: %s", k, v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeriveCode: the derivation is a function of its inputs, gives 6
// digits, and each input changes the code.
func TestDeriveCode(t *testing.T) {
	key := bytes.Repeat([]byte{9}, otpKeyBytes)
	salt := bytes.Repeat([]byte{1}, otpSaltBytes)
	base, err := deriveCode(key, purposeRedeem, "+919876543210", salt, testStart)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(base) {
		t.Fatalf("code %q", base)
	}
	again, _ := deriveCode(key, purposeRedeem, "+919876543210", salt, testStart)
	if again != base {
		t.Fatalf("not deterministic: %s, %s", base, again)
	}
	otherKey := bytes.Repeat([]byte{8}, otpKeyBytes)
	otherSalt := bytes.Repeat([]byte{2}, otpSaltBytes)
	for name, code := range map[string]func() (string, error){
		"key":     func() (string, error) { return deriveCode(otherKey, purposeRedeem, "+919876543210", salt, testStart) },
		"purpose": func() (string, error) { return deriveCode(key, purposeAuthenticator, "+919876543210", salt, testStart) },
		"member":  func() (string, error) { return deriveCode(key, purposeRedeem, "+919876543211", salt, testStart) },
		"salt":    func() (string, error) { return deriveCode(key, purposeRedeem, "+919876543210", otherSalt, testStart) },
		"time":    func() (string, error) { return deriveCode(key, purposeRedeem, "+919876543210", salt, testStart.Add(1)) },
	} {
		c, err := code()
		if err != nil || c == base {
			t.Errorf("another %s gives %s (%v), the same as %s", name, c, err, base)
		}
	}
	// Over many salts every leading digit turns up about equally often.
	var counts [10]int
	for i := range 20000 {
		s := fmt.Appendf(nil, "salt-%08d", i)
		c, err := deriveCode(key, purposeRedeem, "+919876543210", s, testStart)
		if err != nil {
			t.Fatal(err)
		}
		counts[c[0]-'0']++
	}
	for d, c := range counts {
		if c < 1700 || c > 2300 { // expected 2000, sd ≈ 42
			t.Errorf("leading digit %d: %d of 20000", d, c)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
