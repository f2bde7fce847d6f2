package filedrop

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/posbridge/poslog"
)

// TestRealSamples drops the real NCR ACS POSLog files into the inbox of a
// node of store 9. Every retail transaction must become exactly one
// anonymous sale and every control transaction a counted skip. The money
// check: for each sale, the node's receipt net must equal the till's
// TransactionGrandAmount less its tax, because the bridge passes each line
// at what was paid for it (its amount less the till's discounts, see
// doc.go) and the test programme has no campaigns of its own that apply
// without a coupon, so the node's net is the sum of what it was given.
// The expected figures come from the parsed files, independently of the
// bridge. Dropping the files again under new names changes nothing.
func TestRealSamples(t *testing.T) {
	r := newRig(t, "9", "off")
	files := []string{"ncr-acs-2.1-store9.xml", "ncr-acs-2.1-small.xml"}

	var wantSales, wantControl int
	wantNet := map[string]engine.Money{} // transaction id → grand total − tax
	var wantSum engine.Money
	for _, name := range files {
		f, err := os.Open(filepath.Join(samplesDir, name))
		if err != nil {
			t.Fatalf("sample missing: %v", err)
		}
		file, err := poslog.Parse(f, poslog.DefaultLimits())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range file.Transactions {
			switch tx.Kind {
			case poslog.KindSale:
				wantSales++
				wantNet[tx.ID.String()] = tx.Total - tx.Tax
				wantSum += tx.Total - tx.Tax
			case poslog.KindControl:
				wantControl++
			}
		}
	}
	if wantSales != 43 || wantControl != 10 {
		t.Fatalf("samples hold %d sales and %d control transactions, want 43 and 10", wantSales, wantControl)
	}

	run := func(round string) (sales, control int, sum engine.Money) {
		t.Helper()
		for _, name := range files {
			start := time.Now()
			rep := r.process(t, r.drop(t, filepath.Join(samplesDir, name), round+name))
			wantOutcome(t, rep, OutcomeProcessed)
			t.Logf("%s%s: %d sales, %d skipped in %v", round, name, rep.Sales, rep.Skipped, time.Since(start).Round(time.Millisecond))
			for _, tx := range rep.Transactions {
				switch {
				case tx.Outcome == TxSale:
					sales++
					sum += tx.Net
					if want := wantNet[tx.ID]; tx.Net != want {
						t.Errorf("%s: node net %d, till grand total − tax %d", tx.ID, tx.Net, want)
					}
					if tx.MemberID != "" || tx.Earned != 0 {
						t.Errorf("%s: member %q earned %d, want an anonymous sale", tx.ID, tx.MemberID, tx.Earned)
					}
				case tx.Outcome == TxSkipped && tx.Reason == SkipControl:
					control++
				default:
					t.Errorf("%s: outcome %s %s %s", tx.ID, tx.Outcome, tx.Reason, tx.Message)
				}
			}
		}
		return sales, control, sum
	}

	sales, control, sum := run("")
	if sales != wantSales || control != wantControl || sum != wantSum {
		t.Errorf("first drop: %d sales, %d control, net %d; want %d, %d, %d", sales, control, sum, wantSales, wantControl, wantSum)
	}
	if got := r.counter(t, "patron_node_sales_total"); got != float64(wantSales) {
		t.Errorf("node recorded %v sales, want %d", got, wantSales)
	}
	if got := r.counter(t, "patron_filedrop_transactions_skipped_total", "reason", SkipControl); got != float64(wantControl) {
		t.Errorf("control skips counted %v, want %d", got, wantControl)
	}

	// The same files again, renamed: the node answers with its stored
	// receipts and records nothing new.
	sales, control, sum = run("again-")
	if sales != wantSales || control != wantControl || sum != wantSum {
		t.Errorf("second drop: %d sales, %d control, net %d; want %d, %d, %d", sales, control, sum, wantSales, wantControl, wantSum)
	}
	if got := r.counter(t, "patron_node_sales_total"); got != float64(wantSales) {
		t.Errorf("after re-delivery the node recorded %v sales, want still %d", got, wantSales)
	}
	if got := r.counter(t, "patron_filedrop_files_total", "outcome", OutcomeProcessed); got != 4 {
		t.Errorf("files processed = %v, want 4", got)
	}
	entries, err := os.ReadDir(filepath.Join(r.cfg.Inbox, ProcessedDir))
	if err != nil || len(entries) != 4 {
		t.Errorf("processed/ holds %d files (%v), want 4", len(entries), err)
	}
	t.Logf("samples: %d sales (net %d minor units), %d control transactions skipped, per drop", sales, sum, control)
}
