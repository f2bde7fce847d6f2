package adminapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/patron/patron/node"
)

// TestBackOfficeSale: a back-office sale earns points like a till's; its
// retry gets the same answer and earns nothing more; other params under
// the same receipt_no are 409 receipt_conflict; the posting system's
// name comes from the body or the header.
func TestBackOfficeSale(t *testing.T) {
	h := newHarness(t)
	before := h.balance()
	a := h.do("POST", "/api/v1/sales", s1Token, sale("ERP", "000123", 2))
	var rc node.Receipt
	a.decode(t, 200, &rc)
	if rc.ReceiptID != "S001-BO.ERP-000123" || rc.MemberID != asha || rc.Points.Earned <= 0 ||
		int64(rc.Points.Balance) != before+int64(rc.Points.Earned) || h.balance() != int64(rc.Points.Balance) {
		t.Fatalf("receipt %+v (balance before %d, now %d)", rc, before, h.balance())
	}

	retry := h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "000123", 2))
	if retry.status != 200 || !bytes.Equal(retry.body, a.body) {
		t.Errorf("retry answered %d %s, want the original %s", retry.status, retry.body, a.body)
	}
	if h.balance() != int64(rc.Points.Balance) {
		t.Errorf("a retry changed the balance to %d", h.balance())
	}
	h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "000123", 3)).wantError(t, http.StatusConflict, node.ReasonReceiptConflict, "")

	// The sale is in the member's buying pattern.
	var bp node.BuyingPattern
	h.do("GET", "/api/v1/members/"+asha+"/patterns", adminToken, nil).decode(t, 200, &bp)
	if bp.Member != asha || bp.Visits < 1 || len(bp.SKUs) == 0 || bp.SKUs[0].Key != "BK1" {
		t.Errorf("pattern after the sale: %+v", bp)
	}
	h.do("GET", "/api/v1/members/+919999999999/patterns", adminToken, nil).wantError(t, http.StatusNotFound, node.ReasonMemberNotFound, "")

	// Another system's receipt 000123 is another receipt.
	body := sale("", "000123", 1)
	var web node.Receipt
	h.do("POST", "/api/v1/sales", adminToken, body, TerminalHeader, "WEB").decode(t, 200, &web)
	if web.ReceiptID != "S001-BO.WEB-000123" {
		t.Errorf("header-named sale %s", web.ReceiptID)
	}

	tests := []struct {
		name    string
		body    map[string]any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"no terminal", sale("", "9", 1), nil, 400, codeBadRequest, "terminal"},
		{"terminal disagrees", sale("ERP", "9", 1), []string{TerminalHeader, "WEB"}, 400, codeBadRequest, "terminal"},
		{"bad terminal", sale("ERP-1", "9", 1), nil, 400, codeBadRequest, "terminal"},
		{"unknown field", func() map[string]any { b := sale("ERP", "9", 1); b["store"] = "S002"; return b }(), nil, 400, codeBadRequest, "store"},
		{"unknown member", func() map[string]any {
			b := sale("ERP", "9", 1)
			b["member"] = map[string]any{"mobile": "9800000009"}
			return b
		}(), nil, 404, node.ReasonMemberNotFound, ""},
		{"no basket", map[string]any{"terminal": "ERP", "receipt_no": "9"}, nil, 400, "invalid_params", ""},
		{"redeem too much", func() map[string]any {
			b := sale("ERP", "9", 1)
			b["redeem"] = map[string]any{"points": 1000}
			return b
		}(), nil, 422, "insufficient_points", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.do("POST", "/api/v1/sales", adminToken, tc.body, tc.headers...).wantError(t, tc.status, tc.code, tc.field)
		})
	}
	h.do("POST", "/api/v1/sales", adminToken, `{"terminal":"ERP"} {}`).wantError(t, 400, codeBadRequest, "body")
	h.do("POST", "/api/v1/sales", adminToken, `{"terminal":"`+strings.Repeat("a", MaxBodyBytes)+`"}`).wantError(t, 413, codeTooLarge, "")
}

// TestBackOfficeReturn: a return claws back the points its lines earned,
// its retry gets the same answer, and a reused return_no with other
// lines is 409.
func TestBackOfficeReturn(t *testing.T) {
	h := newHarness(t)
	var rc node.Receipt
	h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "1", 2)).decode(t, 200, &rc)
	ret := map[string]any{"terminal": "ERP", "receipt_id": rc.ReceiptID, "return_no": "R1",
		"lines": []any{map[string]any{"line": 1, "qty": 1}}}
	a := h.do("POST", "/api/v1/returns", s1Token, ret)
	var rr node.ReturnReceipt
	a.decode(t, 200, &rr)
	if rr.Points.ClawedBack*2 != rc.Points.Earned || int64(rr.Points.Balance) != int64(rc.Points.Balance-rr.Points.ClawedBack) ||
		h.balance() != int64(rr.Points.Balance) || rr.Refund.Money != rc.Totals.Net/2 {
		t.Fatalf("return %+v of receipt %+v; balance %d", rr, rc, h.balance())
	}
	retry := h.do("POST", "/api/v1/returns", adminToken, ret)
	if retry.status != 200 || !bytes.Equal(retry.body, a.body) || h.balance() != int64(rr.Points.Balance) {
		t.Errorf("retry answered %d %s (balance %d), want the original %s", retry.status, retry.body, h.balance(), a.body)
	}
	ret["lines"] = []any{map[string]any{"line": 1, "qty": 2}}
	h.do("POST", "/api/v1/returns", adminToken, ret).wantError(t, 409, node.ReasonReceiptConflict, "")
	ret["receipt_id"], ret["return_no"] = "S001-BO.ERP-404", "R2"
	h.do("POST", "/api/v1/returns", adminToken, ret).wantError(t, 404, node.ReasonNotFound, "")
}

// TestHQTakesNoSales: an HQ replica answers 501 and records nothing.
func TestHQTakesNoSales(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.HQ = true })
	before := h.balance()
	h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "1", 1)).wantError(t, 501, codeNotSupported, "")
	h.do("POST", "/api/v1/returns", adminToken, map[string]any{"terminal": "ERP", "receipt_id": "S001-BO.ERP-1",
		"return_no": "R1", "lines": []any{map[string]any{"line": 1, "qty": 1}}}).wantError(t, 501, codeNotSupported, "")
	if h.balance() != before {
		t.Errorf("balance %d, was %d", h.balance(), before)
	}
	var who whoamiAnswer
	h.do("GET", "/api/v1/whoami", adminToken, nil).decode(t, 200, &who)
	if !who.HQ {
		t.Error("whoami does not say HQ")
	}
}
