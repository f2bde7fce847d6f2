package poslog

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patron/patron/engine"
)

// posLogHandler reads ARTS/NRF POSLog. Elements are matched on local names
// in the root's namespace; other namespaces are vendor extensions and are
// pruned, except the NCR ACS reward amounts named in keep and the
// acs:weightItem attribute.
type posLogHandler struct {
	lim  Limits
	file *File
	txs  int
	cur  *txAcc // the transaction being read
}

// txAcc gathers what a transaction's line items say, one item at a time.
type txAcc struct {
	items     int
	lines     []SaleLine
	voided    int
	discounts []Discount
	tax       engine.Money
	tenders   []Tender
	member    *Member
	links     []Link
	skip      string // why the transaction cannot be represented, if so
}

func newPOSLogHandler(lim Limits, f *File) *posLogHandler {
	return &posLogHandler{lim: lim, file: f}
}

// ncrRewardFields are the NCR ACS (acs:) children of a LoyaltyReward that
// carry its money: the one vendor extension read, because the grand total
// cannot be explained without it.
var ncrRewardFields = map[string]bool{"RewardCategory": true, "ExtendedRewardAmount": true}

func (h *posLogHandler) keep(parent *node, name xml.Name) bool {
	return parent != nil && parent.name == "LoyaltyReward" && !parent.foreign && ncrRewardFields[name.Local]
}

func (h *posLogHandler) start(n *node) error {
	switch {
	case isTransaction(n):
		if h.txs++; h.txs > h.lim.MaxTransactions {
			return errAt(n, "more than %d transactions in the file: %w", h.lim.MaxTransactions, ErrTooManyItems)
		}
		h.cur = &txAcc{}
	case isLineItem(n):
		if h.cur.items++; h.cur.items > h.lim.MaxLineItems {
			return errAt(n, "more than %d line items in the transaction: %w", h.lim.MaxLineItems, ErrTooManyItems)
		}
	}
	return nil
}

func (h *posLogHandler) end(n *node) (bool, error) {
	switch {
	case isLineItem(n):
		return true, h.lineItem(n)
	case isTransaction(n):
		return true, h.transaction(n)
	case n.parent != nil && n.parent.parent == nil:
		return true, nil // other children of POSLog: not ours
	}
	return false, nil
}

func isTransaction(n *node) bool {
	return n.name == "Transaction" && !n.foreign && n.parent != nil && n.parent.parent == nil
}

// isLineItem: a LineItem of any transaction type (RetailTransaction,
// TenderControlTransaction, ...) directly under Transaction.
func isLineItem(n *node) bool {
	return n.name == "LineItem" && !n.foreign && n.parent != nil && n.parent.parent != nil &&
		isTransaction(n.parent.parent)
}

// transaction turns a closed Transaction element into a value.
func (h *posLogHandler) transaction(n *node) error {
	acc := h.cur
	h.cur = nil
	t := Transaction{
		ID: TransactionID{
			RetailStoreID:   childText(n, "RetailStoreID"),
			WorkstationID:   childText(n, "WorkstationID"),
			BusinessDayDate: childText(n, "BusinessDayDate"),
			SequenceNumber:  childText(n, "SequenceNumber"),
			TransactionID:   childText(n, "TransactionID"),
		},
		Kind:        KindOther,
		Currency:    childText(n, "CurrencyCode"),
		EndDateTime: childText(n, "EndDateTime"),
	}
	if d := child(n, "BusinessDayDate"); d != nil {
		if _, err := time.Parse(time.DateOnly, t.ID.BusinessDayDate); err != nil {
			return errAt(d, "business day %q is not YYYY-MM-DD: %w", t.ID.BusinessDayDate, ErrInvalid)
		}
	}
	if err := readFlags(n, &t); err != nil {
		return err
	}
	if rt := child(n, "RetailTransaction"); rt != nil {
		if err := h.retail(rt, acc, &t); err != nil {
			return err
		}
	} else if child(n, "ControlTransaction") != nil {
		t.Kind = KindControl
	}
	switch {
	case t.ID.SequenceNumber == "" && t.ID.TransactionID == "":
		h.file.Skipped = append(h.file.Skipped, Skip{ID: t.ID, Reason: "no SequenceNumber or TransactionID to identify it"})
	case acc.skip != "":
		h.file.Skipped = append(h.file.Skipped, Skip{ID: t.ID, Reason: acc.skip})
	default:
		h.file.Transactions = append(h.file.Transactions, t)
	}
	return nil
}

// retail fills t from a RetailTransaction and its gathered line items.
func (h *posLogHandler) retail(rt *node, acc *txAcc, t *Transaction) error {
	if err := readFlags(rt, t); err != nil {
		return err
	}
	t.Lines, t.VoidedLines, t.Discounts, t.Tax, t.Tenders = acc.lines, acc.voided, acc.discounts, acc.tax, acc.tenders
	t.Member, t.Links = acc.member, acc.links
	t.Kind = KindSale
	returns := 0
	for _, l := range t.Lines {
		if l.Return {
			returns++
		}
	}
	if returns > 0 && returns == len(t.Lines) {
		t.Kind = KindReturn
	}
	for _, k := range rt.kids {
		if k.foreign {
			continue
		}
		switch k.name {
		case "Total":
			if attr(k, "TotalType") != "TransactionGrandAmount" || t.HasTotal {
				continue
			}
			m, err := money(k, h.lim)
			if err != nil {
				return err
			}
			t.Total, t.HasTotal = m, true
		case "TransactionLink":
			t.Links = addLink(t.Links, link(k))
		case "Customer", "LoyaltyAccount":
			t.Member = mergeMember(t.Member, member(k))
		}
	}
	return nil
}

// readFlags reads training, cancel and status markers of a Transaction or
// RetailTransaction, written as attributes or as child elements.
func readFlags(n *node, t *Transaction) error {
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{"TrainingModeFlag", &t.Training},
		{"CancelFlag", &t.Cancelled},
		{"VoidFlag", &t.Cancelled},
	} {
		on, err := flag(n, f.name)
		if err != nil {
			return err
		}
		*f.dst = *f.dst || on
	}
	status := attr(n, "TransactionStatus")
	if c := child(n, "TransactionStatus"); c != nil {
		status = text(c)
	}
	switch strings.ToLower(status) {
	case "cancelled", "canceled", "voided", "postvoided", "aborted":
		t.Cancelled = true
	case "suspended", "suspendeddeleted":
		t.Suspended = true
	}
	return nil
}

// flag reads an xs:boolean given as attribute or child element.
func flag(n *node, name string) (bool, error) {
	at := n
	v, ok := attrOK(n, name)
	if c := child(n, name); c != nil {
		at, v, ok = c, text(c), true
	}
	if !ok {
		return false, nil
	}
	switch strings.TrimSpace(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, errAt(at, "%s %q is not a boolean: %w", name, v, ErrInvalid)
}

// lineItem reads one closed LineItem into the transaction's accumulator.
func (h *posLogHandler) lineItem(n *node) error {
	acc := h.cur
	voided, err := flag(n, "VoidFlag")
	if err != nil {
		return err
	}
	seq := acc.items
	if c := child(n, "SequenceNumber"); c != nil {
		if seq, err = strconv.Atoi(text(c)); err != nil {
			return errAt(c, "line item sequence number %q: %w", text(c), ErrInvalid)
		}
	}
	for _, k := range n.kids {
		if k.foreign {
			continue
		}
		if err := h.lineItemPart(k, seq, voided, acc); err != nil {
			return err
		}
	}
	return nil
}

func (h *posLogHandler) lineItemPart(k *node, seq int, voided bool, acc *txAcc) error {
	switch k.name {
	case "Sale", "Return":
		// acs:weightItem is NCR's mark of a weighed line, which matters
		// for a weight that happens to be whole ("1.00").
		l, err := h.saleLine(k, seq, anyAttr(k.parent, "weightItem") == "true")
		if err != nil {
			return err
		}
		if voided {
			acc.void(l)
			return nil
		}
		acc.lines = append(acc.lines, l)
		for _, m := range k.kids {
			if m.name == "RetailPriceModifier" && !m.foreign {
				if err := h.discount(m, seq, acc); err != nil {
					return err
				}
			}
			if m.name == "TransactionLink" && !m.foreign {
				acc.links = addLink(acc.links, link(m))
			}
		}
	case "Discount":
		if !voided {
			return h.discount(k, 0, acc)
		}
	case "Tax":
		if voided {
			return nil
		}
		m, err := requiredMoney(k, "Amount", h.lim)
		if err != nil {
			return err
		}
		acc.tax += m
	case "Tender":
		if voided {
			return nil
		}
		t, err := h.tender(k)
		if err != nil {
			return err
		}
		acc.tenders = append(acc.tenders, t)
	case "LoyaltyReward":
		if !voided {
			return h.ncrReward(k, acc)
		}
	case "Customer", "LoyaltyAccount":
		acc.member = mergeMember(acc.member, member(k))
	}
	return nil
}

// void applies a voided Sale or Return. ARTS marks the voided line item
// itself with VoidFlag; NCR ACS instead keeps the original line and adds a
// VoidFlag line with negated quantity and amount. The first is dropped; the
// second cancels the latest earlier line it negates.
func (acc *txAcc) void(l SaleLine) {
	acc.voided++
	if l.Amount >= 0 && l.Qty >= 0 && l.QtyMilli >= 0 {
		return
	}
	for i := len(acc.lines) - 1; i >= 0; i-- {
		o := acc.lines[i]
		if o.SKU == l.SKU && o.Return == l.Return && o.Qty == -l.Qty && o.QtyMilli == -l.QtyMilli && o.Amount == -l.Amount {
			acc.lines = append(acc.lines[:i], acc.lines[i+1:]...)
			kept := acc.discounts[:0]
			for _, d := range acc.discounts {
				if d.Line != o.Line {
					kept = append(kept, d)
				}
			}
			acc.discounts = kept
			return
		}
	}
	if acc.skip == "" {
		acc.skip = fmt.Sprintf("void line item %d (SKU %s, amount %d) negates no earlier line", l.Line, l.SKU, l.Amount)
	}
}

// weightUnits are UnitOfMeasureCode values (UN/ECE Rec. 20 and common
// abbreviations) that make a quantity a weight, so thousandths even when
// integral.
var weightUnits = map[string]bool{"KGM": true, "GRM": true, "LBR": true, "ONZ": true, "KG": true, "G": true, "LB": true, "OZ": true}

func (h *posLogHandler) saleLine(k *node, seq int, weighed bool) (SaleLine, error) {
	l := SaleLine{Line: seq, Return: k.name == "Return", Description: strings.TrimSpace(childText(k, "Description"))}
	l.SKU = childText(k, "ItemID")
	if l.SKU == "" {
		if id := child(k, "POSIdentity"); id != nil {
			l.SKU = childText(id, "POSItemID")
		}
	}
	if l.SKU == "" {
		return l, errAt(k, "line item %d has no ItemID or POSIdentity/POSItemID: %w", seq, ErrInvalid)
	}
	l.Category = childText(k, "MerchandiseHierarchy")
	l.Qty = 1 // ARTS: a line without Quantity is one unit
	if q := child(k, "Quantity"); q != nil {
		qty, err := parseQuantity(text(q), weighed || weightUnits[strings.ToUpper(attr(q, "UnitOfMeasureCode"))])
		if err != nil {
			return l, &nodeError{n: q, err: err}
		}
		l.Qty, l.QtyMilli = qty.units, qty.milli
	}
	priceName := "ActualSalesUnitPrice"
	if child(k, priceName) == nil {
		priceName = "RegularSalesUnitPrice"
	}
	if p := child(k, priceName); p != nil {
		m, err := money(p, h.lim)
		if err != nil {
			return l, err
		}
		l.UnitPrice = m
	}
	m, err := requiredMoney(k, "ExtendedAmount", h.lim)
	if err != nil {
		return l, err
	}
	l.Amount = m
	return l, nil
}

// discount reads a RetailPriceModifier (line) or Discount line item
// (transaction): Amount is the money taken off.
func (h *posLogHandler) discount(k *node, line int, acc *txAcc) error {
	m, err := requiredMoney(k, "Amount", h.lim)
	if err != nil {
		return err
	}
	acc.discounts = append(acc.discounts, Discount{Line: line, Promotion: childText(k, "PromotionID"), Amount: m})
	return nil
}

// ncrReward reads NCR ACS's money rewards. NCR writes each
// transaction-level reward twice: broken down per item
// (acs:detailedData="true") and as one summary (acs:summarizedActivity
// only); item-level rewards once with both. Only Monetary rewards are
// money (CustomOffer amounts are counts), and summaries are skipped so
// nothing counts twice. acs:ExtendedRewardAmount is negative: money off.
func (h *posLogHandler) ncrReward(k *node, acc *txAcc) error {
	amount := child(k, "ExtendedRewardAmount")
	if amount == nil || childText(k, "RewardCategory") != "Monetary" {
		return nil
	}
	if anyAttr(k, "summarizedActivity") == "true" && anyAttr(k, "detailedData") != "true" {
		return nil
	}
	m, err := money(amount, h.lim)
	if err != nil {
		return err
	}
	acc.discounts = append(acc.discounts, Discount{Promotion: childText(k, "PromotionID"), Amount: -m})
	return nil
}

func (h *posLogHandler) tender(k *node) (Tender, error) {
	t := Tender{Type: attr(k, "TenderType"), TypeCode: attr(k, "TypeCode")}
	if t.Type == "" {
		t.Type = childText(k, "TenderType")
	}
	m, err := requiredMoney(k, "Amount", h.lim)
	if err != nil {
		return t, err
	}
	t.Amount = m
	if p := find(k, "PointsRedeemed"); p != nil {
		v, err := strconv.ParseInt(text(p), 10, 64)
		if err != nil || v < 0 {
			return t, errAt(p, "points %q are not a whole number: %w", text(p), ErrAmount)
		}
		t.Points = engine.Points(v)
	}
	return t, nil
}

func link(k *node) Link {
	return Link{
		ID: TransactionID{
			RetailStoreID:   childText(k, "RetailStoreID"),
			WorkstationID:   childText(k, "WorkstationID"),
			BusinessDayDate: childText(k, "BusinessDayDate"),
			SequenceNumber:  childText(k, "SequenceNumber"),
			TransactionID:   childText(k, "TransactionID"),
		},
		Reason: attr(k, "ReasonCode"),
	}
}

func addLink(links []Link, l Link) []Link {
	for _, x := range links {
		if x == l {
			return links
		}
	}
	return append(links, l)
}

// member reads a Customer or LoyaltyAccount element: LoyaltyAccountID is
// the card, CustomerID the retailer's customer number, a Telephone's
// FullTelephoneNumber (else CountryCode, AreaCode and LocalNumber) the
// mobile, EMailAddress the email.
func member(k *node) *Member {
	m := &Member{
		Card:       textOf(find(k, "LoyaltyAccountID")),
		CustomerID: textOf(find(k, "CustomerID")),
		Email:      textOf(find(k, "EMailAddress")),
		FirstName:  textOf(firstOf(k, "FirstName", "GivenName")),
		LastName:   textOf(firstOf(k, "LastName", "FamilyName", "Surname")),
	}
	if tel := find(k, "Telephone"); tel != nil {
		m.Mobile = textOf(find(tel, "FullTelephoneNumber"))
		if m.Mobile == "" {
			m.Mobile = textOf(find(tel, "CountryCode")) + textOf(find(tel, "AreaCode")) + textOf(find(tel, "LocalNumber"))
		}
	}
	if *m == (Member{}) {
		return nil
	}
	return m
}

func mergeMember(a, b *Member) *Member {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	m := *a
	for _, f := range []struct{ dst, src *string }{
		{&m.Mobile, &b.Mobile}, {&m.Card, &b.Card}, {&m.Email, &b.Email},
		{&m.CustomerID, &b.CustomerID}, {&m.FirstName, &b.FirstName}, {&m.LastName, &b.LastName},
	} {
		if *f.dst == "" {
			*f.dst = *f.src
		}
	}
	return &m
}

// Tree helpers. Only elements in the root namespace match, except the
// vendor fields a handler chose to keep.

func child(n *node, name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// find is the first descendant named name, depth first.
func find(n *node, name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
		if f := find(k, name); f != nil {
			return f
		}
	}
	return nil
}

func firstOf(n *node, names ...string) *node {
	for _, name := range names {
		if f := find(n, name); f != nil {
			return f
		}
	}
	return nil
}

func text(n *node) string { return strings.Trim(n.text, " \t\r\n") }

func textOf(n *node) string {
	if n == nil {
		return ""
	}
	return text(n)
}

func childText(n *node, name string) string { return textOf(child(n, name)) }

// attrOK finds an unprefixed attribute. Standard POSLog attributes are
// unprefixed (attributes take no default namespace); prefixed ones are
// vendor extensions.
func attrOK(n *node, name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

func attr(n *node, name string) string {
	v, _ := attrOK(n, name)
	return v
}

// anyAttr finds an attribute by local name in any namespace (for the
// vendor attributes that are read).
func anyAttr(n *node, name string) string {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func money(n *node, lim Limits) (engine.Money, error) {
	m, err := parseMoney(n.text, lim.MinorDigits)
	if err != nil {
		return 0, &nodeError{n: n, err: err}
	}
	return m, nil
}

func requiredMoney(parent *node, name string, lim Limits) (engine.Money, error) {
	c := child(parent, name)
	if c == nil {
		return 0, errAt(parent, "no %s: %w", name, ErrInvalid)
	}
	return money(c, lim)
}
