package adminapi

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// memberAnswer is GET /api/v1/members and /api/v1/members/{id}: the
// member as a till sees it (profile, consents, cards, points, tier).
type memberAnswer struct {
	Member *node.Member `json:"member"`
}

// findMember looks a member up by exactly one of mobile, card, email.
func (a *API) findMember(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := parseQuery(r, "mobile", "card", "email")
	if err != nil {
		return err
	}
	id := node.Identifier{Mobile: mobileParam(q), Card: q.get("card"), Email: q.get("email")}
	given := 0
	for _, s := range []string{id.Mobile, id.Card, id.Email} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return badParam("mobile", "give exactly one of mobile, card or email")
	}
	m, err := a.node.Identify(r.Context(), "", node.IdentifyRequest{Identifier: &id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberAnswer{Member: m})
	return nil
}

// lookup finds a member by id (the normalised mobile number).
func (a *API) lookup(r *http.Request) (*node.Member, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, badParam("id", "member id required")
	}
	return a.node.Identify(r.Context(), "", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: id}})
}

func (a *API) member(w http.ResponseWriter, r *http.Request, _ principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	m, err := a.lookup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memberAnswer{Member: m})
	return nil
}

// ledger is one page of a member's ledger, as member.ledger answers.
func (a *API) ledger(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := parseQuery(r, "from", "to", "limit", "cursor")
	if err != nil {
		return err
	}
	req := node.LedgerRequest{MemberID: r.PathValue("id"), Cursor: q.get("cursor")}
	from, to, err := q.period(a.programmeZone())
	if err != nil {
		return err
	}
	if !from.IsZero() {
		req.From = &from
	}
	if !to.IsZero() {
		// The node's To is inclusive; this API's periods end before to.
		last := to.Add(-time.Nanosecond)
		req.To = &last
	}
	if req.Limit, err = q.integer("limit", node.MaxLedgerLimit); err != nil {
		return err
	}
	page, err := a.node.Ledger(r.Context(), "", req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// patterns is a member's buying pattern: most-bought categories and
// SKUs, visits and recency (what HQ's personal offers are chosen from).
func (a *API) patterns(w http.ResponseWriter, r *http.Request, _ principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	bp, err := a.node.BuyingPattern(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bp)
	return nil
}

// statement is a member's statement for a period.
type statement struct {
	Member    *node.Member     `json:"member"`
	From      *time.Time       `json:"from,omitempty"`
	To        *time.Time       `json:"to,omitempty"` // exclusive
	Opening   engine.Points    `json:"opening_balance"`
	Closing   engine.Points    `json:"closing_balance"`
	Earned    engine.Points    `json:"earned"`  // sum of positive entries in the period
	Debited   engine.Points    `json:"debited"` // sum of negative entries in the period (≤ 0)
	Entries   []statementEntry `json:"entries"`
	Truncated bool             `json:"truncated"` // more than MaxStatementEntries in the period
	Generated time.Time        `json:"generated_at"`
	Currency  string           `json:"-"`
}

// statementEntry is one ledger entry with the balance after it.
type statementEntry struct {
	At      time.Time        `json:"at"`
	Store   string           `json:"store"`
	Kind    engine.EntryKind `json:"kind"`
	Points  engine.Points    `json:"points"`
	Ref     string           `json:"ref"`
	Balance engine.Points    `json:"balance"`
	Offline bool             `json:"offline,omitempty"`
}

// statementColumns is the CSV header of a statement.
var statementColumns = []string{"at", "store", "kind", "points", "ref", "balance", "offline"}

func (a *API) statement(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := parseQuery(r, "from", "to", "format")
	if err != nil {
		return err
	}
	format, err := q.format("json", "csv", "html")
	if err != nil {
		return err
	}
	loc := a.programmeZone()
	st := statement{Entries: []statementEntry{}, Generated: a.cfg.Now().UTC()}
	from, to, err := q.period(loc)
	if err != nil {
		return err
	}
	if !from.IsZero() {
		st.From = &from
	}
	if !to.IsZero() {
		st.To = &to
	}
	if st.Member, err = a.lookup(r); err != nil {
		return err
	}
	entries, _, err := a.node.Entries(r.Context(), st.Member.MemberID)
	if err != nil {
		return err
	}
	st.fill(entries)
	if p := a.node.Programme(); p != nil {
		st.Currency = p.Currency
	}
	switch format {
	case "csv":
		return writeStatementCSV(w, st)
	case "html":
		return writeStatementHTML(w, st, loc)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// fill runs the balance over every entry (in ledger order) and keeps
// those in the period.
func (st *statement) fill(entries []engine.Entry) {
	var balance engine.Points
	opened := false
	for _, e := range entries {
		if st.To != nil && !e.At.Before(*st.To) {
			break
		}
		if st.From != nil && e.At.Before(*st.From) {
			balance += e.Points
			continue
		}
		if !opened {
			st.Opening, opened = balance, true
		}
		balance += e.Points
		if e.Points > 0 {
			st.Earned += e.Points
		} else {
			st.Debited += e.Points
		}
		if len(st.Entries) == MaxStatementEntries {
			st.Truncated = true
			continue
		}
		st.Entries = append(st.Entries, statementEntry{At: e.At, Store: e.Store, Kind: e.Kind, Points: e.Points,
			Ref: e.Ref, Balance: balance, Offline: e.Offline})
	}
	if !opened {
		st.Opening = balance
	}
	st.Closing = balance
}

func writeStatementCSV(w http.ResponseWriter, st statement) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s.csv"`, fileSafe(st.Member.MemberID)))
	cw := csv.NewWriter(w)
	cw.Write(statementColumns)
	for _, e := range st.Entries {
		cw.Write(csvSafe([]string{e.At.Format(time.RFC3339), e.Store, string(e.Kind), strconv.FormatInt(int64(e.Points), 10),
			e.Ref, strconv.FormatInt(int64(e.Balance), 10), strconv.FormatBool(e.Offline)}))
	}
	cw.Flush()
	return nil // a failed write is the client gone
}

// statementPage is the printable statement.
var statementPage = template.Must(template.New("statement").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Points statement {{.Member.MemberID}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;width:100%}th,td{padding:.3em .6em;border-bottom:1px solid #ccc;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.summary td{border:none}@media print{body{margin:0}}
</style></head><body>
<h1>Points statement</h1>
<table class="summary">
<tr><td>Member</td><td>{{.Member.FirstName}} {{.Member.LastName}} ({{.Member.MemberID}})</td></tr>
<tr><td>Tier</td><td>{{.Member.Tier}}</td></tr>
<tr><td>Period</td><td>{{.Period}}</td></tr>
<tr><td>Opening balance</td><td>{{.Opening}} points</td></tr>
<tr><td>Earned</td><td>{{.Earned}} points</td></tr>
<tr><td>Redeemed, returned and expired</td><td>{{.Debited}} points</td></tr>
<tr><td>Closing balance</td><td>{{.Closing}} points</td></tr>
</table>
<h2>Entries</h2>
<table><thead><tr><th>Date</th><th>Store</th><th>Kind</th><th>Reference</th><th class="n">Points</th><th class="n">Balance</th></tr></thead>
<tbody>{{range .Entries}}<tr><td>{{.When}}</td><td>{{.Store}}</td><td>{{.Kind}}{{if .Offline}} (offline){{end}}</td><td>{{.Ref}}</td><td class="n">{{.Points}}</td><td class="n">{{.Balance}}</td></tr>
{{else}}<tr><td colspan="6">No entries in this period.</td></tr>{{end}}</tbody></table>
{{if .Truncated}}<p>Only the first entries of the period are listed; the balances count them all.</p>{{end}}
<p>Generated {{.GeneratedAt}}.</p>
</body></html>
`))

type statementView struct {
	statement
	Period      string
	GeneratedAt string
	Entries     []entryView
}

type entryView struct {
	statementEntry
	When string
}

func writeStatementHTML(w http.ResponseWriter, st statement, loc *time.Location) error {
	const day = "2 Jan 2006"
	v := statementView{statement: st, GeneratedAt: st.Generated.In(loc).Format(day + " 15:04 MST"), Period: "all time"}
	switch {
	case st.From != nil && st.To != nil:
		v.Period = st.From.In(loc).Format(day) + " to " + lastDay(*st.To, loc)
	case st.From != nil:
		v.Period = "from " + st.From.In(loc).Format(day)
	case st.To != nil:
		v.Period = "up to " + lastDay(*st.To, loc)
	}
	for _, e := range st.Entries {
		v.Entries = append(v.Entries, entryView{statementEntry: e, When: e.At.In(loc).Format(day + " 15:04")})
	}
	var b bytes.Buffer
	if err := statementPage.Execute(&b, v); err != nil {
		return fmt.Errorf("adminapi: statement page: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
	return nil
}

// lastDay is the last day of a period ending before end.
func lastDay(end time.Time, loc *time.Location) string {
	return end.Add(-time.Nanosecond).In(loc).Format("2 Jan 2006")
}

// fileSafe keeps the characters of s that are safe in a file name.
func fileSafe(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+' {
			out = append(out, c)
		}
	}
	return string(out)
}
