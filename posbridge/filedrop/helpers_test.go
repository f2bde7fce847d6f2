package filedrop

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/prometheus/client_golang/prometheus"
)

// samplesDir holds the real NCR ACS POSLog files; CI checks shared/ out
// beside the repository. A missing sample is a failure, not a skip.
const samplesDir = "../../../shared/samples/poslog"

// poslogTestdata holds the parser's hand-written ARTS files.
const poslogTestdata = "../poslog/testdata"

const (
	memberMobile = "+15551234567"
	memberCard   = "9990001234"
)

// testProgramme: USD, 1 point per 1.00 paid, points worth 0.25, OTP as
// given, and a personal 5.00-off coupon for the test member.
func testProgramme(otp string) []byte {
	doc := map[string]any{
		"version": "fd-1", "currency": "USD", "minor_digits": 2, "timezone": "UTC",
		"default_country_code": "+1",
		"catalogue": map[string]any{
			"products":        []any{map[string]any{"sku": "TEA", "name": "Tea", "category": "grocery", "price": 5000}},
			"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"},
		},
		"earn": map[string]any{"basis": "net_paid", "rounding": "floor",
			"rates": []any{map[string]any{"category": "*", "points": 1, "per": 100}}},
		"redeem": map[string]any{"point_value": 25, "min_points": 0, "max_share_pct": 100,
			"otp": otp, "offline_allowance_points": 0},
		"campaigns": []any{
			map[string]any{"id": "C5", "name": "5.00 off your next visit", "level": "invoice", "order": 1,
				"coupon_required": true, "reward": map[string]any{"amount_off": 500}},
		},
		"coupons": []any{
			map[string]any{"campaign": "C5", "codes": []string{"FIVE-OFF-1"}, "member": memberMobile, "valid_to": "2099-12-31"},
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

// rig is a real node on a temp bbolt file with a bridge on temp folders.
type rig struct {
	node   *node.Node
	bridge *Bridge
	cfg    Config
	reg    *prometheus.Registry
	clock  *fakeClock
}

func newRig(t *testing.T, store, otp string) *rig {
	t.Helper()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	n, err := node.Open(ctx, node.Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: store, NoSync: true, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, testProgramme(otp)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now()}
	cfg := Config{Inbox: filepath.Join(dir, "inbox"), Outbox: filepath.Join(dir, "outbox"), Metrics: reg, Now: clock.Now,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		StableFor: time.Second, PollInterval: 10 * time.Millisecond}
	b, err := New(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{node: n, bridge: b, cfg: cfg, reg: reg, clock: clock}
}

// enroll enrols the test member with the test card.
func (r *rig) enroll(t *testing.T) *node.Member {
	t.Helper()
	m, err := r.node.Enroll(context.Background(), "T01", node.EnrollRequest{Mobile: memberMobile, FirstName: "Asha",
		Card: &node.CardRequest{Number: memberCard}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rig) balance(t *testing.T) engine.Points {
	t.Helper()
	m, err := r.node.Identify(context.Background(), "T01", node.IdentifyRequest{Identifier: &node.Identifier{Card: memberCard}})
	if err != nil {
		t.Fatal(err)
	}
	return m.Points.Balance
}

// drop copies src into the inbox as name (via a temporary name and a
// rename, as a careful till does) and returns its inbox path.
func (r *rig) drop(t *testing.T, src, name string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	return r.dropBytes(t, data, name)
}

func (r *rig) dropBytes(t *testing.T, data []byte, name string) string {
	t.Helper()
	path := filepath.Join(r.cfg.Inbox, name)
	tmp := filepath.Join(r.cfg.Inbox, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// process runs ProcessFile and fails the test on an error.
func (r *rig) process(t *testing.T, path string) Report {
	t.Helper()
	rep, err := r.bridge.ProcessFile(context.Background(), path)
	if err != nil {
		t.Fatalf("ProcessFile(%s): %v", filepath.Base(path), err)
	}
	return rep
}

// counter reads a counter (with labels name=value pairs) from the registry;
// 0 when absent.
func (r *rig) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			ok := true
			for i := 0; i+1 < len(labels); i += 2 {
				ok = ok && got[labels[i]] == labels[i+1]
			}
			if ok {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func wantOutcome(t *testing.T, rep Report, want string) {
	t.Helper()
	if rep.Outcome != want {
		t.Fatalf("%s: outcome %s (error %q), want %s", rep.File, rep.Outcome, rep.Error, want)
	}
}

// txWith finds the report of the transaction whose id contains sub.
func txWith(t *testing.T, rep Report, sub string) TxReport {
	t.Helper()
	for _, tx := range rep.Transactions {
		if strings.Contains(tx.ID, sub) {
			return tx
		}
	}
	t.Fatalf("%s: no transaction %s in %+v", rep.File, sub, rep.Transactions)
	return TxReport{}
}
