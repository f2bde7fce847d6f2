package sms_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/sms"
)

const e2eProgramme = `{"version": "sms-1", "currency": "INR", "minor_digits": 2,
  "earn": {"rates": [{"category": "*", "points": 1, "per": 1000}]},
  "redeem": {"point_value": 25, "otp": "off"},
  "campaigns": [],
  "messages": {"templates": {"points_earned": {"en": "+{{.Points}} points, balance {{.Balance}}"}}}}`

// TestOutboxThroughSMSC runs the node's outbox over the SMPP sender into
// the npm smpp SMSC, which drops the connection after its 3rd message:
// every sale's text arrives exactly once, and the receipts mark them
// delivered in the node.
func TestOutboxThroughSMSC(t *testing.T) {
	addr, systemID, password, texts := sms.StartTestSMSC(t, "SMSC_DROP_AFTER=3")
	ctx := context.Background()
	var target atomic.Pointer[node.Node]
	sender, err := sms.NewSMPP(sms.SMPPConfig{Addr: addr, SystemID: systemID, Password: password,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		OnReceipt: func(r sms.Receipt) {
			if n := target.Load(); n != nil {
				if err := n.RecordReceipt(ctx, r); err != nil {
					t.Errorf("record receipt: %v", err)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	n, err := node.Open(ctx, node.Config{Path: filepath.Join(t.TempDir(), "patron.db"), Store: "S001",
		SMS: sender, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	target.Store(n)
	if _, err := n.LoadProgramme(ctx, []byte(e2eProgramme)); err != nil {
		t.Fatal(err)
	}
	const sales = 6
	var want []string
	for i := range sales {
		mobile := fmt.Sprintf("+9198765432%02d", i)
		if _, err := n.Enroll(ctx, "T01", node.EnrollRequest{Mobile: mobile}); err != nil {
			t.Fatal(err)
		}
		rc, err := n.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: fmt.Sprint(i), Member: &node.Identifier{Mobile: mobile},
			Basket: &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "X", Qty: 1, UnitPrice: engine.Money(10000 * (i + 1))}}}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s +%d points, balance %d", mobile[1:], rc.Points.Earned, rc.Points.Balance))
		if i == 2 {
			waitUntil(t, "the SMSC's drop and a second bind", func() bool { b, _ := sender.Binds(); return b >= 2 })
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := n.OutboxMessages(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		delivered := 0
		for _, m := range msgs {
			if m.State == node.OutboxDelivered {
				delivered++
			}
		}
		if delivered == sales {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered: %+v", delivered, sales, msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := texts()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the SMSC got\n%q\nwant each once\n%q", got, want)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
