package poslog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron/patron/engine"
)

// samplesDir holds the real NCR ACS POSLog files; CI checks shared/ out
// beside the repository. A missing sample is a failure, not a skip.
const samplesDir = "../../../shared/samples/poslog"

func parseFile(t *testing.T, path string, lim Limits) *File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open sample: %v", err)
	}
	defer f.Close()
	file, err := Parse(f, lim)
	if err != nil {
		t.Fatalf("Parse(%s): %v", filepath.Base(path), err)
	}
	return file
}

func TestNCRSampleDay(t *testing.T) {
	file := parseFile(t, filepath.Join(samplesDir, "ncr-acs-2.1-store9.xml"), DefaultLimits())
	if file.Format != FormatPOSLog {
		t.Errorf("format = %q, want %q", file.Format, FormatPOSLog)
	}
	if len(file.Skipped) != 0 {
		t.Errorf("skipped = %+v, want none", file.Skipped)
	}
	kinds := map[Kind]int{}
	ids := map[TransactionID]bool{}
	var lines, weighed, voided int
	var grand engine.Money
	for _, tx := range file.Transactions {
		kinds[tx.Kind]++
		if ids[tx.ID] {
			t.Errorf("identity %s appears twice", tx.ID)
		}
		ids[tx.ID] = true
		if tx.Training || tx.Cancelled || tx.Suspended || tx.Member != nil {
			t.Errorf("%s: training %v cancelled %v suspended %v member %v, want an ordinary anonymous sale",
				tx.ID, tx.Training, tx.Cancelled, tx.Suspended, tx.Member)
		}
		if tx.Kind != KindSale {
			continue
		}
		lines += len(tx.Lines)
		voided += tx.VoidedLines
		grand += tx.Total
		checkExplained(t, tx)
		for _, l := range tx.Lines {
			if l.QtyMilli != 0 {
				weighed++
			}
			if (l.Qty == 0) == (l.QtyMilli == 0) && l.Amount != 0 {
				t.Errorf("%s line %d: qty %d qty_milli %d, want exactly one", tx.ID, l.Line, l.Qty, l.QtyMilli)
			}
		}
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"transactions", len(file.Transactions), 51},
		{"sale transactions", kinds[KindSale], 42},
		{"control transactions", kinds[KindControl], 9},
		{"other kinds", len(file.Transactions) - kinds[KindSale] - kinds[KindControl], 0},
		// 552 Sale line items, of which 4 are NCR void lines that each
		// cancel an earlier line: 552 - 2×4.
		{"sale lines", lines, 544},
		{"voided line items", voided, 4},
		// 168 weighed Sale line items (acs:weightItem; one weighs "1.00"),
		// 2 of them void lines cancelling 2 weighed originals.
		{"weighed lines", weighed, 164},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// The day's TransactionGrandAmount sum, computed independently with
	// exact decimals.
	if want := engine.Money(264372); grand != want {
		t.Errorf("sum of grand totals = %d, want %d", grand, want)
	}
}

// checkExplained checks that the lines, discounts and tax of a retail
// transaction add up to its TransactionGrandAmount, and the tenders too.
func checkExplained(t *testing.T, tx Transaction) {
	t.Helper()
	if !tx.HasTotal {
		t.Errorf("%s: no TransactionGrandAmount", tx.ID)
		return
	}
	var sum, off, paid engine.Money
	for _, l := range tx.Lines {
		sum += l.Amount
	}
	for _, d := range tx.Discounts {
		off += d.Amount
	}
	for _, p := range tx.Tenders {
		paid += p.Amount
	}
	if got := sum - off + tx.Tax; got != tx.Total {
		t.Errorf("%s: lines %d - discounts %d + tax %d = %d, want grand total %d", tx.ID, sum, off, tx.Tax, got, tx.Total)
	}
	if paid != tx.Total {
		t.Errorf("%s: tenders sum to %d, want grand total %d", tx.ID, paid, tx.Total)
	}
}

func TestNCRSampleDetails(t *testing.T) {
	file := parseFile(t, filepath.Join(samplesDir, "ncr-acs-2.1-store9.xml"), DefaultLimits())
	find := func(ws, seq string) Transaction {
		t.Helper()
		for _, tx := range file.Transactions {
			if tx.ID.WorkstationID == ws && tx.ID.SequenceNumber == seq {
				return tx
			}
		}
		t.Fatalf("no transaction %s/%s", ws, seq)
		return Transaction{}
	}
	// Workstation 31 sequence 115: the 1.47 lb of apples on line 7 is
	// voided by line 9, which NCR writes as a negated copy.
	tx := find("31", "115")
	var skus []string
	for _, l := range tx.Lines {
		skus = append(skus, fmt.Sprintf("%d:%s", l.Line, l.SKU))
	}
	want := "2:00767707001067 3:00012993221201 4:00781655230003 5:00705118700018 6:00000000006651 8:00000000063265 10:00856589001194"
	if got := strings.Join(skus, " "); got != want || tx.VoidedLines != 1 {
		t.Errorf("31/115 lines = %s (voided %d), want %s (voided 1)", got, tx.VoidedLines, want)
	}
	// Line 6 is "2 for 3.00": the till's amount, not unit price × qty.
	if l := tx.Lines[4]; l.Qty != 2 || l.UnitPrice != 300 || l.Amount != 300 {
		t.Errorf("lemons = %+v, want qty 2, unit price 300, amount 300", l)
	}
	if l := tx.Lines[5]; l.QtyMilli != 1470 || l.Qty != 0 || l.Amount != 587 {
		t.Errorf("grapes = %+v, want 1470 thousandths for 587", l)
	}

	// 32/114: a deli item weighed at exactly 1.00 is still weighed.
	for _, l := range find("32", "114").Lines {
		if strings.TrimSpace(l.Description) == "DELI HOT SIDE" && (l.QtyMilli != 1000 || l.Qty != 0) {
			t.Errorf("deli hot side = %+v, want 1000 thousandths", l)
		}
	}

	// 34/101: a bottle refund is a sale line with a negative amount.
	if l := find("34", "101").Lines[0]; l.SKU != "00000000054409" || l.Qty != 1 || l.Amount != -200 {
		t.Errorf("bottle refund = %+v, want qty 1, amount -200", l)
	}

	// 31/114 resumes a suspended transaction of workstation 32.
	wantLink := Link{ID: TransactionID{"9", "32", "2017-10-01", "111", ""}, Reason: "Resume"}
	if got := find("31", "114").Links; len(got) != 1 || got[0] != wantLink {
		t.Errorf("links = %+v, want %+v", got, wantLink)
	}
}

func TestNCRSmallSample(t *testing.T) {
	file := parseFile(t, filepath.Join(samplesDir, "ncr-acs-2.1-small.xml"), DefaultLimits())
	if len(file.Transactions) != 2 {
		t.Fatalf("got %d transactions, want 2", len(file.Transactions))
	}
	ctl, sale := file.Transactions[0], file.Transactions[1]
	if ctl.Kind != KindControl || ctl.ID.SequenceNumber != "160" {
		t.Errorf("first = %s %s, want control 160", ctl.Kind, ctl.ID)
	}
	want := SaleLine{Line: 1, SKU: "00000000067591", Description: "APPLE HONEYCRISP ORG", Category: "6",
		QtyMilli: 420, UnitPrice: 299, Amount: 126}
	if sale.Kind != KindSale || len(sale.Lines) != 1 || sale.Lines[0] != want {
		t.Fatalf("sale = %s %+v, want one line %+v", sale.Kind, sale.Lines, want)
	}
	if got := (TransactionID{"9", "34", "2017-09-30", "161", ""}); sale.ID != got {
		t.Errorf("id = %+v, want %+v", sale.ID, got)
	}
	// NCR repeats the 0.19 reward as detail and summary; it counts once.
	if len(sale.Discounts) != 1 || sale.Discounts[0] != (Discount{Promotion: "5123", Amount: 19}) {
		t.Errorf("discounts = %+v, want one of 19 from promotion 5123", sale.Discounts)
	}
	if sale.Total != 107 || len(sale.Tenders) != 1 || sale.Tenders[0] != (Tender{Type: "CreditDebit", TypeCode: "Sale", Amount: 107}) {
		t.Errorf("total %d tenders %+v, want 107 paid by one CreditDebit", sale.Total, sale.Tenders)
	}
	checkExplained(t, sale)
}
