package node

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// The report scale driver: it builds a chain's data file through the
// apply path (ApplyEvents' fold, in large transactions, fsync off) and
// times each report for one store and one week, for the whole chain, and
// for one member. It takes tens of minutes and ~10 GB of disk, so it is
// off unless asked for:
//
//	go test -run TestReportScale -timeout 3h -v ./node -report.scale \
//	    [-report.members 1000000] [-report.entries 10000000] [-report.dir DIR]
//
// With -report.dir the data file is kept there and reused by later runs
// (only the timings run again). docs/reports.md records the figures.

var (
	reportScale   = flag.Bool("report.scale", false, "run TestReportScale (builds a large data file; minutes)")
	scaleMembers  = flag.Int("report.members", 1_000_000, "TestReportScale: members")
	scaleEntries  = flag.Int("report.entries", 10_000_000, "TestReportScale: ledger entries (at least)")
	scaleDir      = flag.String("report.dir", "", "TestReportScale: keep and reuse the data file in this directory")
	scaleRebuild  = flag.Bool("report.rebuild", false, "TestReportScale: also time rebuilding the indexes (the schema 5 migration)")
	scaleStores   = 20
	scaleSKUs     = 200
	scaleYear     = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	scaleBatchMax = 4_000 // events per build transaction
)

func TestReportScale(t *testing.T) {
	if !*reportScale {
		t.Skip("scale run: pass -report.scale (see report_scale_test.go)")
	}
	dir := *scaleDir
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("scale-%d-%d.db", *scaleMembers, *scaleEntries))
	_, statErr := os.Stat(path)
	n, err := Open(context.Background(), Config{Path: path, Store: "HQ", Origin: "HQ", NoSync: true,
		Now: func() time.Time { return scaleYear.AddDate(1, 0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if statErr != nil {
		if _, err := n.LoadProgramme(context.Background(), scaleProgramme(t)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		events, entries := buildScale(t, n)
		fi, _ := os.Stat(path)
		t.Logf("built %d members, %d events, %d ledger entries in %s; file %.1f GB",
			*scaleMembers, events, entries, time.Since(start).Round(time.Second), float64(fi.Size())/1e9)
	}
	week := time.Date(2025, 7, 7, 0, 0, 0, 0, kolkata) // a Monday
	member := fmt.Sprintf("+9198%08d", 4242)
	cases := []struct {
		label, report string
		f             ReportFilter
	}{
		{"store/week", "sales-vs-redemption", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "card-sales", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "item-sales", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "attribute-sales", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "point-ledger", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "point-ledger", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7), Detail: true}},
		{"store/week", "card-types", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "card-types", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7), Detail: true}},
		{"store/week", "card-issue", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week", "card-maintenance", ReportFilter{Store: "S07", From: week, To: week.AddDate(0, 0, 7)}},
		{"store/week, edges mid-slot", "sales-vs-redemption", ReportFilter{Store: "S07", From: week.Add(7 * time.Minute), To: week.AddDate(0, 0, 7).Add(7 * time.Minute)}},
		{"chain/week", "sales-vs-redemption", ReportFilter{From: week, To: week.AddDate(0, 0, 7)}},
		{"chain/week", "point-ledger", ReportFilter{From: week, To: week.AddDate(0, 0, 7)}},
		{"chain/week", "item-sales", ReportFilter{From: week, To: week.AddDate(0, 0, 7)}},
		{"chain/year", "sales-vs-redemption", ReportFilter{}},
		{"chain/year", "card-types", ReportFilter{}},
		{"chain/year", "item-sales", ReportFilter{}},
		{"one member", "point-ledger", ReportFilter{Member: member}},
		{"one member", "point-ledger", ReportFilter{Member: member, Detail: true}},
		{"one member", "statement", ReportFilter{Member: member}},
		{"one member/week", "statement", ReportFilter{Member: member, From: week, To: week.AddDate(0, 0, 7)}},
	}
	for _, c := range cases {
		rows := 0
		start := time.Now()
		_, err := n.RunReport(context.Background(), c.report, c.f, func([]string) error { rows++; return nil }, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", c.label, c.report, err)
		}
		detail := ""
		if c.f.Detail {
			detail = " (detail)"
		}
		t.Logf("| %s | %s%s | %d | %s |", c.label, c.report, detail, rows, time.Since(start).Round(10*time.Microsecond))
	}
	if *scaleRebuild {
		start := time.Now()
		if err := n.db.Update(buildReportIndexes); err != nil {
			t.Fatal(err)
		}
		t.Logf("rebuilt the report indexes (schema 5 migration) in %s", time.Since(start).Round(time.Second))
	}
}

func scaleProgramme(t testing.TB) []byte { return reportProgramme(t, "v1") }

// buildScale appends the data set through the apply path: members
// enrolled over the year, then sales spread over the year (earn and bonus
// entries, and a redemption from each member's second sale on), every
// 50th sale returned the next day, every 100th card blocked.
func buildScale(t *testing.T, n *Node) (events, entries int) {
	t.Helper()
	seqs := make([]uint64, scaleStores)
	stores := make([]string, scaleStores)
	for i := range stores {
		stores[i] = fmt.Sprintf("S%02d", i+1)
	}
	var batch []decoded
	flush := func() {
		if len(batch) == 0 {
			return
		}
		err := n.db.Update(func(tx *bbolt.Tx) error {
			_, err := n.applyRemote(tx, batch, newEffects())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		events += len(batch)
		batch = batch[:0]
	}
	add := func(s int, ev engine.Event) {
		seqs[s]++
		ev.Origin, ev.Seq, ev.Store, ev.Terminal = stores[s], seqs[s], stores[s], "T1"
		ev.HLC = engine.HLC{Wall: ev.At.UnixNano(), Logical: uint32(seqs[s])}
		raw, err := engine.EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, decoded{ev: ev, raw: raw})
		entries += len(engine.EventEntries(ev))
		if len(batch) >= scaleBatchMax {
			flush()
		}
	}
	M := *scaleMembers
	member := func(i int) string { return fmt.Sprintf("+9198%08d", i) }
	january, year := 31*24*time.Hour, 365*24*time.Hour
	for i := range M {
		at := scaleYear.Add(year / time.Duration(M) * time.Duration(i))
		typ := "classic"
		if i%5 == 0 {
			typ = "gold"
		}
		add(i%scaleStores, engine.Event{Kind: engine.EventMemberEnrolled, Member: member(i), At: at,
			Enrolment: &engine.Enrolment{Profile: map[string]string{engine.FieldFirstName: "M"},
				Consents: map[string]bool{"programme_terms": true}, Cards: []engine.CardChange{{Number: fmt.Sprintf("C%08d", i), Type: typ}},
				Groups: []string{}}})
		if i%100 == 99 {
			add(i%scaleStores, engine.Event{Kind: engine.EventCardBlocked, Member: member(i), At: at.Add(time.Minute),
				Card: &engine.CardChange{Number: fmt.Sprintf("C%08d", i), Reason: "lost"}})
		}
		if i%100_000 == 0 {
			flush()
			t.Logf("enrolled %d (%s)", i, time.Now().Format(time.TimeOnly))
		}
	}
	flush()
	// Entries ≈ 2 per sale + a redemption from the M-th sale on + a
	// claw-back per 50 sales: 3.02 S − M.
	sales := int(float64(*scaleEntries+M)/3.02) + 1
	rest := 334 * 24 * time.Hour // February to December
	skus := []string{"BK1", "PEN1"}
	for i := 0; entries < *scaleEntries; i++ {
		at := scaleYear.Add(january + rest/time.Duration(sales)*time.Duration(min(i, sales-1)))
		s := (i * 7) % scaleStores
		m := member(i % M)
		receipt := fmt.Sprintf("%s-%09d", stores[s], i)
		sku := skus[i%2]
		if i%3 == 0 {
			sku = fmt.Sprintf("X%03d", i%scaleSKUs)
		}
		gross := engine.Money(1000 + 10*(i%500))
		lines := []engine.LineResult{{Line: 1, SKU: sku, Category: "books", Qty: 1, Gross: gross, Discounts: []engine.Discount{},
			Net: gross, Paid: gross}}
		sc := &engine.SaleCompleted{ReceiptID: receipt, Terminal: "T1", ReceiptNo: receipt, Fingerprint: "f", ProgrammeVersion: "v1",
			Evaluation: engine.Evaluation{Lines: lines, BillDiscounts: []engine.Discount{}, FreeItems: []engine.FreeItem{},
				Choices: []engine.Choice{}, Applied: []string{}, CouponsUsed: []string{}, ProgrammeVersion: "v1",
				Totals: engine.Totals{Gross: gross, Net: gross}}, Spend: gross}
		earn := engine.Points(gross / 1000)
		sc.Entries = []engine.Entry{
			{ID: receipt + "/earn", At: at, Store: stores[s], Kind: engine.EntryEarn, Points: earn, Ref: receipt},
			{ID: receipt + "/bonus", At: at, Store: stores[s], Kind: engine.EntryBonus, Points: 1, Ref: receipt}}
		if i >= M {
			sc.Entries = append(sc.Entries, engine.Entry{ID: receipt + "/redeem", At: at, Store: stores[s], Kind: engine.EntryRedeem, Points: -1, Ref: receipt})
			sc.Evaluation.Lines[0].Paid -= 25
			sc.Evaluation.Lines[0].PointsShare = 1
			sc.Spend -= 25
		}
		add(s, engine.Event{Kind: engine.EventSaleCompleted, Member: m, At: at, Sale: sc})
		if i%50 == 49 {
			rs := (s + 1) % scaleStores
			ra := at.Add(24 * time.Hour)
			id := receipt + "/1"
			add(rs, engine.Event{Kind: engine.EventSaleReturned, Member: m, At: ra, Return: &engine.SaleReturned{
				ReceiptID: receipt, ReturnNo: "1", ReturnID: id, Fingerprint: "f",
				Result: engine.ReturnResult{Lines: []engine.ReturnedLine{{Line: 1, Qty: 1, Money: gross, Earn: earn}}, Money: gross,
					ClawedBack: earn},
				Entries:         []engine.Entry{{ID: id + "@" + stores[rs] + "/clawback", At: ra, Store: stores[rs], Kind: engine.EntryReturn, Points: -earn, Ref: id}},
				Spend:           -gross,
				CouponsReleased: []string{}}})
		}
		if i%500_000 == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("sales %d/%d, entries %d (%s, heap %d MB)", i, sales, entries, time.Now().Format(time.TimeOnly), ms.HeapAlloc>>20)
		}
	}
	flush()
	return events, entries
}

// BenchmarkApplySales measures the fold's apply path for sale events
// (three entries, one line each, 1,000 events per transaction, fsync
// off), report indexes included: compare with the hooks in events.go
// commented out for their cost.
//
//	go test -run '^$' -bench ApplySales -benchtime 50000x ./node
func BenchmarkApplySales(b *testing.B) {
	n, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "a.db"), Store: "HQ", Origin: "HQ", NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var batch []decoded
	flush := func() {
		err := n.db.Update(func(tx *bbolt.Tx) error {
			_, err := n.applyRemote(tx, batch, newEffects())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	events := make([]decoded, b.N)
	for i := range events {
		at := scaleYear.Add(time.Duration(i) * time.Second)
		receipt := fmt.Sprintf("S01-%09d", i)
		gross := engine.Money(1000 + i%500)
		ev := engine.Event{Kind: engine.EventSaleCompleted, Origin: "S01", Seq: uint64(i + 1), Store: "S01",
			HLC: engine.HLC{Wall: at.UnixNano()}, Member: fmt.Sprintf("+9198%08d", i%10_000), At: at,
			Sale: &engine.SaleCompleted{ReceiptID: receipt, Terminal: "T1", ReceiptNo: receipt, Fingerprint: "f", ProgrammeVersion: "v1",
				Evaluation: engine.Evaluation{Lines: []engine.LineResult{{Line: 1, SKU: "BK1", Qty: 1, Gross: gross,
					Discounts: []engine.Discount{}, Net: gross, Paid: gross - 25}}, BillDiscounts: []engine.Discount{},
					FreeItems: []engine.FreeItem{}, Choices: []engine.Choice{}, Applied: []string{}, CouponsUsed: []string{},
					ProgrammeVersion: "v1", Totals: engine.Totals{Gross: gross, Net: gross}},
				Entries: []engine.Entry{
					{ID: receipt + "/earn", At: at, Store: "S01", Kind: engine.EntryEarn, Points: 10, Ref: receipt},
					{ID: receipt + "/bonus", At: at, Store: "S01", Kind: engine.EntryBonus, Points: 1, Ref: receipt},
					{ID: receipt + "/redeem", At: at, Store: "S01", Kind: engine.EntryRedeem, Points: -1, Ref: receipt}},
				Spend: gross - 25}}
		raw, err := engine.EncodeEvent(ev)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = decoded{ev: ev, raw: raw}
	}
	b.ResetTimer()
	for _, d := range events {
		batch = append(batch, d)
		if len(batch) == 1000 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}
