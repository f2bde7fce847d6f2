package posbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

type unavailableErr struct{}

func (unavailableErr) Error() string     { return "busy" }
func (unavailableErr) Unavailable() bool { return true }

func TestToRPCError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantData map[string]any
		wantMsg  string
	}{
		{"invalid params", &engine.Refusal{Reason: "invalid_params", Message: "tenders do not add up", Field: "tenders"},
			-32602, map[string]any{"reason": "invalid_params", "field": "tenders"}, "tenders do not add up"},
		{"details", &engine.Refusal{Reason: "insufficient_points", Message: "not enough", Details: map[string]any{"redeemable": engine.Points(120)}},
			-32040, map[string]any{"reason": "insufficient_points", "redeemable": engine.Points(120)}, "not enough"},
		{"details cannot override reason or field", &engine.Refusal{Reason: "card_blocked", Field: "card", Details: map[string]any{"reason": "x", "field": "y", "block_reason": "lost"}},
			-32012, map[string]any{"reason": "card_blocked", "field": "card", "block_reason": "lost"}, "card_blocked"},
		{"wrapped refusal", fmt.Errorf("node: sale: %w", &engine.Refusal{Reason: "receipt_conflict", Message: "m"}),
			-32030, map[string]any{"reason": "receipt_conflict"}, "m"},
		{"unknown reason", &engine.Refusal{Reason: "brand_new", Message: "m"}, -32000, map[string]any{"reason": "brand_new"}, "m"},
		{"node closed", fmt.Errorf("node: sale: %w", node.ErrClosed), -32001, map[string]any{"reason": "unavailable"}, ""},
		{"unavailabler", fmt.Errorf("x: %w", unavailableErr{}), -32001, map[string]any{"reason": "unavailable"}, ""},
		{"no programme yet", fmt.Errorf("node: identify: %w", node.ErrNoProgramme), -32001, map[string]any{"reason": "unavailable"},
			"no programme loaded yet (the store is waiting for HQ); retry later"},
		{"catching up", fmt.Errorf("node: sale: %w", node.ErrCatchingUp), -32001, map[string]any{"reason": "unavailable"}, ""},
		{"chain not upgraded", fmt.Errorf("node: enrol: %w", node.ErrChainFormat), -32060, map[string]any{"reason": "upgrade_pending"}, ""},
		{"deadline", context.DeadlineExceeded, -32001, map[string]any{"reason": "unavailable"}, ""},
		{"internal", errors.New("bbolt: /var/lib/patron/db: disk on fire"), -32603, map[string]any{"reason": "internal"}, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toRPCError(tt.err)
			if got.Code != tt.wantCode {
				t.Errorf("code %d, want %d", got.Code, tt.wantCode)
			}
			if fmt.Sprint(got.Data) != fmt.Sprint(tt.wantData) {
				t.Errorf("data %v, want %v", got.Data, tt.wantData)
			}
			if tt.wantMsg != "" && got.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", got.Message, tt.wantMsg)
			}
			if strings.Contains(got.Message, "/var") || strings.Contains(got.Message, "bbolt") {
				t.Errorf("message %q leaks internals", got.Message)
			}
		})
	}
}

// TestErrorTableDocumented keeps docs/protocol.md's error table and the
// code in step: every documented reason has the documented code, and every
// reason in the code is documented.
func TestErrorTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (-?\\d+) \\|")
	documented := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		code, _ := strconv.Atoi(m[2])
		documented[m[1]] = code
	}
	for reason, code := range reasonCodes {
		if got, ok := documented[reason]; !ok || got != code {
			t.Errorf("reason %s: code %d, documented %d (present %v)", reason, code, got, ok)
		}
	}
	for reason, code := range map[string]int{reasonInternal: codeInternal, reasonMethodNotFound: codeMethodNotFound} {
		if documented[reason] != code {
			t.Errorf("reason %s: code %d, documented %d", reason, code, documented[reason])
		}
	}
	seen := map[int]string{}
	for reason, code := range reasonCodes {
		if other, dup := seen[code]; dup {
			t.Errorf("code %d used by %s and %s", code, reason, other)
		}
		seen[code] = reason
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		frame      string
		wantID     string
		wantMethod string
		wantErr    int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"hello"}`, "1", "hello", 0},
		{`{"jsonrpc":"2.0","id":"a b","method":"hello","params":{}}`, `"a b"`, "hello", 0},
		{`{"jsonrpc":"2.0","method":"hello"}`, "", "hello", 0},
		{`{"jsonrpc":"2.0","id":-1.5e3,"method":"x","extra":1}`, "-1.5e3", "x", 0},
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, "", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":true,"method":"x"}`, "", "", codeInvalidRequest},
		{`{"jsonrpc":2,"id":1,"method":"x"}`, "", "", codeInvalidRequest},
		{`{"jsonrpc":"2.0","id":1,"method":"x"}{}`, "", "", codeParseError},
		{`  [1]`, "", "", codeInvalidRequest},
		{`[`, "", "", codeParseError},
		{``, "", "", codeParseError},
		{`null`, "", "", codeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			req, err := decodeRequest([]byte(tt.frame))
			if tt.wantErr != 0 {
				if got := toRPCError(err).Code; err == nil || got != tt.wantErr {
					t.Fatalf("err %v (code %d), want code %d", err, got, tt.wantErr)
				}
				return
			}
			if err != nil || string(req.ID) != tt.wantID || req.Method != tt.wantMethod {
				t.Fatalf("got %+v %v, want id %s method %s", req, err, tt.wantID, tt.wantMethod)
			}
		})
	}
}

// FuzzDecodeRequest feeds arbitrary frames through the request decoder and
// the params decoder of the largest method; neither may panic, and every
// answer they lead to must be a well-formed JSON-RPC response.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"sale.complete","params":{"receipt_no":"000123","basket":{"lines":[{"line":1,"sku":"000000007","qty":1,"unit_price":88000}]},"member":{"mobile":"+919876543210"},"redeem":{"points":400,"otp":"123456"},"tenders":[{"type":"cash","amount":76500},{"type":"points","amount":10000}],"expect":{"net":86500}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"hello","params":null}`,
		`[{"jsonrpc":"2.0","id":1,"method":"hello"}]`,
		`{"jsonrpc":"2.0","method":"sale.complete","params":{"basket":{"lines":[{"qty":"1"}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := decodeRequest(frame)
		if err == nil {
			var sale node.SaleRequest
			err = decodeParams(req.Params, &sale)
			if err == nil {
				if _, err := json.Marshal(sale); err != nil {
					t.Fatalf("decoded params do not re-encode: %v", err)
				}
			}
		}
		var out []byte
		if err != nil {
			out = encodeError(req.ID, toRPCError(err))
		} else {
			out, err = encodeResult(req.ID, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
		}
		var resp struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   *RPCError       `json:"error"`
		}
		if err := json.Unmarshal(out, &resp); err != nil || resp.JSONRPC != "2.0" || resp.ID == nil {
			t.Fatalf("response %s is not JSON-RPC: %v", out, err)
		}
		if resp.Error != nil && resp.Error.Reason() == "" {
			t.Fatalf("error without reason: %s", out)
		}
	})
}
