package adminapi

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/node"
)

// TestMemberLookup: by mobile (typed with an unencoded +, or local), card
// or e-mail; exactly one identifier; not found is 404 member_not_found.
func TestMemberLookup(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, query string
		status      int
		code, field string
	}{
		{"mobile encoded", "mobile=" + url.QueryEscape(asha), 200, "", ""},
		{"mobile with a bare plus", "mobile=+919800000001", 200, "", ""},
		{"local mobile", "mobile=09800000001", 200, "", ""},
		{"card", "card=C-1001", 200, "", ""},
		{"email", "email=ASHA@example.com", 200, "", ""},
		{"unknown", "mobile=9800000009", 404, node.ReasonMemberNotFound, ""},
		{"none", "", 400, codeBadRequest, "mobile"},
		{"two", "mobile=9800000001&card=C-1001", 400, codeBadRequest, "mobile"},
		{"unknown parameter", "phone=9800000001", 400, codeBadRequest, "phone"},
		{"twice", "card=C-1001&card=C-1001", 400, codeBadRequest, "card"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do("GET", "/api/v1/members?"+tc.query, s1Token, nil)
			if tc.status != 200 {
				a.wantError(t, tc.status, tc.code, tc.field)
				return
			}
			var got memberAnswer
			a.decode(t, 200, &got)
			if got.Member == nil || got.Member.MemberID != asha || got.Member.FirstName != "Asha" {
				t.Errorf("member %+v", got.Member)
			}
		})
	}
}

// TestMemberProfile: the profile has consents, cards, points and tier,
// as the node answers a till.
func TestMemberProfile(t *testing.T) {
	h := newHarness(t)
	var got memberAnswer
	h.do("GET", "/api/v1/members/"+url.PathEscape(asha), adminToken, nil).decode(t, 200, &got)
	want, err := h.node.Identify(t.Context(), "", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: asha}})
	if err != nil {
		t.Fatal(err)
	}
	m := got.Member
	if m.MemberID != want.MemberID || len(m.Cards) != 1 || m.Cards[0].Number != "C-1001" || !m.Consents["programme_terms"] ||
		m.Points != want.Points || m.Tier != want.Tier {
		t.Errorf("profile %+v, want %+v", m, want)
	}
	h.do("GET", "/api/v1/members/%2B919800000009", adminToken, nil).wantError(t, 404, node.ReasonMemberNotFound, "")
}

// TestLedgerAndStatement: after two sales and a return the ledger lists
// the entries with running balances; the statement's opening balance
// counts the entries before its period, and its CSV and HTML forms carry
// the same entries.
func TestLedgerAndStatement(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "1", 2)).decode(t, 200, nil)
	h.clock.set(testStart.Add(48 * time.Hour)) // June 5
	var rc node.Receipt
	h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "2", 1)).decode(t, 200, &rc)
	h.do("POST", "/api/v1/returns", adminToken, map[string]any{"terminal": "ERP", "receipt_id": rc.ReceiptID,
		"return_no": "R1", "lines": []any{map[string]any{"line": 1, "qty": 1}}}).decode(t, 200, nil)

	var page node.LedgerPage
	h.do("GET", "/api/v1/members/"+url.PathEscape(asha)+"/ledger", adminToken, nil).decode(t, 200, &page)
	if len(page.Entries) != 3 {
		t.Fatalf("ledger %+v", page.Entries)
	}
	var sum int64
	for _, e := range page.Entries {
		sum += int64(e.Points)
		if int64(e.Balance) != sum {
			t.Errorf("entry %+v: balance %d, want running %d", e, e.Balance, sum)
		}
	}
	if sum != h.balance() {
		t.Errorf("ledger sums to %d, balance %d", sum, h.balance())
	}
	h.do("GET", "/api/v1/members/"+url.PathEscape(asha)+"/ledger?from=2026-06-04", adminToken, nil).decode(t, 200, &page)
	if len(page.Entries) != 2 {
		t.Errorf("ledger from June 4: %+v", page.Entries)
	}
	h.do("GET", "/api/v1/members/"+url.PathEscape(asha)+"/ledger?from=June", adminToken, nil).wantError(t, 400, codeBadRequest, "from")

	base := "/api/v1/members/" + url.PathEscape(asha) + "/statement?from=2026-06-04&to=2026-06-30"
	var st statement
	h.do("GET", base, s2Token, nil).decode(t, 200, &st)
	first := page.Entries[0]
	if int64(st.Opening) != int64(first.Balance-first.Points) || st.Closing != page.Entries[1].Balance || len(st.Entries) != 2 ||
		st.Earned+st.Debited != st.Closing-st.Opening {
		t.Errorf("statement %+v, ledger %+v", st, page.Entries)
	}

	a := h.do("GET", base+"&format=csv", adminToken, nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", a.status, a.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(a.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(st.Entries) || strings.Join(rows[0], ",") != strings.Join(statementColumns, ",") {
		t.Fatalf("csv rows %v", rows)
	}
	for i, e := range st.Entries {
		if rows[i+1][3] != strconv.FormatInt(int64(e.Points), 10) || rows[i+1][5] != strconv.FormatInt(int64(e.Balance), 10) || rows[i+1][4] != e.Ref {
			t.Errorf("csv row %v, entry %+v", rows[i+1], e)
		}
	}

	a = h.do("GET", base+"&format=html", adminToken, nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("html: %d %s", a.status, a.header.Get("Content-Type"))
	}
	page2 := string(a.body)
	for _, want := range []string{"Asha Rao", "4 Jun 2026 to 30 Jun 2026", st.Entries[1].Ref, "<td class=\"n\">" + strconv.FormatInt(int64(st.Closing), 10) + "</td>"} {
		if !strings.Contains(page2, want) {
			t.Errorf("html lacks %q:\n%s", want, page2)
		}
	}
	h.do("GET", base+"&format=pdf", adminToken, nil).wantError(t, http.StatusBadRequest, codeBadRequest, "format")
	h.do("GET", "/api/v1/members/"+url.PathEscape(asha)+"/statement?from=2026-06-05&to=2026-06-04", adminToken, nil).
		wantError(t, http.StatusBadRequest, codeBadRequest, "to")
}
