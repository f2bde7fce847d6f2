package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Reports: the back-office reports of docs/reports.md, answered from the
// report indexes (report_index.go) in one read transaction. The same code
// serves a store node and HQ; scoping a store manager to their store is
// the caller's business (it sets ReportFilter.Store).

// ErrUnknownReport is returned by RunReport for a name Reports does not
// list.
var ErrUnknownReport = errors.New("node: unknown report")

// ErrBadFilter is returned by RunReport for a filter the report cannot
// honour: one it does not take, a missing required one (a statement
// without a member), To before From, or an id with control characters.
var ErrBadFilter = errors.New("node: bad report filter")

// ReportFilter narrows a report. Zero values mean "no filter". From is
// inclusive, To exclusive, both on the business time of the event (At).
type ReportFilter struct {
	Store            string
	From, To         time.Time
	ProgrammeVersion string
	Member           string // member id (E.164 mobile), for ledger/statement
	Detail           bool   // detail rows instead of summary, where a report has both
}

// ReportInfo describes a report.
type ReportInfo struct {
	Name    string   // URL-safe id, e.g. "point-ledger"
	Title   string   //
	Columns []string // header row, also the JSON keys
	Filters []string // which ReportFilter fields it honours: "store","from","to","programme_version","member","detail"
}

// reportProgress is how many rows pass between progress calls.
const reportProgress = 1000

// reportStopCheck is how many index keys a scan reads between checks of
// its context, so a cancelled export stops within milliseconds.
const reportStopCheck = 4096

// reportDef is one report: its description and how it runs. detail
// lists the columns of its detail variant (nil: it has none).
type reportDef struct {
	info     ReportInfo
	detail   []string
	required string // a filter it cannot run without
	// stream: the report sends rows as it reads them (its answer may be
	// as long as the data: a log, a detail list); otherwise it collects
	// them in the read transaction and sends them after it, so a slow
	// reader never holds the transaction open.
	stream func(f ReportFilter) bool
	run    func(r *reportRun) error
}

var (
	logColumns      = []string{"at", "store", "terminal", "member", "card"}
	salesColumns    = []string{"sales", "member_sales", "gross", "discount", "net", "paid", "redeemed_value", "points_earned", "points_bonus", "points_redeemed", "returns", "returned_money", "points_clawed_back", "points_refunded"}
	itemSumColumns  = []string{"qty", "qty_milli", "gross", "discount", "net", "paid", "free_qty", "returned_qty", "returned_qty_milli", "returned_money"}
	timeFilters     = []string{"store", "from", "to"}
	salesFilters    = []string{"store", "from", "to", "programme_version"}
	ledgerKindOrder = []string{"earn", "bonus", "redeem", "return", "adjust", "expire"}
)

// reportDefs lists the reports in the order Reports returns them.
func reportDefs() []reportDef {
	return []reportDef{
		{info: ReportInfo{Name: "card-types", Title: "Loyalty card types",
			Columns: []string{"card_type", "cards", "active", "blocked"}, Filters: []string{"store", "from", "to", "detail"}},
			detail: []string{"card", "card_type", "member", "store", "issued_at", "status", "status_at", "block_reason"},
			stream: byDetail, run: runCardTypes},
		{info: ReportInfo{Name: "card-issue", Title: "Card issue",
			Columns: append(slices.Clone(logColumns), "card_type", "reason"), Filters: timeFilters},
			stream: always, run: func(r *reportRun) error { return runCardLog(r, true) }},
		{info: ReportInfo{Name: "card-maintenance", Title: "Card maintenance log",
			Columns: append(slices.Clone(logColumns), "action", "card_type", "reason"), Filters: timeFilters},
			stream: always, run: func(r *reportRun) error { return runCardLog(r, false) }},
		{info: ReportInfo{Name: "point-ledger", Title: "Reward point ledger",
			Columns: append(append([]string{"member", "entries", "opening_balance"}, ledgerKindOrder...), "net", "closing_balance"),
			Filters: []string{"store", "from", "to", "member", "detail"}},
			detail: []string{"at", "member", "entry_id", "store", "kind", "points", "ref", "offline"},
			stream: byDetail, run: runPointLedger},
		{info: ReportInfo{Name: "sales-vs-redemption", Title: "Loyalty sales vs redemption",
			Columns: append([]string{"store", "day"}, salesColumns...), Filters: salesFilters},
			run: runSalesVsRedemption},
		{info: ReportInfo{Name: "card-sales", Title: "Card-wise sales",
			Columns: []string{"card", "card_type", "member", "sales", "gross", "discount", "net", "paid", "points_earned", "points_bonus", "points_redeemed", "returns", "returned_money"},
			Filters: salesFilters},
			run: runCardSales},
		{info: ReportInfo{Name: "item-sales", Title: "Item-wise sales",
			Columns: append([]string{"sku", "category"}, itemSumColumns...), Filters: salesFilters},
			run: runItemSales},
		{info: ReportInfo{Name: "attribute-sales", Title: "Attribute-wise sales",
			Columns: append([]string{"attribute", "value", "skus"}, itemSumColumns...), Filters: salesFilters},
			run: runAttributeSales},
		{info: ReportInfo{Name: "statement", Title: "Member statement",
			Columns: []string{"at", "entry_id", "store", "kind", "ref", "points", "balance"},
			Filters: []string{"member", "store", "from", "to"}},
			required: "member",
			run:      runStatement},
		offersReportDef(), // report_offers.go
	}
}

func always(ReportFilter) bool     { return true }
func byDetail(f ReportFilter) bool { return f.Detail }

// Reports lists the reports RunReport answers, with their summary columns.
func (n *Node) Reports() []ReportInfo {
	defs := reportDefs()
	out := make([]ReportInfo, len(defs))
	for i, d := range defs {
		out[i] = d.info
		out[i].Columns = slices.Clone(d.info.Columns)
		out[i].Filters = slices.Clone(d.info.Filters)
	}
	return out
}

// RunReport streams the rows of report name under filter f to row
// (already formatted strings: money as integer minor units, points as
// integers, times RFC 3339 and days YYYY-MM-DD in the current
// programme's time zone) in a stable, sorted order. The returned
// ReportInfo's Columns are the header of the rows sent (the detail
// columns when f.Detail). progress, if not nil, is called now and then
// with rows done and an estimate of the total (-1 if unknown). An error
// from row stops the report and is returned. The report reads one
// consistent snapshot.
func (n *Node) RunReport(ctx context.Context, name string, f ReportFilter, row func([]string) error,
	progress func(done, total int64)) (ReportInfo, error) {
	var def *reportDef
	for _, d := range reportDefs() {
		if d.info.Name == name {
			def = &d
			break
		}
	}
	if def == nil {
		return ReportInfo{}, fmt.Errorf("node: report %q: %w", name, ErrUnknownReport)
	}
	info := def.info
	if f.Detail && def.detail != nil {
		info.Columns = def.detail
	}
	info.Columns, info.Filters = slices.Clone(info.Columns), slices.Clone(info.Filters)
	if err := checkFilter(def, f); err != nil {
		return info, err
	}
	if err := n.enter(ctx); err != nil {
		return info, err
	}
	defer n.leave()
	r := &reportRun{n: n, ctx: ctx, f: f, sp: newSpan(f.From, f.To), loc: time.UTC, row: row, progress: progress,
		stop: &stopper{ctx: ctx}, total: -1, collect: def.stream == nil || !def.stream(f)}
	if p := n.Programme(); p != nil && p.Location != nil {
		r.loc = p.Location
	}
	err := n.db.View(func(tx *bbolt.Tx) error {
		r.tx = tx
		return def.run(r)
	})
	if err == nil && r.collect {
		err = r.flush()
	}
	if err != nil {
		return info, fmt.Errorf("node: report %s: %w", name, err)
	}
	if progress != nil {
		progress(r.done, r.done)
	}
	return info, nil
}

// checkFilter refuses a filter the report does not honour.
func checkFilter(def *reportDef, f ReportFilter) error {
	set := map[string]bool{"store": f.Store != "", "from": !f.From.IsZero(), "to": !f.To.IsZero(),
		"programme_version": f.ProgrammeVersion != "", "member": f.Member != "", "detail": f.Detail}
	var problems []string
	for _, name := range []string{"store", "from", "to", "programme_version", "member", "detail"} {
		if set[name] && !slices.Contains(def.info.Filters, name) {
			problems = append(problems, name+" is not a filter of this report")
		}
	}
	if def.required != "" && !set[def.required] {
		problems = append(problems, def.required+" is required")
	}
	if set["from"] && set["to"] && !f.From.Before(f.To) {
		problems = append(problems, "from must be before to")
	}
	for name, v := range map[string]string{"store": f.Store, "member": f.Member, "programme_version": f.ProgrammeVersion} {
		if v != "" && !validReportID(v) {
			problems = append(problems, name+" has control characters or is too long")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("node: report %s: %s: %w", def.info.Name, strings.Join(problems, "; "), ErrBadFilter)
}

// validReportID is an id a filter may name: what events accept.
func validReportID(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// reportRun is one running report.
type reportRun struct {
	n        *Node
	ctx      context.Context
	tx       *bbolt.Tx
	f        ReportFilter
	sp       span
	loc      *time.Location // days and times are shown in this zone
	row      func([]string) error
	progress func(done, total int64)
	stop     *stopper
	done     int64
	total    int64      // -1: unknown
	collect  bool       // rows are kept in rows until the transaction ends
	rows     [][]string // collected rows
}

// emit sends one row (or collects it) and reports progress every
// reportProgress rows.
func (r *reportRun) emit(cols ...string) error {
	if r.collect {
		r.rows = append(r.rows, cols)
		return r.stop.tick()
	}
	return r.send(cols)
}

// flush sends the collected rows, after the read transaction.
func (r *reportRun) flush() error {
	r.collect = false
	if r.total < 0 {
		r.total = int64(len(r.rows))
	}
	for _, cols := range r.rows {
		if err := r.send(cols); err != nil {
			return err
		}
	}
	return nil
}

func (r *reportRun) send(cols []string) error {
	if err := r.row(cols); err != nil {
		return err
	}
	r.done++
	if r.progress != nil && r.done%reportProgress == 0 {
		r.progress(r.done, r.total)
	}
	return r.stop.tick()
}

// stores is the stores a report covers: the filter's, or every store
// with rows in s.
func (r *reportRun) stores(s series) ([]string, error) {
	if r.f.Store != "" {
		return []string{r.f.Store}, nil
	}
	return s.stores(r.tx)
}

// day formats the report-zone day of unix nanoseconds.
func (r *reportRun) day(ns int64) string {
	return time.Unix(0, ns).In(r.loc).Format(time.DateOnly)
}

// at formats a time in the report zone.
func (r *reportRun) at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(r.loc).Format(time.RFC3339Nano)
}

// stopper checks a context every reportStopCheck ticks.
type stopper struct {
	ctx context.Context
	n   int
}

func (s *stopper) tick() error {
	s.n++
	if s.n%reportStopCheck == 0 {
		return s.ctx.Err()
	}
	return nil
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// sumsRow formats sums.
func sumsRow(prefix []string, vec []int64) []string {
	out := slices.Clone(prefix)
	for _, v := range vec {
		out = append(out, itoa(v))
	}
	return out
}

// addVec adds b into a.
func addVec(a, b []int64) {
	for i := range b {
		a[i] += b[i]
	}
}
