package poslog

import (
	"strings"

	"github.com/patron/patron/engine"
)

// Format names the kind of file Parse recognised by its root element.
type Format string

// The formats Parse understands.
const (
	FormatPOSLog Format = "poslog" // ARTS/NRF IXRetail POSLog, root POSLog
	FormatBill   Format = "bill"   // our bill XML (docs/bill-xml.md), root Bill
)

// Kind says what a transaction is.
type Kind string

// The transaction kinds. The caller processes sale and return and skips
// (and counts) control and other.
const (
	KindSale    Kind = "sale"    // a RetailTransaction with at least one sale line, or none at all
	KindReturn  Kind = "return"  // a RetailTransaction whose lines are all returns
	KindControl Kind = "control" // a ControlTransaction: sign-on/off, no-sale, ...
	KindOther   Kind = "other"   // anything else (tender control, inventory, ...)
)

// File is a parsed till file.
type File struct {
	Format       Format
	Transactions []Transaction // in file order, control and other included
	// Skipped are transactions that are well-formed but cannot be
	// represented faithfully (see Skip); they are not in Transactions.
	Skipped []Skip
}

// Skip names a transaction left out of File.Transactions and why.
type Skip struct {
	ID     TransactionID
	Reason string
}

// TransactionID is a transaction's identity as the till wrote it. POSLog
// identifies a transaction by store, workstation, business day and sequence
// number, and optionally by a TransactionID element; the bill format by
// store, terminal, business day and bill number (which fill the same fields).
type TransactionID struct {
	RetailStoreID   string
	WorkstationID   string
	BusinessDayDate string // YYYY-MM-DD
	SequenceNumber  string
	TransactionID   string // "" unless the file carries one
}

// String is a stable, human-readable form of the identity:
// "store/workstation/day/sequence", followed by "#transactionID" when the
// file carried one.
func (id TransactionID) String() string {
	s := strings.Join([]string{id.RetailStoreID, id.WorkstationID, id.BusinessDayDate, id.SequenceNumber}, "/")
	if id.TransactionID != "" {
		s += "#" + id.TransactionID
	}
	return s
}

// Transaction is one till transaction, in the till's own terms: amounts are
// exactly as the file wrote them, converted to minor units.
type Transaction struct {
	ID   TransactionID
	Kind Kind
	// Training is set for training-mode transactions; Cancelled for
	// cancelled or voided ones; Suspended for ones parked to be resumed
	// later (a later transaction links to them). The caller skips all three.
	Training  bool
	Cancelled bool
	Suspended bool

	Currency    string // CurrencyCode (POSLog) or currency (bill); "" if absent
	EndDateTime string // as written: POSLog often has no zone offset

	// Lines are the sale and return lines left after voids (see doc.go).
	Lines []SaleLine
	// VoidedLines counts the line items removed by voids.
	VoidedLines int
	// Discounts are money the till took off, each as a positive amount.
	Discounts []Discount
	// Tax is the sum of the Tax line items' amounts.
	Tax     engine.Money
	Tenders []Tender
	// Total is the till's TransactionGrandAmount (POSLog) or the bill's
	// total; HasTotal says whether the file carried one.
	Total    engine.Money
	HasTotal bool

	// Member is the customer or loyalty identifier, nil for an anonymous
	// sale.
	Member *Member
	// Links are the transactions this one refers to: the original sale of
	// a return, a resumed suspended transaction.
	Links []Link
}

// SaleLine is one sale or return line item. Exactly one of Qty and QtyMilli
// is set, as in engine.Line.
type SaleLine struct {
	Line        int // the line item's sequence number in the transaction
	SKU         string
	Description string
	Category    string // MerchandiseHierarchy or the bill's category; may be ""
	Return      bool
	Qty         int64
	QtyMilli    int64 // weighed goods, thousandths of a unit
	UnitPrice   engine.Money
	// Amount is the till's own extended amount: the line's gross.
	Amount engine.Money
}

// EngineLine is the line as the engine prices it: the till's Amount is
// the gross.
func (l SaleLine) EngineLine() engine.Line {
	amount := l.Amount
	return engine.Line{
		Line:      l.Line,
		SKU:       l.SKU,
		Qty:       l.Qty,
		QtyMilli:  l.QtyMilli,
		UnitPrice: l.UnitPrice,
		Amount:    &amount,
	}
}

// Discount is money the till took off a line (Line > 0) or the whole
// transaction (Line 0). Amount is positive for money taken off.
type Discount struct {
	Line      int
	Promotion string // PromotionID when the file names one
	Amount    engine.Money
}

// Tender is one payment. Type is the till's own name (POSLog TenderType
// such as "Cash" or "CreditDebit"; bill payment type such as "cash" or
// "points"). Amount is as written: a till that writes change as a negative
// tender (NCR ACS does) has tenders summing to the grand total.
type Tender struct {
	Type     string
	TypeCode string // POSLog TypeCode ("Sale", "Refund"); "" for bills
	Amount   engine.Money
	// Points is the number of points redeemed, for a points tender.
	Points engine.Points
}

// IsPoints reports whether the tender was paid with loyalty points.
func (t Tender) IsPoints() bool {
	switch strings.ToLower(t.Type) {
	case "points", "loyalty", "loyaltyredemption", "loyaltypoints":
		return true
	}
	return t.Points != 0
}

// Member is how the till identified the customer. Fields the file did not
// carry are "". Normalising (E.164 mobile numbers) is the caller's job.
type Member struct {
	Mobile     string
	Card       string // loyalty card or account number (POSLog LoyaltyAccountID)
	Email      string
	CustomerID string // the retailer's customer number (POSLog Customer/CustomerID)
	FirstName  string
	LastName   string
}

// Link refers to another transaction.
type Link struct {
	ID     TransactionID
	Reason string // POSLog ReasonCode ("Return", "Resume"); "original" for bills
}
