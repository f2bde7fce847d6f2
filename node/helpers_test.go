package node

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
)

// testProgramme is the seed case's programme (books earn 1 per Rs 10, the
// rest 1 per Rs 20; gold cards ×1.5) plus consents, tiers, a coupon
// campaign and OTP mode otp.
func testProgramme(version, otp string) []byte {
	doc := map[string]any{
		"version": version, "currency": "INR", "minor_digits": 2,
		"timezone": "Asia/Kolkata", "default_country_code": "+91",
		"catalogue": map[string]any{
			"products": []any{
				map[string]any{"sku": "BK1", "name": "Novel", "category": "books", "price": 45000},
				map[string]any{"sku": "PEN1", "name": "Pen", "category": "stationery", "price": 12000},
			},
			"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"},
		},
		"earn": map[string]any{
			"basis": "net_paid",
			"rates": []any{
				map[string]any{"category": "books", "points": 1, "per": 1000},
				map[string]any{"category": "*", "points": 1, "per": 2000},
			},
			"card_types": map[string]any{
				"gold":    map[string]any{"multiplier_pct": 150},
				"classic": map[string]any{"multiplier_pct": 100},
			},
			"rounding": "floor",
		},
		"redeem": map[string]any{"point_value": 25, "min_points": 0, "max_share_pct": 100,
			"otp": otp, "offline_allowance_points": 0},
		"campaigns": []any{
			map[string]any{"id": "C7", "name": "Rs 10 off with a coupon", "level": "invoice", "order": 1,
				"coupon_required": true, "reward": map[string]any{"amount_off": 1000}},
		},
		"coupons": []any{
			map[string]any{"campaign": "C7", "codes": []string{"WELCOME-1", "OLD-1"}, "uses_per_code": 1},
			map[string]any{"campaign": "C7", "codes": []string{"SHORT-1"}, "uses_per_code": 1, "valid_to": "2026-06-03"},
			map[string]any{"campaign": "C7", "codes": []string{"ASHA-ONLY"}, "member": "+919800000001"},
			map[string]any{"campaign": "C7", "generate": 3, "prefix": "DIW"},
		},
		"tiers": []any{
			map[string]any{"name": "classic", "min_spend": 0},
			map[string]any{"name": "silver", "min_spend": 1000000},
		},
		"tier_window_days": 365,
		"consents": []any{
			map[string]any{"id": "programme_terms", "required": true},
			map[string]any{"id": "sms_marketing"},
		},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex // guards following
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// smsBox records the texts sent.
type smsBox struct {
	mu    sync.Mutex // guards following
	texts []string
}

func (s *smsBox) Send(_ context.Context, m sms.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Kind == engine.MessageOTP {
		s.texts = append(s.texts, m.To+" "+m.Text)
	}
	return nil
}

var otpInText = regexp.MustCompile(`\b(\d{6})\b`)

// lastOTP is the code of the last text.
func (s *smsBox) lastOTP(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.texts) == 0 {
		t.Fatal("no SMS sent")
	}
	m := otpInText.FindStringSubmatch(s.texts[len(s.texts)-1])
	if m == nil {
		t.Fatalf("no OTP in %q", s.texts[len(s.texts)-1])
	}
	return m[1]
}

// harness is a node on a temp file with a fake clock.
type harness struct {
	*Node
	cfg   Config
	clock *fakeClock
	sms   *smsBox
}

var testStart = time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)

func newHarness(t testing.TB, otp string) *harness {
	t.Helper()
	clock := &fakeClock{t: testStart}
	sms := &smsBox{}
	cfg := Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: "S001", Now: clock.Now,
		SMS: sms, NoSync: true}
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(context.Background(), testProgramme("test-1", otp)); err != nil {
		t.Fatal(err)
	}
	return &harness{Node: n, cfg: cfg, clock: clock, sms: sms}
}

var ctx = context.Background()

// enroll enrols a member with every consent and an optional card.
func (h *harness) enroll(t testing.TB, mobile, card, cardType string) *Member {
	t.Helper()
	req := EnrollRequest{Mobile: mobile, FirstName: "Asha", LastName: "Rao",
		Consents: map[string]bool{"programme_terms": true, "sms_marketing": true}}
	if card != "" {
		req.Card = &CardRequest{Number: card, Type: cardType}
	}
	m, err := h.Enroll(ctx, "T01", req)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// books is a basket of qty BK1 at price each.
func books(qty int64, price engine.Money) *engine.Basket {
	return &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: qty, UnitPrice: price}}}
}

func mobile(m string) *Identifier { return &Identifier{Mobile: m} }

// wantReason fails unless err is a refusal with reason.
func wantReason(t testing.TB, err error, reason string) *engine.Refusal {
	t.Helper()
	var r *engine.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("got error %v, want refusal %s", err, reason)
	}
	if r.Reason != reason {
		t.Fatalf("got refusal %s (%s), want %s", r.Reason, r.Message, reason)
	}
	return r
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkFold fails unless a member's stored balance equals the fold of its
// ledger.
func (h *harness) checkFold(t testing.TB, member string) engine.Points {
	t.Helper()
	entries, bal, err := h.Entries(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if got := engine.Fold(entries); got != bal {
		t.Fatalf("Fold(entries) = %d, stored balance %d", got, bal)
	}
	return bal
}

func has(s []string, x string) bool {
	for _, v := range s {
		if strings.Contains(v, x) {
			return true
		}
	}
	return false
}
