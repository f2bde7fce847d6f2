package poslog

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/patron/patron/engine"
)

// BillVersion is the only bill XML version Parse accepts.
const BillVersion = "1"

// billHandler reads our bill XML (docs/bill-xml.md), strictly: an unknown
// element or attribute, a foreign namespace, text where none belongs or a
// repeated element is an error, so that a till's typo fails loudly instead
// of losing a field.
type billHandler struct {
	lim   Limits
	file  *File
	items int
}

func newBillHandler(lim Limits, f *File) *billHandler {
	return &billHandler{lim: lim, file: f}
}

// billSchema lists each element's allowed children and attributes.
var billSchema = map[string]struct {
	kids  []string
	attrs []string
}{
	"Bill":     {kids: []string{"Invoice", "Customer", "Items", "Payments"}, attrs: []string{"version"}},
	"Invoice":  {kids: []string{"Original"}, attrs: []string{"store", "terminal", "number", "businessDay", "time", "type", "currency", "training", "cancelled", "total"}},
	"Original": {attrs: []string{"store", "terminal", "number", "businessDay"}},
	"Customer": {attrs: []string{"mobile", "card", "email", "firstName", "lastName"}},
	"Items":    {kids: []string{"Item"}},
	"Item":     {attrs: []string{"line", "sku", "description", "category", "qty", "weight", "unitPrice", "amount"}},
	"Payments": {kids: []string{"Payment"}},
	"Payment":  {attrs: []string{"type", "amount", "points"}},
}

// keep keeps foreign elements so that start can refuse them by name.
func (h *billHandler) keep(*node, xml.Name) bool { return true }

func (h *billHandler) start(n *node) error {
	if n.foreign {
		return errAt(n, "element %s is in a foreign namespace: %w", n.name, ErrInvalid)
	}
	if n.parent == nil {
		if v := attr(n, "version"); v != BillVersion {
			return errAt(n, "bill version %q, want %q: %w", v, BillVersion, ErrUnknownFormat)
		}
	} else {
		if !contains(billSchema[n.parent.name].kids, n.name) {
			return errAt(n, "unknown element %s in %s: %w", n.name, n.parent.name, ErrInvalid)
		}
		if n.name != "Item" && n.name != "Payment" && n.idx > 1 {
			return errAt(n, "%s appears more than once: %w", n.name, ErrInvalid)
		}
	}
	if n.name == "Item" {
		if h.items++; h.items > h.lim.MaxLineItems {
			return errAt(n, "more than %d items in the bill: %w", h.lim.MaxLineItems, ErrTooManyItems)
		}
	}
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if a.Name.Space != "" || !contains(billSchema[n.name].attrs, a.Name.Local) {
			return errAt(n, "unknown attribute %s on %s: %w", a.Name.Local, n.name, ErrInvalid)
		}
	}
	return nil
}

func (h *billHandler) end(n *node) (bool, error) {
	if text(n) != "" {
		return false, errAt(n, "%s has text content; bill fields are attributes: %w", n.name, ErrInvalid)
	}
	if n.parent != nil {
		return false, nil
	}
	t, err := h.bill(n)
	if err != nil {
		return false, err
	}
	h.file.Transactions = append(h.file.Transactions, t)
	return false, nil
}

// bill turns the closed Bill element into a transaction.
func (h *billHandler) bill(b *node) (Transaction, error) {
	var t Transaction
	inv := child(b, "Invoice")
	if inv == nil {
		return t, errAt(b, "no Invoice: %w", ErrInvalid)
	}
	if err := h.invoice(inv, &t); err != nil {
		return t, err
	}
	if c := child(b, "Customer"); c != nil {
		m := &Member{Mobile: attr(c, "mobile"), Card: attr(c, "card"), Email: attr(c, "email"),
			FirstName: attr(c, "firstName"), LastName: attr(c, "lastName")}
		if m.Mobile == "" && m.Card == "" && m.Email == "" {
			return t, errAt(c, "Customer needs a mobile, card or email: %w", ErrInvalid)
		}
		t.Member = m
	}
	items := child(b, "Items")
	if items == nil || len(items.kids) == 0 {
		return t, errAt(b, "no Items/Item: %w", ErrInvalid)
	}
	seen := make(map[int]bool, len(items.kids))
	for _, it := range items.kids {
		l, err := h.item(it, t.Kind == KindReturn)
		if err != nil {
			return t, err
		}
		if seen[l.Line] {
			return t, errAt(it, "line %d appears twice: %w", l.Line, ErrInvalid)
		}
		seen[l.Line] = true
		t.Lines = append(t.Lines, l)
	}
	if pays := child(b, "Payments"); pays != nil {
		for _, p := range pays.kids {
			tender, err := h.payment(p)
			if err != nil {
				return t, err
			}
			t.Tenders = append(t.Tenders, tender)
		}
	}
	return t, nil
}

func (h *billHandler) invoice(inv *node, t *Transaction) error {
	t.ID = TransactionID{
		RetailStoreID:   attr(inv, "store"),
		WorkstationID:   attr(inv, "terminal"),
		BusinessDayDate: attr(inv, "businessDay"),
		SequenceNumber:  attr(inv, "number"),
	}
	if err := requireIdentity(inv, t.ID); err != nil {
		return err
	}
	t.Currency = attr(inv, "currency")
	t.EndDateTime = attr(inv, "time")
	if t.EndDateTime != "" {
		if _, err := time.Parse(time.RFC3339, t.EndDateTime); err != nil {
			return errAt(inv, "time %q is not RFC 3339: %w", t.EndDateTime, ErrInvalid)
		}
	}
	var err error
	if t.Training, err = billBool(inv, "training"); err != nil {
		return err
	}
	if t.Cancelled, err = billBool(inv, "cancelled"); err != nil {
		return err
	}
	if v, ok := attrOK(inv, "total"); ok {
		if t.Total, err = billMoney(inv, "total", v, h.lim); err != nil {
			return err
		}
		t.HasTotal = true
	}
	orig := child(inv, "Original")
	switch attr(inv, "type") {
	case "sale":
		t.Kind = KindSale
		if orig != nil {
			return errAt(orig, "a sale has no Original: %w", ErrInvalid)
		}
	case "return":
		t.Kind = KindReturn
		if orig == nil {
			return errAt(inv, "a return names its Original bill: %w", ErrInvalid)
		}
		id := TransactionID{
			RetailStoreID:   attr(orig, "store"),
			WorkstationID:   attr(orig, "terminal"),
			BusinessDayDate: attr(orig, "businessDay"),
			SequenceNumber:  attr(orig, "number"),
		}
		if err := requireIdentity(orig, id); err != nil {
			return err
		}
		t.Links = []Link{{ID: id, Reason: "original"}}
	default:
		return errAt(inv, "type %q, want sale or return: %w", attr(inv, "type"), ErrInvalid)
	}
	return nil
}

func requireIdentity(n *node, id TransactionID) error {
	for _, f := range []struct{ name, v string }{
		{"store", id.RetailStoreID}, {"terminal", id.WorkstationID},
		{"number", id.SequenceNumber}, {"businessDay", id.BusinessDayDate},
	} {
		if f.v == "" {
			return errAt(n, "%s has no %s: %w", n.name, f.name, ErrInvalid)
		}
	}
	if _, err := time.Parse(time.DateOnly, id.BusinessDayDate); err != nil {
		return errAt(n, "businessDay %q is not YYYY-MM-DD: %w", id.BusinessDayDate, ErrInvalid)
	}
	return nil
}

func (h *billHandler) item(it *node, isReturn bool) (SaleLine, error) {
	l := SaleLine{SKU: attr(it, "sku"), Description: attr(it, "description"), Category: attr(it, "category"), Return: isReturn}
	line, err := strconv.Atoi(attr(it, "line"))
	if err != nil || line <= 0 {
		return l, errAt(it, "line %q is not a positive whole number: %w", attr(it, "line"), ErrInvalid)
	}
	l.Line = line
	if l.SKU == "" {
		return l, errAt(it, "no sku: %w", ErrInvalid)
	}
	qty, hasQty := attrOK(it, "qty")
	weight, hasWeight := attrOK(it, "weight")
	switch {
	case hasQty == hasWeight:
		return l, errAt(it, "exactly one of qty and weight: %w", ErrInvalid)
	case hasQty:
		if l.Qty, err = strconv.ParseInt(qty, 10, 64); err != nil || l.Qty <= 0 || l.Qty > maxQuantityUnits {
			return l, errAt(it, "qty %q is not a positive whole number: %w", qty, ErrAmount)
		}
	default:
		_, frac, _ := strings.Cut(weight, ".")
		q, err := parseQuantity(weight, true)
		if err != nil || len(frac) > 3 || q.milli <= 0 {
			return l, errAt(it, "weight %q is not a positive decimal with at most 3 fraction digits: %w", weight, ErrAmount)
		}
		l.QtyMilli = q.milli
	}
	for _, f := range []struct {
		name string
		dst  *engine.Money
	}{{"unitPrice", &l.UnitPrice}, {"amount", &l.Amount}} {
		v, ok := attrOK(it, f.name)
		if !ok {
			return l, errAt(it, "no %s: %w", f.name, ErrInvalid)
		}
		if *f.dst, err = billMoney(it, f.name, v, h.lim); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (h *billHandler) payment(p *node) (Tender, error) {
	t := Tender{Type: attr(p, "type")}
	if t.Type == "" {
		return t, errAt(p, "no type: %w", ErrInvalid)
	}
	v, ok := attrOK(p, "amount")
	if !ok {
		return t, errAt(p, "no amount: %w", ErrInvalid)
	}
	var err error
	if t.Amount, err = billMoney(p, "amount", v, h.lim); err != nil {
		return t, err
	}
	pts, hasPoints := attrOK(p, "points")
	switch {
	case t.Type == "points" && !hasPoints:
		return t, errAt(p, "a points payment says how many points: %w", ErrInvalid)
	case t.Type != "points" && hasPoints:
		return t, errAt(p, "points on a %s payment: %w", t.Type, ErrInvalid)
	case hasPoints:
		n, err := strconv.ParseInt(pts, 10, 64)
		if err != nil || n <= 0 {
			return t, errAt(p, "points %q is not a positive whole number: %w", pts, ErrAmount)
		}
		t.Points = engine.Points(n)
	}
	return t, nil
}

// billMoney parses a bill amount: exact, and never negative (a return is
// a bill of type return with positive amounts).
func billMoney(n *node, name, v string, lim Limits) (engine.Money, error) {
	m, err := parseMoney(v, lim.MinorDigits)
	if err != nil {
		return 0, errAt(n, "%s: %w", name, err)
	}
	if m < 0 {
		return 0, errAt(n, "%s %q is negative: %w", name, v, ErrAmount)
	}
	return m, nil
}

func billBool(n *node, name string) (bool, error) {
	switch v, _ := attrOK(n, name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, errAt(n, "%s %q is not true or false: %w", name, v, ErrInvalid)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
