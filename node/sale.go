package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Evaluate prices a basket without changing anything. req.At, when set,
// replaces the clock (what-if pricing). Refusals: invalid_params,
// member_not_found, card_blocked, coupon_*, and the engine's own.
func (n *Node) Evaluate(ctx context.Context, terminal string, req EvaluateRequest) (*engine.Evaluation, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	var redeem engine.Points
	if req.Redeem != nil {
		redeem = req.Redeem.Points
	}
	in, r := n.pricingInput(p, req.Basket, req.Member, req.Coupons, req.FreeItemChoices, redeem)
	if r != nil {
		return nil, n.refused(r)
	}
	in.at = n.now()
	if req.At != nil {
		in.at = req.At.UTC()
	}
	var ev *engine.Evaluation
	err = n.db.View(func(tx *bbolt.Tx) error {
		pr, r, err := price(tx, in, false)
		if err != nil {
			return err
		}
		if r != nil {
			return r
		}
		ev = pr.ev
		return nil
	})
	if err != nil {
		return nil, n.result(err)
	}
	return ev, nil
}

// CompleteSale prices and records a sale: the redemption, the points
// earned, the member's spend, the coupon uses and the receipt, in one
// group-committed transaction, fsynced before it returns. A retry with the
// same params (otp aside) on the same terminal and receipt_no gets the
// stored receipt verbatim, even if state changed since; different params
// are receipt_conflict. The checks run in the protocol's order: params;
// replay; member and card; coupons; evaluation_changed; tenders; consent,
// redemption limits and balance; OTP. This node is its own HQ, so the
// offline allowance never applies.
func (n *Node) CompleteSale(ctx context.Context, terminal string, req SaleRequest) (*Receipt, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if !validID(terminal, MaxTerminalIDLen) {
		return nil, fmt.Errorf("node: sale: terminal %q: %w", terminal, ErrBadTerminal)
	}
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	s, r := n.prepareSale(p, terminal, req)
	if r != nil {
		return nil, n.refused(r)
	}
	var (
		receipt  *Receipt
		refusal  *engine.Refusal
		replayed bool
		member   *Member
	)
	err = n.update(func(tx *bbolt.Tx) error {
		var err error // every capture is assigned on each run: fn may re-run
		receipt, member, refusal, replayed, err = n.completeSaleTx(tx, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	if !replayed {
		if n.metrics != nil {
			n.metrics.sales.Inc()
		}
		n.notify(member)
	}
	return receipt, nil
}

// sale is a checked sale.complete request.
type sale struct {
	in          pricingInput
	req         SaleRequest
	terminal    string
	receiptID   string
	fingerprint string
}

// prepareSale checks the params (the "malformed params" step).
func (n *Node) prepareSale(p *engine.Programme, terminal string, req SaleRequest) (*sale, *engine.Refusal) {
	if !validNo(req.ReceiptNo, MaxReceiptNoLen) {
		return nil, invalid("receipt_no", fmt.Sprintf("receipt_no must be 1 to %d printable characters", MaxReceiptNoLen))
	}
	if len(req.Tenders) > MaxTenders {
		return nil, invalid("tenders", fmt.Sprintf("at most %d tenders", MaxTenders))
	}
	for _, t := range req.Tenders {
		if t.Type == "" || t.Amount < 0 {
			return nil, invalid("tenders", "each tender needs a type and a non-negative amount")
		}
	}
	var redeem engine.Points
	if req.Redeem != nil {
		redeem = req.Redeem.Points
		if redeem < 0 {
			return nil, invalid("redeem.points", "points must not be negative")
		}
		if redeem > 0 && req.Member == nil {
			return nil, invalid("member", "a redemption needs a member")
		}
	}
	in, r := n.pricingInput(p, req.Basket, req.Member, req.Coupons, req.FreeItemChoices, redeem)
	if r != nil {
		return nil, r
	}
	in.at = n.now()
	fp, err := saleFingerprint(req)
	if err != nil {
		return nil, invalid("params", err.Error())
	}
	return &sale{in: in, req: req, terminal: terminal, receiptID: n.cfg.Store + "-" + terminal + "-" + req.ReceiptNo, fingerprint: fp}, nil
}

// completeSaleTx runs inside the group-commit transaction. Everything it
// decides depends only on tx, so concurrent sales of one member see each
// other and a re-run decides the same.
func (n *Node) completeSaleTx(tx *bbolt.Tx, s *sale) (*Receipt, *Member, *engine.Refusal, bool, error) {
	receipts := tx.Bucket(bucketReceipts)
	var old receiptRecord
	found, err := getJSON(receipts, []byte(s.receiptID), &old)
	if err != nil {
		return nil, nil, nil, false, err
	}
	if found {
		if old.Fingerprint != s.fingerprint {
			return nil, nil, refuse(ReasonReceiptConflict, "receipt number already used with different content",
				"receipt_id", s.receiptID), false, nil
		}
		var rc Receipt
		if err := json.Unmarshal(old.Answer, &rc); err != nil {
			return nil, nil, nil, false, fmt.Errorf("node: stored receipt %s: %w: %w", s.receiptID, ErrCorrupt, err)
		}
		return &rc, nil, nil, true, nil
	}
	pr, r, err := price(tx, s.in, true)
	if err != nil || r != nil {
		return nil, nil, r, false, err
	}
	ev, p := pr.ev, s.in.p
	if e := s.req.Expect; e != nil && e.Net != nil && *e.Net != ev.Totals.Net {
		return nil, nil, refuse(ReasonEvaluationChanged, "the node's totals differ from the till's",
			"evaluation", ev), false, nil
	}
	redeem := s.in.redeem
	if r := checkTenders(s.req.Tenders, ev.Totals.Net, engine.Money(redeem)*p.Redeem.PointValue); r != nil {
		return nil, nil, r, false, nil
	}
	if redeem > 0 {
		if r := engine.CheckRedemption(p, pr.facts, ev.Totals.Net, redeem); r != nil {
			return nil, nil, r, false, nil
		}
		if pr.redeemRefusal != nil {
			return nil, nil, pr.redeemRefusal, false, nil
		}
		otp := ""
		if s.req.Redeem != nil {
			otp = s.req.Redeem.OTP
		}
		if r, err := n.checkOTP(tx, p, pr.member.ID, redeem, otp, s.in.at); err != nil || r != nil {
			return nil, nil, r, false, err
		}
	}
	return n.recordSale(tx, s, pr)
}

// recordSale writes a priced, accepted sale.
func (n *Node) recordSale(tx *bbolt.Tx, s *sale, pr *priced) (*Receipt, *Member, *engine.Refusal, bool, error) {
	ev, p, at := pr.ev, s.in.p, s.in.at
	rc := &Receipt{ReceiptID: s.receiptID, At: at, Totals: ev.Totals, Discounts: discounts(ev),
		Lines: nonNil(ev.Lines), FreeItems: nonNil(ev.FreeItems), Applied: nonNil(ev.Applied),
		ReceiptText: []string{}, Offers: []Offer{}, ProgrammeVersion: p.Version}
	day := dayOf(p, at)
	if err := useCoupons(tx, ev.CouponsUsed, s.receiptID); err != nil {
		return nil, nil, nil, false, err
	}
	var member *Member
	if m := pr.member; m != nil {
		var earn, bonus, paid = engine.Points(0), ev.Bonus + ev.Cashback, engine.Money(0)
		for _, l := range ev.Lines {
			earn += l.Earn
			bonus += l.Bonus
			paid += l.Paid
		}
		entries := []engine.Entry{
			{ID: s.receiptID + "/redeem", Kind: engine.EntryRedeem, Points: -s.in.redeem},
			{ID: s.receiptID + "/earn", Kind: engine.EntryEarn, Points: earn},
			{ID: s.receiptID + "/bonus", Kind: engine.EntryBonus, Points: bonus},
		}
		balance, err := n.appendEntries(tx, m.ID, s.receiptID, at, entries)
		if err != nil {
			return nil, nil, nil, false, err
		}
		if err := addSpend(tx, m.ID, day, paid); err != nil {
			return nil, nil, nil, false, err
		}
		rc.MemberID = m.ID
		rc.Points = ReceiptPoints{Earned: earn + bonus, Redeemed: s.in.redeem, Balance: balance}
		rc.ReceiptText = receiptText(rc.Points)
		if member, err = n.view(tx, p, m, at); err != nil {
			return nil, nil, nil, false, err
		}
		rc.Offers = member.Offers
	}
	answer, err := json.Marshal(rc)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("node: encode receipt: %w", err)
	}
	rec := receiptRecord{V: recordVersion, ReceiptID: s.receiptID, Terminal: s.terminal,
		ReceiptNo: s.req.ReceiptNo, Fingerprint: s.fingerprint, At: at, Day: day, MemberID: rc.MemberID,
		ProgrammeVersion: p.Version, Evaluation: *ev, Answer: answer}
	if err := putJSON(tx.Bucket(bucketReceipts), []byte(s.receiptID), rec); err != nil {
		return nil, nil, nil, false, err
	}
	return rc, member, nil, false, nil
}

// receiptText is the points lines printed on the receipt.
func receiptText(p ReceiptPoints) []string {
	out := []string{fmt.Sprintf("Points earned: %d", p.Earned)}
	if p.Redeemed > 0 {
		out = append(out, fmt.Sprintf("Points redeemed: %d", p.Redeemed))
	}
	return append(out, fmt.Sprintf("Points balance: %d", p.Balance))
}

// discounts sums the item and bill discounts per campaign, in the order
// the campaigns applied; campaigns that took no money off are left out.
func discounts(ev *engine.Evaluation) []engine.Discount {
	sum := make(map[string]engine.Money)
	for _, l := range ev.Lines {
		for _, d := range l.Discounts {
			sum[d.Campaign] += d.Amount
		}
	}
	for _, d := range ev.BillDiscounts {
		sum[d.Campaign] += d.Amount
	}
	out := []engine.Discount{}
	for _, id := range ev.Applied {
		if a := sum[id]; a != 0 {
			out = append(out, engine.Discount{Campaign: id, Amount: a})
			delete(sum, id)
		}
	}
	return out
}

// checkTenders: tenders, when given, add up to the net and the points
// tender equals the redemption's value. Omitted tenders are not checked.
func checkTenders(tenders []Tender, net, redeemValue engine.Money) *engine.Refusal {
	if len(tenders) == 0 {
		return nil
	}
	var sum, points engine.Money
	for _, t := range tenders {
		sum += t.Amount
		if t.Type == "points" {
			points += t.Amount
		}
	}
	if sum != net {
		return invalid("tenders", fmt.Sprintf("tenders add up to %d, the net is %d", sum, net))
	}
	if points != redeemValue {
		return invalid("tenders", fmt.Sprintf("the points tender is %d, the redemption is worth %d", points, redeemValue))
	}
	return nil
}

// appendEntries writes ledger entries (zero ones are skipped) and the new
// balance, and returns the balance.
func (n *Node) appendEntries(tx *bbolt.Tx, member, ref string, at time.Time, entries []engine.Entry) (engine.Points, error) {
	bb := tx.Bucket(bucketBalances)
	bal, err := decodeBalance(bb.Get([]byte(member)))
	if err != nil {
		return 0, err
	}
	lb := tx.Bucket(bucketLedger)
	for _, e := range entries {
		if e.Points == 0 {
			continue
		}
		e.At, e.Store, e.Ref = at, n.cfg.Store, ref
		bal.LastSeq++
		bal.Balance += e.Points
		if err := putJSON(lb, seqKey(member, bal.LastSeq), ledgerRecord{V: recordVersion, Entry: e}); err != nil {
			return 0, err
		}
	}
	if err := bb.Put([]byte(member), bal.encode()); err != nil {
		return 0, fmt.Errorf("node: balance: %w", err)
	}
	return bal.Balance, nil
}

// pricingInput is a checked basket with its context.
type pricingInput struct {
	p       *engine.Programme
	basket  engine.Basket
	member  *memberRef
	coupons []string
	choices []engine.FreeItemChoice
	redeem  engine.Points
	at      time.Time
	store   string
}

// pricingInput checks what evaluation needs from a request.
func (n *Node) pricingInput(p *engine.Programme, b *engine.Basket, member *Identifier, coupons []string,
	choices []engine.FreeItemChoice, redeem engine.Points) (pricingInput, *engine.Refusal) {
	if b == nil || len(b.Lines) == 0 {
		return pricingInput{}, invalid("basket", "basket with lines required")
	}
	if r := engine.ValidateBasket(p, *b); r != nil {
		return pricingInput{}, r // malformed params come before every other check
	}
	if len(coupons) > MaxCoupons {
		return pricingInput{}, invalid("coupons", fmt.Sprintf("at most %d coupons", MaxCoupons))
	}
	in := pricingInput{p: p, basket: *b, coupons: coupons, choices: choices, redeem: redeem, store: n.cfg.Store}
	if member != nil {
		ref, r := parseIdentifier(p, member, "member")
		if r != nil {
			return pricingInput{}, r
		}
		in.member = &ref
	}
	return in, nil
}

// priced is an evaluated basket with the member it was priced for.
type priced struct {
	ev     *engine.Evaluation
	member *memberRecord // nil when anonymous
	facts  *engine.MemberFacts
	// redeemRefusal is the engine's refusal of the redemption (limits),
	// kept for after the checks the protocol orders before it.
	redeemRefusal *engine.Refusal
}

// price resolves the member and coupons and evaluates. For a sale
// (deferRedeem), an engine refusal of the redemption is kept in
// redeemRefusal and the basket priced without it.
func price(tx *bbolt.Tx, in pricingInput, deferRedeem bool) (*priced, *engine.Refusal, error) {
	out := &priced{}
	memberID := ""
	if in.member != nil {
		rec, presented, r, err := findMember(tx, *in.member)
		if err != nil || r != nil {
			return nil, r, err
		}
		pos, err := positionOf(tx, in.p, rec, in.at)
		if err != nil {
			return nil, nil, err
		}
		out.member, out.facts, memberID = rec, facts(rec, presented, pos), rec.ID
	}
	accepted, r, err := acceptCoupons(tx, in.p, in.coupons, memberID, in.at)
	if err != nil || r != nil {
		return nil, r, err
	}
	ein := engine.EvalInput{Programme: in.p, Basket: in.basket, At: in.at, Store: in.store, Member: out.facts,
		Coupons: accepted, FreeItemChoices: in.choices, RedeemPoints: in.redeem}
	out.ev, err = engine.Evaluate(ein)
	if r, ok := asRefusal(err); ok && deferRedeem && in.redeem > 0 {
		ein.RedeemPoints = 0
		if out.ev, err = engine.Evaluate(ein); err == nil {
			out.redeemRefusal = r
		}
	}
	if r, ok := asRefusal(err); ok {
		return nil, r, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("node: evaluate: %w", err)
	}
	return out, nil, nil
}

// saleFingerprint is the hex sha256 of the canonical params: the request
// re-encoded with the otp cleared and absent lists as empty ones.
func saleFingerprint(req SaleRequest) (string, error) {
	c := req
	if c.Redeem != nil {
		r := *c.Redeem
		r.OTP = ""
		c.Redeem = &r
	}
	c.Coupons = nonNil(c.Coupons)
	c.FreeItemChoices = nonNil(c.FreeItemChoices)
	c.Tenders = nonNil(c.Tenders)
	return fingerprint("sale.complete/v1", c)
}

func fingerprint(kind string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("node: fingerprint: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// validNo reports whether s is 1..max bytes without control characters
// (keys join parts with 0x00).
func validNo(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// nonNil turns a nil slice into an empty one, for JSON's [] over null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
