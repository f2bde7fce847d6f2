package adminapi

import (
	"encoding/csv"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// sell posts n back-office sales for asha, one a day from testStart.
func (h *harness) sell(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		h.clock.set(testStart.Add(time.Duration(i) * 24 * time.Hour))
		h.do("POST", "/api/v1/sales", adminToken, sale("ERP", "R"+string(rune('A'+i)), int64(i+1))).decode(t, 200, nil)
	}
}

func readCSV(t *testing.T, a answer) [][]string {
	t.Helper()
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("status %d, type %q: %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(a.body))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, a.body)
	}
	return rows
}

// TestReportCSV: a report as CSV has the report's columns as its header
// and the same rows as its JSON form; each report the node lists runs.
func TestReportCSV(t *testing.T) {
	h := newHarness(t)
	h.sell(t, 3)
	var list []reportInfo
	h.do("GET", "/api/v1/reports", adminToken, nil).decode(t, 200, &list)
	if len(list) == 0 {
		t.Fatal("no reports listed")
	}
	for _, info := range list {
		variants := []string{""}
		if slices.Contains(info.Filters, filterDetail) {
			variants = append(variants, "&detail=true")
		}
		for _, variant := range variants {
			t.Run(info.Name+variant, func(t *testing.T) {
				q := "?from=2026-06-01&to=2026-06-30" + variant
				if slices.Contains(info.Filters, filterMember) {
					q += "&member=" + strings.ReplaceAll(asha, "+", "%2B")
				}
				if !slices.Contains(info.Filters, filterFrom) {
					q = strings.Replace(q, "from=2026-06-01&to=2026-06-30", "", 1)
				}
				checkCSVMatchesJSON(t, h, info.Name, q)
			})
		}
	}

	// The daily sales report has a row per day sold.
	var rep reportAnswer
	h.do("GET", "/api/v1/reports/sales-vs-redemption?store=S001&from=2026-06-01&to=2026-06-30", adminToken, nil).decode(t, 200, &rep)
	if len(rep.Rows) != 3 {
		t.Fatalf("sales-vs-redemption rows %v", rep.Rows)
	}
	h.do("GET", "/api/v1/reports/sales-vs-redemption?from=2026-06-04&to=2026-06-30", adminToken, nil).decode(t, 200, &rep)
	if len(rep.Rows) != 2 {
		t.Errorf("from June 4: rows %v", rep.Rows)
	}
}

// checkCSVMatchesJSON fails unless report name's CSV under query q has
// the JSON form's columns as its header and the same rows.
func checkCSVMatchesJSON(t *testing.T, h *harness, name, q string) {
	t.Helper()
	var rep reportAnswer
	h.do("GET", "/api/v1/reports/"+name+q, adminToken, nil).decode(t, 200, &rep)
	rows := readCSV(t, h.do("GET", "/api/v1/reports/"+name+q+"&format=csv", adminToken, nil))
	if !slices.Equal(rows[0], rep.Columns) {
		t.Errorf("csv header %v, json columns %v", rows[0], rep.Columns)
	}
	if len(rows)-1 != len(rep.Rows) {
		t.Fatalf("csv has %d rows, json %d", len(rows)-1, len(rep.Rows))
	}
	for i, r := range rep.Rows {
		if !slices.Equal(rows[i+1], csvSafe(r)) {
			t.Errorf("row %d: csv %v, json %v", i, rows[i+1], r)
		}
	}
}

// TestReportParams: bad parameters are 400 naming the parameter; an
// unknown report is 404.
func TestReportParams(t *testing.T) {
	h := newHarness(t)
	tests := []struct{ query, code, field string }{
		{"?format=xml", codeBadRequest, "format"},
		{"?from=yesterday", codeBadRequest, "from"},
		{"?to=2026-13-01", codeBadRequest, "to"},
		{"?from=2026-06-02&to=2026-06-01", codeBadRequest, "to"},
		{"?detail=maybe", codeBadRequest, "detail"},
		{"?stor=S001", codeBadRequest, "stor"},
		{"?member=x", codeBadRequest, "member"}, // sales-vs-redemption takes no member filter
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			h.do("GET", "/api/v1/reports/sales-vs-redemption"+tc.query, adminToken, nil).wantError(t, 400, tc.code, tc.field)
		})
	}
	h.do("GET", "/api/v1/reports/no-such-report", adminToken, nil).wantError(t, 404, codeUnknownReport, "")
	h.do("GET", "/api/v1/reports/statement", adminToken, nil).wantError(t, 400, codeBadFilter, "") // needs a member
}

// TestExportProgress: an export runs to done with done == total, its
// download is the report's CSV, a store manager sees only their own, and
// Close removes the files.
func TestExportProgress(t *testing.T) {
	h := newHarness(t)
	h.sell(t, 5)
	req := map[string]any{"report": "item-sales", "filters": map[string]any{"from": "2026-06-01", "to": "2026-06-30"}}
	var ex exportAnswer
	a := h.do("POST", "/api/v1/exports", s1Token, req)
	a.decode(t, 202, &ex)
	if ex.ID == "" || a.header.Get("Location") != "/api/v1/exports/"+ex.ID || ex.Filters.Store != "S001" {
		t.Fatalf("export %+v, Location %q", ex, a.header.Get("Location"))
	}
	ex = h.waitExport(t, s1Token, ex.ID)
	if ex.State != exportDone || ex.Done != ex.Total || ex.Rows == 0 || ex.Download != "/api/v1/exports/"+ex.ID+"/download" {
		t.Fatalf("finished export %+v", ex)
	}
	got := readCSV(t, h.do("GET", ex.Download, s1Token, nil))
	want := readCSV(t, h.do("GET", "/api/v1/reports/item-sales?store=S001&from=2026-06-01&to=2026-06-30&format=csv", adminToken, nil))
	if len(got) != len(want) || int64(len(got)-1) != ex.Rows {
		t.Fatalf("export has %d lines (%d rows said), the report %d", len(got), ex.Rows, len(want))
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("line %d: export %v, report %v", i, got[i], want[i])
		}
	}

	h.do("GET", "/api/v1/exports/"+ex.ID, s2Token, nil).wantError(t, 404, codeNotFound, "")
	h.do("GET", ex.Download, s2Token, nil).wantError(t, 404, codeNotFound, "")
	var list []exportAnswer
	h.do("GET", "/api/v1/exports", s2Token, nil).decode(t, 200, &list)
	if len(list) != 0 {
		t.Errorf("S002's manager lists %+v", list)
	}
	h.do("GET", "/api/v1/exports", adminToken, nil).decode(t, 200, &list)
	if len(list) != 1 || list[0].ID != ex.ID {
		t.Errorf("admin lists %+v", list)
	}
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "item-sales", "filter": map[string]any{}}).
		wantError(t, 400, codeBadRequest, "filter")
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "item-sales", "filters": map[string]any{"from": "June"}}).
		wantError(t, 400, codeBadRequest, "filters.from")
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "nope"}).wantError(t, 404, codeUnknownReport, "")

	dirs, err := os.ReadDir(h.tmp)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("temp dir holds %v (%v)", dirs, err)
	}
	if err := h.api.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs, _ := os.ReadDir(h.tmp); len(dirs) != 0 {
		t.Errorf("Close left %v", dirs)
	}
	h.do("GET", "/api/v1/exports/"+ex.ID, adminToken, nil).wantError(t, 503, codeUnavailable, "")
}

// TestExportsBounded: with room for one export, a new one evicts the
// finished one.
func TestExportsBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxExports = 1 })
	h.sell(t, 1)
	var first, second exportAnswer
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "item-sales"}).decode(t, 202, &first)
	h.waitExport(t, adminToken, first.ID)
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "card-sales"}).decode(t, 202, &second)
	h.waitExport(t, adminToken, second.ID)
	h.do("GET", "/api/v1/exports/"+first.ID, adminToken, nil).wantError(t, 404, codeNotFound, "")
	var list []exportAnswer
	h.do("GET", "/api/v1/exports", adminToken, nil).decode(t, 200, &list)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("exports %+v, want only %s", list, second.ID)
	}
}

// TestExportDetailColumns: a detail export's header is the detail
// columns, as the JSON form says.
func TestExportDetailColumns(t *testing.T) {
	h := newHarness(t)
	h.sell(t, 2)
	var rep reportAnswer
	h.do("GET", "/api/v1/reports/point-ledger?detail=true", adminToken, nil).decode(t, 200, &rep)
	var ex exportAnswer
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "point-ledger", "filters": map[string]any{"detail": true}}).decode(t, 202, &ex)
	if ex = h.waitExport(t, adminToken, ex.ID); ex.State != exportDone {
		t.Fatalf("export %+v", ex)
	}
	rows := readCSV(t, h.do("GET", ex.Download, adminToken, nil))
	if !slices.Equal(rows[0], rep.Columns) || len(rows)-1 != len(rep.Rows) || len(rep.Rows) == 0 {
		t.Errorf("export header %v and %d rows; report columns %v and %d rows", rows[0], len(rows)-1, rep.Columns, len(rep.Rows))
	}
}

// waitExport polls an export until it is no longer running.
func (h *harness) waitExport(t *testing.T, token, id string) exportAnswer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ex exportAnswer
		h.do("GET", "/api/v1/exports/"+id, token, nil).decode(t, 200, &ex)
		if ex.Done < 0 || ex.Total < 0 || ex.Total > 0 && ex.Done > ex.Total {
			t.Fatalf("progress %d of %d", ex.Done, ex.Total)
		}
		if ex.State != exportRunning {
			return ex
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still running: %+v", id, ex)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCSVSafe: formula-looking cells are quoted, numbers are not.
func TestCSVSafe(t *testing.T) {
	in := []string{"=SUM(A1)", "-30", "+919800000001", "@x", "-", "plain", "", "1.5", "+1.2.3"}
	want := []string{"'=SUM(A1)", "-30", "+919800000001", "'@x", "'-", "plain", "", "1.5", "'+1.2.3"}
	got := csvSafe(in)
	if !slices.Equal(got, want) {
		t.Errorf("csvSafe = %q, want %q", got, want)
	}
	if in[0] != "=SUM(A1)" {
		t.Error("csvSafe changed its input")
	}
}
