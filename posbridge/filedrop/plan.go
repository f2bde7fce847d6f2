package filedrop

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge/poslog"
)

// Reasons a transaction fails before the node is asked (TxReport.Reason).
// The node's own refusal reasons (member_not_found, otp_required,
// receipt_conflict, ...) are passed through as they are.
const (
	ReasonWrongStore       = "wrong_store"        // RetailStoreID is not this node's store
	ReasonBadIdentity      = "bad_identity"       // no usable workstation, business day or sequence number
	ReasonCurrency         = "currency_mismatch"  // CurrencyCode is not the programme's
	ReasonBadLine          = "bad_line"           // a line the node cannot take (quantity, duplicate number, too many)
	ReasonNegativeNet      = "negative_net"       // discounts and negative lines exceed the goods sold
	ReasonMixedReturn      = "mixed_return"       // sale and return lines in one transaction
	ReasonNoOriginal       = "no_original"        // a return that names no single original sale
	ReasonOriginalNotFound = "original_not_found" // the original sale is not on this node
	ReasonNotOnOriginal    = "not_on_original"    // a returned SKU or quantity the original did not sell
	ReasonPointsTender     = "points_tender"      // a points tender without a points count or a member
)

// Skip reasons (TxReport.Reason of skipped transactions and the metric
// label).
const (
	SkipTraining        = "training"
	SkipCancelled       = "cancelled"
	SkipSuspended       = "suspended"
	SkipControl         = "control"
	SkipOther           = "other"           // tender control, inventory and other non-retail transactions
	SkipEmpty           = "empty"           // a retail transaction without sale lines (no-sale)
	SkipUnrepresentable = "unrepresentable" // poslog put it in File.Skipped (see its Reason)
)

// step is what one transaction asks of the node.
type step struct {
	tx   poslog.Transaction
	rep  TxReport
	skip string // a Skip reason: nothing to do
	sale *node.SaleRequest
	ret  *returnPlan
}

// returnPlan is a return waiting for its original's lines.
type returnPlan struct {
	receiptID string // the original sale
	returnNo  string
	lines     []poslog.SaleLine
}

// failure is why one transaction cannot be processed.
type failure struct {
	reason, message string
}

func (f *failure) Error() string { return f.reason + ": " + f.message }

func fail(reason, format string, args ...any) *failure {
	return &failure{reason: reason, message: fmt.Sprintf(format, args...)}
}

// planner maps transactions to node requests. It is pure: the store id,
// programme and terminal prefix are given.
type planner struct {
	store  string
	prefix string
	p      *engine.Programme
}

// plan decides what tx asks of the node, or why it cannot be processed.
func (pl planner) plan(tx poslog.Transaction) (*step, *failure) {
	s := &step{tx: tx, rep: TxReport{ID: tx.ID.String(), Kind: string(tx.Kind), TillTotal: tx.Total, Tax: tx.Tax}}
	if s.skip = skipReason(tx); s.skip != "" {
		return s, nil
	}
	if tx.ID.RetailStoreID != pl.store {
		return s, fail(ReasonWrongStore, "RetailStoreID %q is not this node's store %q (misrouted or forged file)", tx.ID.RetailStoreID, pl.store)
	}
	if tx.Currency != "" && !strings.EqualFold(tx.Currency, pl.p.Currency) {
		return s, fail(ReasonCurrency, "currency %s, the programme's is %s", tx.Currency, pl.p.Currency)
	}
	var f *failure
	if s.rep.Terminal, s.rep.ReceiptNo, f = pl.identity(tx.ID); f != nil {
		return s, f
	}
	if tx.Kind == poslog.KindReturn {
		s.ret, f = pl.planReturn(tx, s.rep.Terminal, s.rep.ReceiptNo)
		if f == nil {
			s.rep.ReceiptID = s.ret.receiptID
		}
		return s, f
	}
	s.sale, f = pl.planSale(tx, s.rep.ReceiptNo)
	if f == nil {
		s.rep.ReceiptID = pl.store + "-" + s.rep.Terminal + "-" + s.rep.ReceiptNo
	}
	return s, f
}

func skipReason(tx poslog.Transaction) string {
	switch {
	case tx.Training:
		return SkipTraining
	case tx.Cancelled:
		return SkipCancelled
	case tx.Suspended:
		return SkipSuspended
	case tx.Kind == poslog.KindControl:
		return SkipControl
	case tx.Kind != poslog.KindSale && tx.Kind != poslog.KindReturn:
		return SkipOther
	case len(tx.Lines) == 0:
		return SkipEmpty
	}
	return ""
}

// identity maps a till identity to the node's terminal and receipt_no:
// the workstation with the prefix ("31" → "W31"), and the business day
// and sequence number ("2017-10-01.114"), else the TransactionID
// ("id.<TransactionID>").
func (pl planner) identity(id poslog.TransactionID) (terminal, receiptNo string, f *failure) {
	if id.WorkstationID == "" {
		return "", "", fail(ReasonBadIdentity, "no WorkstationID")
	}
	terminal = pl.prefix + escapeID(id.WorkstationID)
	if len(terminal) > node.MaxTerminalIDLen {
		return "", "", fail(ReasonBadIdentity, "WorkstationID %q is too long for a terminal id (%d characters at most)", id.WorkstationID, node.MaxTerminalIDLen)
	}
	switch {
	case id.SequenceNumber != "" && id.BusinessDayDate != "":
		receiptNo = id.BusinessDayDate + "." + id.SequenceNumber
	case id.TransactionID != "":
		receiptNo = "id." + id.TransactionID
	default:
		return "", "", fail(ReasonBadIdentity, "neither BusinessDayDate with SequenceNumber nor TransactionID")
	}
	if !receiptChars(receiptNo) || len(receiptNo) > node.MaxReceiptNoLen {
		return "", "", fail(ReasonBadIdentity, "receipt number %q: want at most %d letters, digits, '.', '_' or '-'", receiptNo, node.MaxReceiptNoLen)
	}
	return terminal, receiptNo, nil
}

// escapeID keeps letters, digits and '.' and writes every other byte as
// _XX (hex), so distinct workstation ids stay distinct terminal ids.
func escapeID(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02X", c)
		}
	}
	return b.String()
}

// receiptChars: receipt numbers become parts of offer file names, so only
// characters that are safe in a file name on every system.
func receiptChars(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}

// planSale builds the sale: lines at what the customer paid for them
// (see doc.go, "Amounts"), the member, the redemption.
func (pl planner) planSale(tx poslog.Transaction, receiptNo string) (*node.SaleRequest, *failure) {
	lines, f := paidLines(tx)
	if f != nil {
		return nil, f
	}
	req := &node.SaleRequest{ReceiptNo: receiptNo, Basket: &engine.Basket{Lines: lines}, Member: identifier(tx.Member)}
	var redeem engine.Points
	for _, t := range tx.Tenders {
		if !t.IsPoints() {
			continue
		}
		if t.Points <= 0 {
			return nil, fail(ReasonPointsTender, "points tender %q of %d without a points count (PointsRedeemed)", t.Type, t.Amount)
		}
		redeem += t.Points
	}
	if redeem > 0 {
		if req.Member == nil {
			return nil, fail(ReasonPointsTender, "%d points tendered without a loyalty card, mobile or email", redeem)
		}
		req.Redeem = &node.RedeemRequest{Points: redeem}
	}
	return req, nil
}

// identifier picks the member's identifier: the loyalty card, else the
// mobile, else the email. A CustomerID alone names no loyalty member.
func identifier(m *poslog.Member) *node.Identifier {
	switch {
	case m == nil:
		return nil
	case m.Card != "":
		return &node.Identifier{Card: m.Card}
	case m.Mobile != "":
		return &node.Identifier{Mobile: m.Mobile}
	case m.Email != "":
		return &node.Identifier{Email: m.Email}
	}
	return nil
}

// paidLines turns a sale's lines into engine lines whose Amount is the
// money paid for them: the line's amount less its own discounts, less its
// share of the transaction's discounts and negative lines (deposit
// refunds, coupons written as lines), shared in proportion to the lines'
// amounts. Σ Amount = Σ line amounts − Σ discounts, which is the till's
// grand total less tax.
func paidLines(tx poslog.Transaction) ([]engine.Line, *failure) {
	var (
		out      []engine.Line
		index    = map[int]int{} // line number → out index
		off      engine.Money    // money off the whole transaction
		positive engine.Money
	)
	for _, l := range tx.Lines {
		switch {
		case l.Return:
			return nil, fail(ReasonMixedReturn, "line %d returns %s inside a sale; write the return as its own transaction", l.Line, l.SKU)
		case l.Amount < 0:
			off -= l.Amount
			continue
		case l.Qty < 0 || l.QtyMilli < 0 || (l.Qty == 0) == (l.QtyMilli == 0):
			return nil, fail(ReasonBadLine, "line %d (%s): quantity must be positive units or a positive weight", l.Line, l.SKU)
		}
		if _, dup := index[l.Line]; dup {
			return nil, fail(ReasonBadLine, "line number %d appears twice", l.Line)
		}
		index[l.Line] = len(out)
		out = append(out, l.EngineLine())
		positive += l.Amount
	}
	if len(out) > engine.MaxBasketLines {
		return nil, fail(ReasonBadLine, "%d lines; the node takes at most %d per sale", len(out), engine.MaxBasketLines)
	}
	for _, d := range tx.Discounts {
		i, ok := index[d.Line]
		if d.Line == 0 || !ok {
			off += d.Amount
			continue
		}
		a := out[i].Amount
		take := min(d.Amount, *a) // a discount above its line comes off the rest
		*a -= take
		positive -= take
		off += d.Amount - take
	}
	if len(out) == 0 || off > positive {
		return nil, fail(ReasonNegativeNet, "discounts and negative lines of %d exceed the %d of goods sold", off, positive)
	}
	share(out, off, positive)
	return out, nil
}

// share takes off from the lines in proportion to their amounts (which
// sum to total ≥ off): each line gives floor(off × amount / total), and
// the minor units left over go one each to the lines with the largest
// remainders, ties to the earlier line. The result is exact: Σ taken = off.
func share(lines []engine.Line, off, total engine.Money) {
	if off == 0 {
		return
	}
	rems := make([]uint64, len(lines))
	var taken engine.Money
	for i := range lines {
		hi, lo := bits.Mul64(uint64(off), uint64(*lines[i].Amount))
		q, r := bits.Div64(hi, lo, uint64(total)) // q ≤ amount: no overflow
		*lines[i].Amount -= engine.Money(q)
		taken += engine.Money(q)
		rems[i] = r
	}
	for left := off - taken; left > 0; left-- {
		best := -1
		for i := range lines {
			if *lines[i].Amount > 0 && (best < 0 || rems[i] > rems[best]) {
				best = i
			}
		}
		*lines[best].Amount--
		rems[best] = 0
	}
}

// planReturn finds the one original sale a return names.
func (pl planner) planReturn(tx poslog.Transaction, terminal, receiptNo string) (*returnPlan, *failure) {
	var orig *poslog.TransactionID
	for _, l := range tx.Links {
		switch strings.ToLower(l.Reason) {
		case "", "return", "original":
		default:
			continue // a resumed or suspended transaction, not an original
		}
		if orig != nil && *orig != l.ID {
			return nil, fail(ReasonNoOriginal, "the return names two original sales, %s and %s; write one return per original", orig, l.ID)
		}
		id := l.ID
		orig = &id
	}
	if orig == nil {
		return nil, fail(ReasonNoOriginal, "the return names no original sale (TransactionLink)")
	}
	if orig.RetailStoreID != pl.store {
		return nil, fail(ReasonWrongStore, "the original sale %s was made at store %q, not this node's store %q", orig, orig.RetailStoreID, pl.store)
	}
	oterm, ono, f := pl.identity(*orig)
	if f != nil {
		return nil, fail(ReasonNoOriginal, "the original sale %s: %s", orig, f.message)
	}
	returnNo := terminal + "." + receiptNo
	if len(returnNo) > node.MaxReceiptNoLen {
		return nil, fail(ReasonBadIdentity, "return number %q is longer than %d characters", returnNo, node.MaxReceiptNoLen)
	}
	for _, l := range tx.Lines {
		if l.Qty == 0 && l.QtyMilli == 0 {
			return nil, fail(ReasonBadLine, "return line %d (%s) has no quantity", l.Line, l.SKU)
		}
	}
	return &returnPlan{receiptID: pl.store + "-" + oterm + "-" + ono, returnNo: returnNo, lines: tx.Lines}, nil
}

// matchReturn maps returned SKUs and quantities onto the original
// receipt's lines, first line first. It depends only on the receipt, which
// never changes, so a re-delivered return asks exactly the same and the
// node replays it.
func matchReturn(rc *node.Receipt, lines []poslog.SaleLine) ([]engine.ReturnLine, *failure) {
	left := make([]engine.ReturnLine, len(rc.Lines))
	for i, l := range rc.Lines {
		left[i] = engine.ReturnLine{Line: l.Line, Qty: l.Qty, QtyMilli: l.QtyMilli}
	}
	taken := make(map[int]*engine.ReturnLine)
	var order []int
	for _, l := range lines {
		qty, milli := abs(l.Qty), abs(l.QtyMilli)
		for i, o := range rc.Lines {
			if qty == 0 && milli == 0 {
				break
			}
			if o.SKU != l.SKU {
				continue
			}
			var q, m int64
			if qty > 0 {
				q = min(qty, left[i].Qty)
				qty -= q
				left[i].Qty -= q
			} else {
				m = min(milli, left[i].QtyMilli)
				milli -= m
				left[i].QtyMilli -= m
			}
			if q == 0 && m == 0 {
				continue
			}
			t := taken[o.Line]
			if t == nil {
				t = &engine.ReturnLine{Line: o.Line}
				taken[o.Line] = t
				order = append(order, o.Line)
			}
			t.Qty += q
			t.QtyMilli += m
		}
		if qty != 0 || milli != 0 {
			return nil, fail(ReasonNotOnOriginal, "return line %d: %s ×%s is more than the original receipt %s sold", l.Line, l.SKU, quantity(l), rc.ReceiptID)
		}
	}
	out := make([]engine.ReturnLine, 0, len(order))
	for _, line := range order {
		out = append(out, *taken[line])
	}
	return out, nil
}

func quantity(l poslog.SaleLine) string {
	if l.QtyMilli != 0 {
		return fmt.Sprintf("%d.%03d", abs(l.QtyMilli)/1000, abs(l.QtyMilli)%1000)
	}
	return fmt.Sprint(abs(l.Qty))
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
