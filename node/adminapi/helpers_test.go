package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/node"
)

// The tokens of the test API.
const (
	adminToken = "hq-admin-token-0123456789"
	s1Token    = "manager-S001-token-0123456789"
	s2Token    = "manager-S002-token-0123456789"
)

var testTokens = []Token{
	{Role: RoleHQAdmin, Secret: adminToken},
	{Role: RoleStoreManager, Store: "S001", Secret: s1Token},
	{Role: RoleStoreManager, Store: "S002", Secret: s2Token},
}

// asha is the member the harness enrols.
const asha = "+919800000001"

// testStart is the harness clock's start: a Wednesday, 15:30 in Kolkata.
var testStart = time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)

// testProgramme earns 1 point per Rs 10 on books and 1 per Rs 20 on the
// rest; campaign C1 runs in June 2026 on weekdays 09:00 to 18:00 in
// Kolkata at every store, C2 only at S002.
func testProgramme(version string) []byte {
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
			"rounding": "floor",
		},
		"redeem": map[string]any{"point_value": 25, "min_points": 0, "max_share_pct": 100,
			"otp": "off", "offline_allowance_points": 0},
		"campaigns": []any{
			map[string]any{"id": "C1", "name": "June weekday pens", "level": "item", "order": 1,
				"valid":     map[string]any{"from": "2026-06-01", "to": "2026-06-30", "days": []string{"mon", "tue", "wed", "thu", "fri"}, "hours": []string{"09:00", "18:00"}},
				"condition": map[string]any{"items": map[string]any{"skus": []string{"PEN1"}}},
				"reward":    map[string]any{"percent": 10}},
			map[string]any{"id": "C2", "name": "S002 bonus", "level": "invoice", "order": 2, "stores": []string{"S002"},
				"reward": map[string]any{"bonus_points": 50}},
		},
		"consents": []any{map[string]any{"id": "programme_terms", "required": true}},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex // guards following
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// harness is an API over a real node on a temporary bbolt file, served
// by an httptest server.
type harness struct {
	t     testing.TB
	node  *node.Node
	api   *API
	srv   *httptest.Server
	clock *clock
	tmp   string // the API's TempDir
}

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: testStart}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Open(ctx, node.Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: "S001",
		Now: clk.Now, NoSync: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, testProgramme("test-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Enroll(ctx, "T01", node.EnrollRequest{Mobile: asha, FirstName: "Asha", LastName: "Rao",
		Email: "asha@example.com", Card: &node.CardRequest{Number: "C-1001", Type: "classic"},
		Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cfg := Config{Node: n, Tokens: testTokens, Now: clk.Now, Logger: logger, TempDir: tmp}
	for _, m := range mod {
		m(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := api.Close(); err != nil {
			t.Error(err)
		}
	})
	return &harness{t: t, node: n, api: api, srv: srv, clock: clk, tmp: tmp}
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with token (none if ""), a JSON body if body is
// not nil (a string or []byte is sent as is) and extra headers as
// name, value pairs.
func (h *harness) do(method, path, token string, body any, headers ...string) answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return answer{status: res.StatusCode, header: res.Header, body: data}
}

// decode decodes a JSON answer, failing unless its status is want.
func (a answer) decode(t testing.TB, want int, v any) {
	t.Helper()
	if a.status != want {
		t.Fatalf("status %d, want %d: %s", a.status, want, a.body)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// apiErr is an error answer's body.
type apiErr struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Field   string         `json:"field"`
		Details map[string]any `json:"details"`
	} `json:"error"`
	Errors []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

// wantError fails unless the answer is an error with status and code
// (and, when field is not "", that field).
func (a answer) wantError(t testing.TB, status int, code, field string) apiErr {
	t.Helper()
	var e apiErr
	a.decode(t, status, &e)
	if e.Error.Code != code {
		t.Fatalf("code %q, want %q: %s", e.Error.Code, code, a.body)
	}
	if field != "" && e.Error.Field != field {
		t.Fatalf("field %q, want %q: %s", e.Error.Field, field, a.body)
	}
	if e.Error.Message == "" {
		t.Fatalf("no message: %s", a.body)
	}
	return e
}

// sale is a back-office sale of qty books at Rs 450 for asha.
func sale(terminal, receiptNo string, qty int64) map[string]any {
	return map[string]any{"terminal": terminal, "receipt_no": receiptNo,
		"basket": map[string]any{"lines": []any{map[string]any{"line": 1, "sku": "BK1", "qty": qty, "unit_price": 45000}}},
		"member": map[string]any{"mobile": asha}}
}

// balance is asha's balance as the node holds it.
func (h *harness) balance() int64 {
	h.t.Helper()
	m, err := h.node.Identify(context.Background(), "", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: asha}})
	if err != nil {
		h.t.Fatal(err)
	}
	return int64(m.Points.Balance)
}
