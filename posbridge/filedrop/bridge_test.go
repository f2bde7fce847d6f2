package filedrop

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMemberSaleReturnAndPoints: a member's sale earns on what was paid,
// writes an offer file, a linked return claws back, a points tender
// redeems; each file re-delivered changes nothing.
func TestMemberSaleReturnAndPoints(t *testing.T) {
	r := newRig(t, "S001", "off")
	r.enroll(t)

	rep := r.process(t, r.drop(t, "testdata/sale-loyalty.xml", "sale.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	sale := rep.Transactions[0]
	// Paid 108.00 shared as 88.36 + 14.73 + 4.91: 88 + 14 + 4 points.
	if sale.Outcome != TxSale || sale.Net != 10800 || sale.Earned != 106 || sale.Balance != 106 ||
		sale.Terminal != "WT01" || sale.ReceiptNo != "2026-11-23.1001" || sale.ReceiptID != "S001-WT01-2026-11-23.1001" {
		t.Fatalf("sale = %+v", sale)
	}
	offerPath := filepath.Join(r.cfg.Outbox, sale.OfferFile)
	offer := readFile(t, offerPath)
	for _, want := range []string{`<OfferFile version="1">`, `id="S001-WT01-2026-11-23.1001"`, `net="108.00"`,
		`customerId="C-778812"`, `card="9990001234"`, `earned="106" redeemed="0" balance="106"`,
		`<Offer code="FIVE-OFF-1" description="5.00 off your next visit" validTo="2099-12-31" amountOff="5.00">`} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer file lacks %s:\n%s", want, offer)
		}
	}

	rep = r.process(t, r.drop(t, "testdata/return-linked.xml", "return.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	ret := rep.Transactions[0]
	// One of two teas: 88.36 / 2 = 44.18 back, its 44 points clawed back.
	if ret.Outcome != TxReturn || ret.Net != 4418 || ret.ClawedBack != 44 || ret.Balance != 62 ||
		ret.ReturnID != "S001-WT01-2026-11-23.1001/WT02.2026-11-25.2001" {
		t.Fatalf("return = %+v", ret)
	}

	rep = r.process(t, r.drop(t, "testdata/sale-points.xml", "points.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	pts := rep.Transactions[0]
	// 30.00 less 40 points × 0.25 = 20.00 paid: 20 points earned.
	if pts.Redeemed != 40 || pts.Earned != 20 || pts.Balance != 62-40+20 {
		t.Fatalf("points sale = %+v", pts)
	}

	// Everything again under new names: same answers, same balance, the
	// same offer file byte for byte.
	for _, f := range []string{"sale-loyalty.xml", "return-linked.xml", "sale-points.xml"} {
		wantOutcome(t, r.process(t, r.drop(t, "testdata/"+f, "again-"+f)), OutcomeProcessed)
	}
	if got := r.balance(t); got != 42 {
		t.Errorf("balance after re-delivery = %d, want 42", got)
	}
	if got := readFile(t, offerPath); got != offer {
		t.Errorf("re-delivery rewrote the offer file differently:\n%s\nwas\n%s", got, offer)
	}
	if s, rt := r.counter(t, "patron_node_sales_total"), r.counter(t, "patron_node_returns_total"); s != 2 || rt != 1 {
		t.Errorf("node recorded %v sales and %v returns, want 2 and 1", s, rt)
	}
}

// TestSkippedKinds: training, cancelled, voided and suspended
// transactions are skipped and counted; vendor extensions are ignored.
func TestSkippedKinds(t *testing.T) {
	r := newRig(t, "S001", "off")
	rep := r.process(t, r.drop(t, filepath.Join(poslogTestdata, "arts-training.xml"), "training.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	if rep.Skipped != 2 || rep.Sales != 0 {
		t.Errorf("training: %d skipped, %d sales; want 2, 0", rep.Skipped, rep.Sales)
	}
	rep = r.process(t, r.drop(t, filepath.Join(poslogTestdata, "arts-cancelled.xml"), "cancelled.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	if rep.Skipped != 3 || rep.Sales != 1 || rep.Transactions[3].Net != 2800 {
		t.Errorf("cancelled: %+v", rep)
	}
	rep = r.process(t, r.drop(t, filepath.Join(poslogTestdata, "arts-vendor.xml"), "vendor.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	if v := rep.Transactions[0]; v.Outcome != TxSale || v.Net != 25000 || v.MemberID != "" || v.Terminal != "WT04" {
		t.Errorf("vendor: %+v", v)
	}
	for reason, want := range map[string]float64{SkipTraining: 2, SkipCancelled: 2, SkipSuspended: 1} {
		if got := r.counter(t, "patron_filedrop_transactions_skipped_total", "reason", reason); got != want {
			t.Errorf("skipped %s = %v, want %v", reason, got, want)
		}
	}
	if got := r.counter(t, "patron_filedrop_files_total", "outcome", FileSkipped); got != 1 {
		t.Errorf("files with nothing to apply = %v, want 1 (the training file)", got)
	}
}

// TestFailures: problems found before the node is asked fail the whole
// file with nothing applied; a refusal fails it at that transaction, and
// the file processed again after the cause is fixed completes, the
// transactions before it replaying.
func TestFailures(t *testing.T) {
	r := newRig(t, "S001", "off")
	sale := readFile(t, "testdata/sale-loyalty.xml")

	// A forged store in the second transaction: nothing of the file applied.
	forged := twoTransactions(t, anonSale("S001", "5"), anonSale("S999", "6"))
	rep := r.process(t, r.dropBytes(t, []byte(forged), "forged.xml"))
	wantOutcome(t, rep, OutcomeFailed)
	if got := r.counter(t, "patron_node_sales_total"); got != 0 {
		t.Errorf("node recorded %v sales from a forged file, want 0", got)
	}
	errText := readFile(t, rep.MovedTo+ErrorSuffix)
	if !strings.Contains(errText, "S999/T01/2026-11-23/6: wrong_store") || !strings.Contains(errText, "nothing was applied") {
		t.Errorf(".error = %q", errText)
	}

	// An unknown member: an anonymous sale first (recorded), then the
	// member's sale refused.
	file := twoTransactions(t, anonSale("S001", "1000"), sale)
	rep = r.process(t, r.dropBytes(t, []byte(file), "member.xml"))
	wantOutcome(t, rep, OutcomeFailed)
	if tx := rep.Transactions[1]; tx.Outcome != TxFailed || tx.Reason != "member_not_found" {
		t.Errorf("member sale = %+v", tx)
	}
	if !strings.HasSuffix(rep.MovedTo, filepath.Join(FailedDir, "member.xml")) {
		t.Errorf("moved to %s", rep.MovedTo)
	}
	if got := readFile(t, rep.MovedTo+ErrorSuffix); !strings.Contains(got, "member_not_found") {
		t.Errorf(".error = %q", got)
	}
	// Enrol the member and put the file back: the first sale replays, the
	// second is recorded now.
	r.enroll(t)
	rep = r.process(t, r.dropBytes(t, []byte(file), "member.xml"))
	wantOutcome(t, rep, OutcomeProcessed)
	if s := r.counter(t, "patron_node_sales_total"); s != 2 || r.balance(t) != 106 {
		t.Errorf("after the fix: %v sales, balance %d; want 2, 106", s, r.balance(t))
	}

	// The same receipt number with different content: receipt_conflict.
	changed := strings.Replace(anonSale("S001", "1000"), "<ExtendedAmount>3.00<", "<ExtendedAmount>4.00<", 1)
	rep = r.process(t, r.dropBytes(t, []byte(twoTransactions(t, changed)), "member.xml"))
	wantOutcome(t, rep, OutcomeFailed)
	if rep.Transactions[0].Reason != "receipt_conflict" || !strings.HasSuffix(rep.MovedTo, "member.1.xml") {
		t.Errorf("conflict: %+v moved to %s", rep.Transactions[0], rep.MovedTo)
	}

	// A return whose original the node never saw.
	orphan := strings.Replace(readFile(t, "testdata/return-linked.xml"), "<SequenceNumber>1001<", "<SequenceNumber>999<", 2)
	rep = r.process(t, r.dropBytes(t, []byte(orphan), "orphan.xml"))
	wantOutcome(t, rep, OutcomeFailed)
	if rep.Transactions[0].Reason != ReasonOriginalNotFound {
		t.Errorf("orphan return = %+v", rep.Transactions[0])
	}
}

// TestOTPRequired: a file cannot answer an OTP, so a programme that asks
// for one fails points tenders with otp_required.
func TestOTPRequired(t *testing.T) {
	r := newRig(t, "S001", "required")
	r.enroll(t)
	wantOutcome(t, r.process(t, r.drop(t, "testdata/sale-loyalty.xml", "sale.xml")), OutcomeProcessed)
	rep := r.process(t, r.drop(t, "testdata/sale-points.xml", "points.xml"))
	wantOutcome(t, rep, OutcomeFailed)
	if rep.Transactions[0].Reason != "otp_required" {
		t.Errorf("points sale = %+v", rep.Transactions[0])
	}
}

// TestCrashBetweenProcessingAndMove applies a file without moving it (a
// crash after the node committed, before the rename), then processes it
// for real: balances, receipts and the offer file are unchanged.
func TestCrashBetweenProcessingAndMove(t *testing.T) {
	r := newRig(t, "S001", "off")
	r.enroll(t)
	path := r.drop(t, "testdata/sale-loyalty.xml", "sale.xml")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.bridge.Apply(context.Background(), "sale.xml", f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, first, OutcomeProcessed)
	offer := readFile(t, filepath.Join(r.cfg.Outbox, first.Transactions[0].OfferFile))
	balance := r.balance(t)

	// "Restart": a new bridge on the same folders and node finds the file
	// still in the inbox.
	b, err := New(r.node, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.ProcessFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, again, OutcomeProcessed)
	if a, b := again.Transactions[0], first.Transactions[0]; a != b {
		t.Errorf("after restart %+v, before %+v", a, b)
	}
	if got := r.balance(t); got != balance || got != 106 {
		t.Errorf("balance %d after the replay, %d before; want 106 both", got, balance)
	}
	if got := r.counter(t, "patron_node_sales_total"); got != 1 {
		t.Errorf("node recorded %v sales, want 1", got)
	}
	if got := readFile(t, filepath.Join(r.cfg.Outbox, again.Transactions[0].OfferFile)); got != offer {
		t.Errorf("offer file changed:\n%s\nwas\n%s", got, offer)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still in the inbox: %v", err)
	}
}

// anonSale is one anonymous POSLog transaction of store, sequence seq.
func anonSale(store, seq string) string {
	return `<Transaction><RetailStoreID>` + store + `</RetailStoreID><WorkstationID>T01</WorkstationID>
<SequenceNumber>` + seq + `</SequenceNumber><BusinessDayDate>2026-11-23</BusinessDayDate>
<RetailTransaction><LineItem><SequenceNumber>1</SequenceNumber>
<Sale><ItemID>PEN</ItemID><RegularSalesUnitPrice>3.00</RegularSalesUnitPrice><ExtendedAmount>3.00</ExtendedAmount><Quantity>1</Quantity></Sale>
</LineItem></RetailTransaction></Transaction>`
}

// twoTransactions wraps transactions (or whole POSLog files, whose
// Transaction elements are taken) in one POSLog.
func twoTransactions(t *testing.T, parts ...string) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/">` + "\n")
	for _, p := range parts {
		if i := strings.Index(p, "<Transaction"); i >= 0 {
			p = p[i:]
		}
		if i := strings.LastIndex(p, "</POSLog>"); i >= 0 {
			p = p[:i]
		}
		sb.WriteString(p + "\n")
	}
	sb.WriteString("</POSLog>\n")
	return sb.String()
}
