package adminapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patron/patron/node"
)

// reportInfo is one report as GET /api/v1/reports lists it.
type reportInfo struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	Columns []string `json:"columns"`
	Filters []string `json:"filters"`
}

func toReportInfo(i node.ReportInfo) reportInfo {
	return reportInfo{Name: i.Name, Title: i.Title, Columns: nonNil(i.Columns), Filters: nonNil(i.Filters)}
}

// The filter names of node.ReportInfo.Filters, which are also the query
// parameters and the fields of an export's filters.
const (
	filterStore     = "store"
	filterFrom      = "from"
	filterTo        = "to"
	filterProgramme = "programme_version"
	filterMember    = "member"
	filterDetail    = "detail"
)

// reportFilters is a report's filters as given: query parameters of
// GET /api/v1/reports/{name}, or the filters of POST /api/v1/exports.
type reportFilters struct {
	Store            string `json:"store,omitempty"`
	From             string `json:"from,omitempty"`
	To               string `json:"to,omitempty"`
	ProgrammeVersion string `json:"programme_version,omitempty"`
	Member           string `json:"member,omitempty"`
	Detail           bool   `json:"detail,omitempty"`
}

// reports lists the reports; a store manager sees those with a store
// filter.
func (a *API) reports(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	out := []reportInfo{}
	for _, i := range a.node.Reports() {
		if p.Role == RoleStoreManager && !slices.Contains(i.Filters, filterStore) {
			continue
		}
		out = append(out, toReportInfo(i))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reportAnswer is GET /api/v1/reports/{name} as JSON.
type reportAnswer struct {
	Report    string        `json:"report"`
	Title     string        `json:"title"`
	Columns   []string      `json:"columns"`
	Filters   reportFilters `json:"filters"` // as applied (a store manager's store filled in)
	Rows      [][]string    `json:"rows"`
	Truncated bool          `json:"truncated"` // more than MaxJSONReportRows rows
}

// errEnough stops a report answered as JSON at MaxJSONReportRows.
var errEnough = errors.New("adminapi: enough rows")

func (a *API) report(w http.ResponseWriter, r *http.Request, p principal) error {
	q, err := parseQuery(r, filterStore, filterFrom, filterTo, filterProgramme, filterMember, filterDetail, "format")
	if err != nil {
		return err
	}
	format, err := q.format("json", "csv")
	if err != nil {
		return err
	}
	given := reportFilters{Store: q.get(filterStore), From: q.get(filterFrom), To: q.get(filterTo),
		ProgrammeVersion: q.get(filterProgramme), Member: q.get(filterMember)}
	if given.Detail, err = q.boolean(filterDetail); err != nil {
		return err
	}
	info, f, applied, err := a.reportRequest(p, r.PathValue("name"), given, "")
	if err != nil {
		return err
	}
	if format == "csv" {
		return a.streamCSV(w, r, info, f)
	}
	ans := reportAnswer{Report: info.Name, Title: info.Title, Columns: nonNil(info.Columns), Filters: applied, Rows: [][]string{}}
	ran, err := a.node.RunReport(r.Context(), info.Name, f, func(row []string) error {
		if len(ans.Rows) == MaxJSONReportRows {
			ans.Truncated = true
			return errEnough
		}
		ans.Rows = append(ans.Rows, slices.Clone(row))
		return nil
	}, func(int64, int64) {})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	if len(ran.Columns) > 0 {
		ans.Columns = ran.Columns
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// reportRequest checks a report request: the report exists, the caller
// may run it (a store manager only confined to their store), every
// filter given is one the report takes and parses. prefix names the
// filters in errors ("filters." for an export's body).
func (a *API) reportRequest(p principal, name string, given reportFilters, prefix string) (node.ReportInfo, node.ReportFilter, reportFilters, error) {
	var info node.ReportInfo
	found := false
	for _, i := range a.node.Reports() {
		if i.Name == name {
			info, found = i, true
			break
		}
	}
	if !found {
		return info, node.ReportFilter{}, given, errorf(http.StatusNotFound, codeUnknownReport, "no report %q (GET /api/v1/reports lists them)", truncate(name, 64))
	}
	takes := func(f string) bool { return slices.Contains(info.Filters, f) }
	if p.Role == RoleStoreManager && !takes(filterStore) {
		return info, node.ReportFilter{}, given, forbidden("report %s covers every store: a store manager may not run it", name)
	}
	store, err := confine(p, given.Store)
	if err != nil {
		return info, node.ReportFilter{}, given, err
	}
	given.Store = store
	set := map[string]bool{filterStore: given.Store != "", filterFrom: given.From != "", filterTo: given.To != "",
		filterProgramme: given.ProgrammeVersion != "", filterMember: given.Member != "", filterDetail: given.Detail}
	for _, fname := range []string{filterStore, filterFrom, filterTo, filterProgramme, filterMember, filterDetail} {
		if set[fname] && !takes(fname) {
			return info, node.ReportFilter{}, given, badParam(prefix+fname, "report %s takes only %s", name, strings.Join(info.Filters, ", "))
		}
	}
	f := node.ReportFilter{Store: given.Store, ProgrammeVersion: given.ProgrammeVersion, Member: given.Member, Detail: given.Detail}
	loc := a.programmeZone()
	if given.From != "" {
		if f.From, err = parseInstant(given.From, loc, false); err != nil {
			return info, f, given, badParam(prefix+filterFrom, "%v", err)
		}
	}
	if given.To != "" {
		if f.To, err = parseInstant(given.To, loc, true); err != nil {
			return info, f, given, badParam(prefix+filterTo, "%v", err)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return info, f, given, badParam(prefix+filterTo, "must be after from")
	}
	return info, f, given, nil
}

// streamCSV writes a report as CSV while it runs. Its header goes out
// with the first row (or at the end), so a report that fails before any
// row still gets a proper error answer; one that fails after is cut off
// (the connection aborted), never passed off as complete.
func (a *API) streamCSV(w http.ResponseWriter, r *http.Request, info node.ReportInfo, f node.ReportFilter) error {
	columns, err := a.columns(r.Context(), info, f)
	if err != nil {
		return err
	}
	started := false
	cw := csv.NewWriter(w)
	rc := http.NewResponseController(w)
	start := func(columns []string) {
		started = true
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, fileSafe(info.Name), time.Now().UTC().Format("20060102T150405Z")))
		w.WriteHeader(http.StatusOK)
		cw.Write(columns)
	}
	var rows int64
	_, err = a.node.RunReport(r.Context(), info.Name, f, func(row []string) error {
		if !started {
			start(columns)
		}
		if err := cw.Write(csvSafe(row)); err != nil {
			return err
		}
		if rows++; rows%csvFlushRows == 0 {
			cw.Flush()
			rc.Flush()
		}
		return cw.Error()
	}, func(int64, int64) {})
	if err != nil {
		if !started {
			return err
		}
		a.log.Warn("report failed while streaming: the answer is cut off", "report", info.Name, "rows", rows, "err", err)
		panic(http.ErrAbortHandler)
	}
	if !started {
		start(columns)
	}
	cw.Flush()
	return nil
}

// errProbe stops a report at its first row.
var errProbe = errors.New("adminapi: probe")

// columns is the header of a report's rows under f. Reports lists the
// summary columns; a detail run's are known once it runs, so a CSV that
// must start with them runs the report up to its first row first.
func (a *API) columns(ctx context.Context, info node.ReportInfo, f node.ReportFilter) ([]string, error) {
	if !f.Detail {
		return info.Columns, nil
	}
	ran, err := a.node.RunReport(ctx, info.Name, f, func([]string) error { return errProbe }, nil)
	if err != nil && !errors.Is(err, errProbe) {
		return nil, err
	}
	return ran.Columns, nil
}

// csvFlushRows is how many CSV rows go out per flush: progress for the
// client without a write per row.
const csvFlushRows = 512

// csvSafe defuses cells a spreadsheet would run as a formula (a leading
// =, +, -, @, tab or carriage return) by quoting them with a leading ';
// numbers such as -30 or +919800000001 are left alone.
func csvSafe(row []string) []string {
	out := row
	for i, c := range row {
		if c == "" || !strings.ContainsRune("=+-@\t\r", rune(c[0])) || isNumber(c) {
			continue
		}
		if &out[0] == &row[0] {
			out = slices.Clone(row)
		}
		out[i] = "'" + c
	}
	return out
}

// isNumber: an optional sign, digits, at most one '.', at least one digit.
func isNumber(s string) bool {
	if s[0] == '+' || s[0] == '-' {
		s = s[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
