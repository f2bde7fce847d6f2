package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/bbolt"
)

// scriptedSender records what it sends; fail, when set, decides each
// attempt's error.
type scriptedSender struct {
	mu       sync.Mutex // guards following
	sent     []sms.Message
	attempts map[string]int
	fail     func(m sms.Message, attempt int) error
}

func (s *scriptedSender) Send(_ context.Context, m sms.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts == nil {
		s.attempts = map[string]int{}
	}
	s.attempts[m.ID]++
	if s.fail != nil {
		if err := s.fail(m, s.attempts[m.ID]); err != nil {
			return err
		}
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *scriptedSender) setFail(f func(sms.Message, int) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// texts lists what was sent, "id: text", OTPs left out.
func (s *scriptedSender) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.sent {
		if m.Kind != engine.MessageOTP {
			out = append(out, m.ID+": "+m.Text)
		}
	}
	return out
}

func (s *scriptedSender) tries(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

// outboxHarness is a node with a scripted sender and metrics.
type outboxHarness struct {
	*harness
	sender *scriptedSender
	reg    *prometheus.Registry
}

func newOutboxHarness(t *testing.T) *outboxHarness {
	t.Helper()
	clock := &fakeClock{t: testStart}
	s := &scriptedSender{}
	reg := prometheus.NewRegistry()
	cfg := Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: "S001", Now: clock.Now,
		SMS: s, NoSync: true, Metrics: reg}
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, testProgramme("test-1", "required")); err != nil {
		t.Fatal(err)
	}
	return &outboxHarness{harness: &harness{Node: n, cfg: cfg, clock: clock}, sender: s, reg: reg}
}

// reopen closes the node and opens it again on the same file.
func (h *outboxHarness) reopen(t *testing.T) {
	t.Helper()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	h.cfg.Metrics = h.reg
	n, err := Open(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	h.Node = n
}

// state polls until message id is in state.
func (h *outboxHarness) waitState(t *testing.T, id, state string) OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, err := h.OutboxMessages(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID == id && m.State == state {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s never reached %s: %+v", id, state, msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// advance moves the clock and wakes the outbox.
func (h *outboxHarness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.outbox.kick()
}

func (h *outboxHarness) counter(name string) float64 {
	mfs, _ := h.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

func TestOutboxSaleTextsOnceWithBalance(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "")
	sale := SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile("+919876543210")}
	rc, err := h.CompleteSale(ctx, "T01", sale)
	if err != nil {
		t.Fatal(err)
	}
	earnedID := rc.ReceiptID + "/points_earned"
	h.waitState(t, earnedID, OutboxSent)
	// A replay of the sale (a till retrying) queues nothing new.
	if _, err := h.CompleteSale(ctx, "T01", sale); err != nil {
		t.Fatal(err)
	}
	otp := h.askOTP(t, "+919876543210", 40)
	rc2, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "2", Basket: books(1, 1000), Member: mobile("+919876543210"),
		Redeem: &RedeemRequest{Points: 40, OTP: otp}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, rc2.ReceiptID+"/points_redeemed", OutboxSent)
	got := h.sender.texts()
	want := []string{
		fmt.Sprintf("%s: You earned %d points. Your balance is %d points.", earnedID, rc.Points.Earned, rc.Points.Balance),
		fmt.Sprintf("%s/points_redeemed: You redeemed 40 points. Your balance is %d points.", rc2.ReceiptID, rc2.Points.Balance),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if q, s := h.counter("patron_node_sms_queued_total"), h.counter("patron_node_sms_sent_total"); q != 3 || s != 3 {
		t.Fatalf("queued %v sent %v, want 3 and 3 (two sale texts and an OTP)", q, s)
	}
}

// askOTP requests an OTP and returns its code.
func (h *outboxHarness) askOTP(t *testing.T, member string, points engine.Points) string {
	t.Helper()
	if _, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: member, Points: points}); err != nil {
		t.Fatal(err)
	}
	h.sender.mu.Lock()
	defer h.sender.mu.Unlock()
	for i := len(h.sender.sent) - 1; i >= 0; i-- {
		if m := h.sender.sent[i]; m.Kind == engine.MessageOTP {
			return otpInText.FindString(m.Text)
		}
	}
	t.Fatal("no OTP sent before RequestOTP returned")
	return ""
}

func TestOutboxRetriesWithBackoffThenGivesUp(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "")
	h.sender.setFail(func(m sms.Message, attempt int) error {
		if attempt <= 3 {
			return errors.New("gateway busy")
		}
		return nil
	})
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile("+919876543210")})
	if err != nil {
		t.Fatal(err)
	}
	id := rc.ReceiptID + "/points_earned"
	for attempt := 1; attempt <= 3; attempt++ {
		m := h.waitState(t, id, OutboxPending)
		for m.Attempts < attempt {
			m = h.waitState(t, id, OutboxPending)
		}
		if h.sender.tries(id) != attempt {
			t.Fatalf("after %d failures: %d tries (back-off not honoured)", attempt, h.sender.tries(id))
		}
		h.advance(outboxBackoff(attempt))
	}
	m := h.waitState(t, id, OutboxSent)
	if m.Attempts != 4 || h.counter("patron_node_sms_retried_total") != 3 {
		t.Fatalf("attempts %d, retried %v; want 4 and 3", m.Attempts, h.counter("patron_node_sms_retried_total"))
	}

	// A permanent failure is not retried.
	h.sender.setFail(func(sms.Message, int) error { return fmt.Errorf("bad number: %w", sms.ErrPermanent) })
	rc, err = h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "2", Basket: books(1, 100000), Member: mobile("+919876543210")})
	if err != nil {
		t.Fatal(err)
	}
	id = rc.ReceiptID + "/points_earned"
	m = h.waitState(t, id, OutboxFailed)
	h.advance(OutboxRetryMax)
	h.waitState(t, id, OutboxFailed)
	if h.sender.tries(id) != 1 || !strings.Contains(m.LastError, "bad number") || h.counter("patron_node_sms_failed_total") != 1 {
		t.Fatalf("tries %d, %+v, failed %v", h.sender.tries(id), m, h.counter("patron_node_sms_failed_total"))
	}
}

func TestOutboxBackoff(t *testing.T) {
	var total time.Duration
	for a := 1; a < OutboxMaxAttempts; a++ {
		d := outboxBackoff(a)
		if d < OutboxRetryMin || d > OutboxRetryMax {
			t.Fatalf("backoff(%d) = %v", a, d)
		}
		total += d
	}
	if outboxBackoff(1) != OutboxRetryMin || outboxBackoff(100) != OutboxRetryMax {
		t.Fatal("backoff bounds")
	}
	t.Logf("a message is tried for %v before it is given up", total)
}

func TestOutboxSurvivesRestart(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "")
	h.sender.setFail(func(sms.Message, int) error { return errors.New("gateway down") })
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile("+919876543210")})
	if err != nil {
		t.Fatal(err)
	}
	id := rc.ReceiptID + "/points_earned"
	h.waitState(t, id, OutboxPending)
	for h.sender.tries(id) == 0 {
		time.Sleep(time.Millisecond)
	}
	h.sender.setFail(nil)
	h.reopen(t)
	h.advance(OutboxRetryMin)
	h.waitState(t, id, OutboxSent)
	if got := h.sender.texts(); len(got) != 1 || !strings.HasPrefix(got[0], id) {
		t.Fatalf("sent %q, want the one text once", got)
	}
}

func TestOutboxMarketingNeedsConsentAtSendTime(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "") // gives sms_marketing
	if _, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: "+919876500000",
		Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	h.sender.setFail(func(m sms.Message, attempt int) error {
		if attempt == 1 {
			return errors.New("busy")
		}
		return nil
	})
	queue := func(id, member string) {
		t.Helper()
		err := h.update(func(tx *bbolt.Tx) error {
			return h.queueTx(tx, outMessage{id: id, kind: engine.MessageBirthday, member: member, text: "Happy birthday!"}, h.now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queue("bday/1", "+919876543210")
	queue("bday/2", "+919876500000") // no consent: never queued
	h.waitState(t, "bday/1", OutboxPending)
	for h.sender.tries("bday/1") == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := h.SetConsents(ctx, "T01", ConsentsRequest{MemberID: "+919876543210",
		Set: map[string]bool{"sms_marketing": false}}); err != nil {
		t.Fatal(err)
	}
	h.advance(OutboxRetryMin)
	h.waitState(t, "bday/1", OutboxSkipped)
	msgs, _ := h.OutboxMessages(ctx, 100)
	for _, m := range msgs {
		if m.ID == "bday/2" {
			t.Fatalf("queued without consent: %+v", m)
		}
	}
	if got := h.sender.texts(); len(got) != 0 {
		t.Fatalf("sent %q", got)
	}
}

func TestOutboxOTPExpiresAndLeavesNoText(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "")
	h.sender.setFail(func(sms.Message, int) error { return errors.New("down") })
	// A retryable failure leaves the code queued: RequestOTP answers sent.
	if _, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+919876543210", Points: 10}); err != nil {
		t.Fatal(err)
	}
	h.advance(OTPValidity)
	var id string
	deadline := time.Now().Add(5 * time.Second)
	for id == "" {
		msgs, _ := h.OutboxMessages(ctx, 10)
		for _, m := range msgs {
			if m.Kind == engine.MessageOTP && m.State == OutboxExpired {
				id = m.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the OTP never expired: %+v", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := h.db.View(func(tx *bbolt.Tx) error {
		var rec outboxRecord
		if _, err := getJSON(tx.Bucket(bucketOutbox), []byte(id), &rec); err != nil {
			return err
		}
		if rec.Text != "" {
			return fmt.Errorf("expired OTP text kept on disk: %q", rec.Text)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A permanent failure is the till's error.
	h.sender.setFail(func(sms.Message, int) error { return fmt.Errorf("no: %w", sms.ErrPermanent) })
	h.advance(OTPSendWindow)
	if _, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+919876543210", Points: 10}); !errors.Is(err, sms.ErrPermanent) {
		t.Fatalf("got %v, want the permanent failure", err)
	}
}

func TestOutboxReceiptsAndPruning(t *testing.T) {
	h := newOutboxHarness(t)
	h.enroll(t, "+919876543210", "", "")
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 100000), Member: mobile("+919876543210")})
	if err != nil {
		t.Fatal(err)
	}
	id := rc.ReceiptID + "/points_earned"
	h.waitState(t, id, OutboxSent)
	if err := h.RecordReceipt(ctx, sms.Receipt{ID: id, Delivered: true, Status: "DELIVRD", At: h.now()}); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, id, OutboxDelivered)
	if err := h.RecordReceipt(ctx, sms.Receipt{ID: "unknown", Delivered: true}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(h.metrics.smsDelivered); got != 1 {
		t.Fatalf("delivered %v", got)
	}
	h.advance(OutboxKeepDone + time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, _ := h.OutboxMessages(ctx, 10)
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not pruned: %+v", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Pruned ids are gone from the due index too.
	err = h.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketOutboxDue).Cursor().First(); k != nil {
			return fmt.Errorf("due entry left: %q", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNoOutboxWithoutSender(t *testing.T) {
	cfg := Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: "S001", NoSync: true}
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.outbox != nil {
		t.Fatal("an outbox without Config.SMS")
	}
}
