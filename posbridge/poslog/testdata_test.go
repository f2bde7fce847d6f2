package poslog

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTestdataFiles parses the hand-written files in testdata/, written
// from the ARTS element names and from docs/bill-xml.md, and compares every
// transaction field.
func TestTestdataFiles(t *testing.T) {
	store := func(ws, day, seq string) TransactionID {
		return TransactionID{RetailStoreID: "S001", WorkstationID: ws, BusinessDayDate: day, SequenceNumber: seq}
	}
	tea := SaleLine{Line: 1, SKU: "000000007", Qty: 1, UnitPrice: 25000, Amount: 25000}
	card := &Member{Card: "9990001234"}
	tests := []struct {
		file   string
		format Format
		want   []Transaction
	}{
		{"arts-sale-loyalty.xml", FormatPOSLog, []Transaction{{
			ID:          TransactionID{"S001", "T01", "2026-11-23", "1001", "S001-T01-20261123-1001"},
			Kind:        KindSale,
			Currency:    "INR",
			EndDateTime: "2026-11-23T10:15:00+05:30",
			Lines: []SaleLine{
				{Line: 1, SKU: "000000007", Description: "Tea 500 g", Category: "GROCERY", Qty: 2, UnitPrice: 24000, Amount: 48000},
				{Line: 2, SKU: "000000042", Description: "Basmati rice loose", QtyMilli: 1250, UnitPrice: 12000, Amount: 15000},
				{Line: 3, SKU: "000000050", Description: "Salt 1 kg", QtyMilli: 1000, UnitPrice: 2800, Amount: 2800},
			},
			Discounts: []Discount{{Line: 1, Promotion: "P-TEA", Amount: 3000}, {Promotion: "P-BILL", Amount: 800}},
			Tax:       3100,
			Tenders:   []Tender{{Type: "Cash", TypeCode: "Sale", Amount: 65100}},
			Total:     65100, HasTotal: true,
			Member: &Member{Mobile: "+91 98765 43210", Card: "9990001234", Email: "asha@example.com",
				CustomerID: "C-778812", FirstName: "Asha", LastName: "Rao"},
		}}},
		{"arts-return.xml", FormatPOSLog, []Transaction{{
			ID:       store("T02", "2026-11-25", "2001"),
			Kind:     KindReturn,
			Currency: "INR",
			Lines:    []SaleLine{{Line: 1, SKU: "000000007", Description: "Tea 500 g", Return: true, Qty: 1, UnitPrice: 24000, Amount: 24000}},
			Tenders:  []Tender{{Type: "Cash", TypeCode: "Refund", Amount: 24000}},
			Total:    24000, HasTotal: true,
			Member: card,
			Links:  []Link{{ID: store("T01", "2026-11-23", "1001"), Reason: "Return"}},
		}}},
		{"arts-points-tender.xml", FormatPOSLog, []Transaction{{
			ID:    store("T01", "2026-11-23", "1002"),
			Kind:  KindSale,
			Lines: []SaleLine{{Line: 1, SKU: "000000099", Qty: 1, UnitPrice: 88000, Amount: 88000}},
			Tenders: []Tender{
				{Type: "Loyalty", TypeCode: "Sale", Amount: 10000, Points: 400},
				{Type: "CreditDebit", TypeCode: "Sale", Amount: 78000},
			},
			Total: 88000, HasTotal: true,
			Member: card,
		}}},
		{"arts-training.xml", FormatPOSLog, []Transaction{
			{ID: store("T09", "2026-11-23", "1"), Kind: KindSale, Training: true, Lines: []SaleLine{tea}, Total: 25000, HasTotal: true},
			{ID: store("T09", "2026-11-23", "2"), Kind: KindSale, Training: true, Lines: []SaleLine{tea}},
		}},
		{"arts-cancelled.xml", FormatPOSLog, []Transaction{
			{ID: store("T01", "2026-11-23", "1003"), Kind: KindSale, Cancelled: true, Lines: []SaleLine{tea}},
			{ID: store("T01", "2026-11-23", "1004"), Kind: KindSale, Cancelled: true, Lines: []SaleLine{tea}},
			{ID: store("T01", "2026-11-23", "1005"), Kind: KindSale, Suspended: true, Lines: []SaleLine{tea}},
			{
				ID: store("T01", "2026-11-23", "1006"), Kind: KindSale,
				Lines:       []SaleLine{{Line: 2, SKU: "000000050", Qty: 1, UnitPrice: 2800, Amount: 2800}},
				VoidedLines: 1,
				Tenders:     []Tender{{Type: "Cash", Amount: 2800}},
				Total:       2800, HasTotal: true,
			},
		}},
		{"arts-vendor.xml", FormatPOSLog, []Transaction{{
			ID:      store("T04", "2026-11-23", "77"),
			Kind:    KindSale,
			Lines:   []SaleLine{tea},
			Tenders: []Tender{{Type: "Cash", Amount: 25000}},
			Total:   25000, HasTotal: true,
		}}},
		{"bill-sale.xml", FormatBill, []Transaction{{
			ID:          store("T01", "2026-11-23", "000123"),
			Kind:        KindSale,
			Currency:    "INR",
			EndDateTime: "2026-11-23T10:15:00+05:30",
			Lines: []SaleLine{
				{Line: 1, SKU: "000000007", Description: "Tea 500 g", Category: "GROCERY", Qty: 2, UnitPrice: 25000, Amount: 50000},
				{Line: 2, SKU: "000000042", Description: "Basmati rice loose", QtyMilli: 1250, UnitPrice: 12000, Amount: 15000},
				{Line: 3, SKU: "000000099", Description: "Kettle", Qty: 1, UnitPrice: 49950, Amount: 49950},
			},
			Tenders: []Tender{{Type: "cash", Amount: 89950}, {Type: "points", Amount: 25000, Points: 1000}},
			Total:   114950, HasTotal: true,
			Member: &Member{Mobile: "+91 98765 43210", FirstName: "Asha", LastName: "Rao"},
		}}},
		{"bill-return.xml", FormatBill, []Transaction{{
			ID:      store("T02", "2026-11-25", "R-0007"),
			Kind:    KindReturn,
			Lines:   []SaleLine{{Line: 1, SKU: "000000007", Description: "Tea 500 g", Return: true, Qty: 1, UnitPrice: 25000, Amount: 25000}},
			Tenders: []Tender{{Type: "cash", Amount: 25000}},
			Member:  card,
			Links:   []Link{{ID: store("T01", "2026-11-23", "000123"), Reason: "original"}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file := parseFile(t, filepath.Join("testdata", tt.file), DefaultLimits())
			if file.Format != tt.format {
				t.Errorf("format = %q, want %q", file.Format, tt.format)
			}
			if len(file.Skipped) != 0 {
				t.Errorf("skipped = %+v, want none", file.Skipped)
			}
			if len(file.Transactions) != len(tt.want) {
				t.Fatalf("got %d transactions, want %d", len(file.Transactions), len(tt.want))
			}
			for i, got := range file.Transactions {
				if !reflect.DeepEqual(got, tt.want[i]) {
					t.Errorf("transaction %d:\n got %s\nwant %s", i+1, dump(got), dump(tt.want[i]))
				}
			}
		})
	}
}

func dump(t Transaction) string {
	s := fmt.Sprintf("%+v", t)
	if t.Member != nil {
		s = strings.Replace(s, fmt.Sprintf("%p", t.Member), fmt.Sprintf("%+v", *t.Member), 1)
	}
	return s
}

// TestEngineLine checks that a parsed line carries the till's amount to
// the engine.
func TestEngineLine(t *testing.T) {
	l := SaleLine{Line: 2, SKU: "A", QtyMilli: 650, UnitPrice: 1199, Amount: 815}
	got := l.EngineLine()
	if got.Line != 2 || got.SKU != "A" || got.Qty != 0 || got.QtyMilli != 650 || got.UnitPrice != 1199 || got.Amount == nil || *got.Amount != 815 {
		t.Errorf("EngineLine = %+v (amount %v), want line 2 A 650 thousandths at 1199, amount 815", got, got.Amount)
	}
}
