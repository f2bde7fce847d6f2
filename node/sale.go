package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Evaluate prices a basket without changing anything. req.At, when set,
// replaces the clock (what-if pricing). Refusals: invalid_params,
// member_not_found, card_blocked, coupon_*, and the engine's own.
func (n *Node) Evaluate(ctx context.Context, terminal string, req EvaluateRequest) (*engine.Evaluation, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
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

// CompleteSale prices and records a sale as one sale.completed event: the
// redemption, the points earned, the member's spend, the coupon uses and
// the receipt, in one group-committed transaction, fsynced before it
// returns. A retry with the same params (otp aside) on the same terminal
// and receipt_no gets the stored receipt verbatim, even if state changed
// since; different params are receipt_conflict. The checks run in the
// protocol's order: params; replay; member and card; coupons;
// evaluation_changed; tenders; consent, redemption limits and balance;
// offline allowance; OTP.
//
// With a Config.Authority, a redemption first obtains a hold from HQ
// (outside any transaction): HQ decides the balance check, a refusal is
// insufficient_points with HQ's redeemable, and the sale event names the
// hold so HQ posts it; a sale that then fails or is refused voids it. A
// wrong or missing OTP is found before HQ is asked, so no hold is placed
// for it. When HQ is unreachable the offline rules apply: at most the
// member's last known balance (insufficient_points) and at most the
// programme's offline_allowance_points (offline_limit); the redemption
// entry is marked offline. Without an Authority the node is its own HQ.
func (n *Node) CompleteSale(ctx context.Context, terminal string, req SaleRequest) (*Receipt, error) {
	if err := n.enterTill(ctx); err != nil {
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
	if s.in.redeem > 0 && n.cfg.Authority != nil {
		done, rc, err := n.authorise(ctx, s)
		if done {
			return rc, err
		}
	}
	rc, err := n.commitSale(s)
	if err != nil && s.holdID != "" {
		n.voidHold(ctx, s.holdID)
	}
	return rc, err
}

// authorise runs the checks that precede the balance read-only, then asks
// the authority for a hold and sets s.holdID or s.offline. done is true
// when the sale is answered already (a replay, a refusal, a failure).
func (n *Node) authorise(ctx context.Context, s *sale) (done bool, rc *Receipt, err error) {
	var (
		refusal  *engine.Refusal
		otpFails bool
	)
	s.checkOnly = true
	err = n.db.View(func(tx *bbolt.Tx) error {
		var err error
		rc, _, refusal, _, err = n.completeSaleTx(tx, s)
		return err
	})
	s.checkOnly = false
	switch {
	case err != nil:
		return true, nil, err
	case refusal == errOTPWouldFail:
		otpFails = true
	case refusal != nil:
		return true, nil, n.refused(refusal)
	case rc != nil:
		return true, rc, nil // a replay
	}
	if otpFails {
		// Let the local checks and the OTP check (counting the try)
		// answer; a hold is only asked for a sale that can complete.
		s.noHold = true
		return false, nil, nil
	}
	hold := engine.Hold{ID: s.receiptID, Store: n.cfg.Store, Member: s.memberID, Points: s.in.redeem, At: n.now()}
	d, err := n.cfg.Authority.Hold(ctx, hold)
	switch {
	case errors.Is(err, engine.ErrHQUnreachable):
		s.offline = true
		return false, nil, nil
	case err != nil:
		return true, nil, fmt.Errorf("node: hold %s: %w", hold.ID, err)
	default:
		// HQ answered: the store is online, so its earlier offline
		// redemptions are HQ's to account for, and a new offline spell
		// starts with the whole allowance.
		if err := n.resetOfflineSpent(); err != nil {
			return true, nil, err
		}
	}
	switch {
	case !d.Granted:
		return true, nil, n.refused(refuse(engine.ReasonInsufficientPoints,
			fmt.Sprintf("%d points asked, %d redeemable", s.in.redeem, d.Available), "redeemable", d.Available))
	case d.Status != engine.HoldPending:
		return true, nil, n.refused(refuse(ReasonUnavailable,
			fmt.Sprintf("the hold for this receipt is %s; use a new receipt number", d.Status)))
	}
	s.holdID = hold.ID
	return false, nil, nil
}

// voidHold releases a hold whose sale did not complete. A failure to void
// is not the till's problem: HQ expires an unposted hold.
func (n *Node) voidHold(ctx context.Context, id string) {
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), VoidHoldTimeout)
	defer cancel()
	if err := n.cfg.Authority.Void(vctx, id); err != nil {
		n.log.Warn("node: void hold; HQ will expire it", "hold", id, "err", err)
	}
}

// commitSale runs the sale's transaction.
func (n *Node) commitSale(s *sale) (*Receipt, error) {
	var (
		receipt  *Receipt
		refusal  *engine.Refusal
		replayed bool
		member   *Member
	)
	err := n.update(func(tx *bbolt.Tx) error {
		var err error // every capture is assigned on each run: fn may re-run
		receipt, member, refusal, replayed, err = n.completeSaleTx(tx, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	if refusal == errOTPWouldFail {
		refusal = refuse(ReasonUnavailable, "the OTP changed while the sale was checked; retry")
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

	memberID  string // set by a checkOnly run
	checkOnly bool   // run the checks before the balance, read-only
	noHold    bool   // the OTP will refuse: check locally, never complete
	holdID    string // HQ granted this hold: it decided the balance
	offline   bool   // HQ unreachable: offline rules
}

// errOTPWouldFail is what a checkOnly run returns when the OTP check
// would refuse. It never reaches a till.
var errOTPWouldFail = &engine.Refusal{Reason: "otp_would_fail"}

// prepareSale checks the params (the "malformed params" step).
func (n *Node) prepareSale(p *engine.Programme, terminal string, req SaleRequest) (*sale, *engine.Refusal) {
	if !validNo(req.ReceiptNo, MaxReceiptNoLen) {
		return nil, invalid("receipt_no", fmt.Sprintf("receipt_no must be 1 to %d printable characters", MaxReceiptNoLen))
	}
	if len(req.Tenders) > MaxTenders {
		return nil, invalid("tenders", fmt.Sprintf("at most %d tenders", MaxTenders))
	}
	if r := checkOTPKind(req.Redeem); r != nil {
		return nil, r
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

// completeSaleTx runs inside the group-commit transaction (or, for a
// checkOnly run, a read transaction). Everything it decides depends only
// on tx and s, so concurrent sales of one member see each other and a
// re-run decides the same.
func (n *Node) completeSaleTx(tx *bbolt.Tx, s *sale) (*Receipt, *Member, *engine.Refusal, bool, error) {
	if rc, r, found, err := n.replaySale(tx, s); found || err != nil {
		return rc, nil, r, found && r == nil, err
	}
	in := s.in
	in.trustRedeem = s.holdID != "" || s.checkOnly
	pr, r, err := price(tx, in, true)
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
		if s.offline {
			if r, err := checkOfflineAllowance(tx, p, pr.member.State.ID, redeem); err != nil || r != nil {
				return nil, nil, r, false, err
			}
		}
		otp := saleOTP(s)
		if s.checkOnly {
			s.memberID = pr.member.State.ID
			if r, err := peekOTP(tx, p, pr.member.State.ID, redeem, otp, s.in.at); err != nil || r != nil {
				return nil, nil, errOTPWouldFail, false, err
			}
			return nil, nil, nil, false, nil
		}
		if r, err := n.checkOTP(tx, p, pr.member.State.ID, redeem, otp, s.in.at); err != nil || r != nil {
			return nil, nil, r, false, err
		}
		if s.noHold {
			return nil, nil, errOTPWouldFail, false, nil
		}
	}
	if s.checkOnly {
		return nil, nil, nil, false, nil
	}
	return n.recordSale(tx, s, pr)
}

// replaySale finds an earlier sale of the receipt id: this node's answer
// when it has one, else (a receipt it holds from another node's event,
// after a restore) one rebuilt from the record.
func (n *Node) replaySale(tx *bbolt.Tx, s *sale) (*Receipt, *engine.Refusal, bool, error) {
	conflict := refuse(ReasonReceiptConflict, "receipt number already used with different content", "receipt_id", s.receiptID)
	var ans answerRecord
	found, err := getJSON(tx.Bucket(bucketAnswers), key("s", s.receiptID), &ans)
	if err != nil {
		return nil, nil, false, err
	}
	if found {
		if ans.Fingerprint != s.fingerprint {
			return nil, conflict, true, nil
		}
		var rc Receipt
		if err := json.Unmarshal(ans.Answer, &rc); err != nil {
			return nil, nil, false, fmt.Errorf("node: stored receipt %s: %w: %w", s.receiptID, ErrCorrupt, err)
		}
		return &rc, nil, true, nil
	}
	var rec receiptRecord
	if found, err = getJSON(tx.Bucket(bucketReceipts), []byte(s.receiptID), &rec); err != nil || !found {
		return nil, nil, false, err
	}
	if rec.Sale.Fingerprint != s.fingerprint {
		return nil, conflict, true, nil
	}
	rc, err := receiptFromRecord(tx, &rec)
	return rc, nil, true, err
}

// recordSale emits the sale.completed event of a priced, accepted sale
// and keeps the answer for replays.
func (n *Node) recordSale(tx *bbolt.Tx, s *sale, pr *priced) (*Receipt, *Member, *engine.Refusal, bool, error) {
	ev, p, at := pr.ev, s.in.p, s.in.at
	rc := &Receipt{ReceiptID: s.receiptID, At: at, Totals: ev.Totals, Discounts: discounts(ev),
		Lines: nonNil(ev.Lines), FreeItems: nonNil(ev.FreeItems), Applied: nonNil(ev.Applied),
		ReceiptText: []string{}, Offers: []Offer{}, ProgrammeVersion: p.Version}
	sc := &engine.SaleCompleted{ReceiptID: s.receiptID, Terminal: s.terminal, ReceiptNo: s.req.ReceiptNo,
		Fingerprint: s.fingerprint, ProgrammeVersion: p.Version, Day: dayOf(p, at), Evaluation: *ev,
		HoldID: s.holdID, Offline: s.offline && s.in.redeem > 0}
	event := engine.Event{Kind: engine.EventSaleCompleted, Terminal: s.terminal, At: at, Sale: sc}
	var earn, bonus engine.Points
	if m := pr.member; m != nil {
		event.Member = m.State.ID
		bonus = ev.Bonus + ev.Cashback
		for _, l := range ev.Lines {
			earn += l.Earn
			bonus += l.Bonus
			sc.Spend += l.Paid
		}
		sc.Entries = saleEntries(s.receiptID, n.cfg.Store, at, s.in.redeem, earn, bonus, sc.Offline)
		n.stampLots(p, sc.Entries, "") // expiry and pending terms (lots.go)
		if sc.Offline {
			if err := addOfflineSpent(tx, m.State.ID, s.in.redeem); err != nil {
				return nil, nil, nil, false, err
			}
		}
	}
	if _, err := n.emit(tx, event, nil, newEffects()); err != nil {
		return nil, nil, nil, false, err
	}
	var member *Member
	if m := pr.member; m != nil {
		bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(m.State.ID)))
		if err != nil {
			return nil, nil, nil, false, err
		}
		rc.MemberID = m.State.ID
		rc.Points = ReceiptPoints{Earned: earn + bonus, Redeemed: s.in.redeem, Balance: bal.Balance}
		rc.ReceiptText = receiptText(rc.Points)
		tc, err := n.tierChangeTx(tx, p, m.State.ID, s.terminal, engine.TierReasonSale, s.receiptID, at) // tier.go
		if err != nil {
			return nil, nil, nil, false, err
		}
		rc.ReceiptText = append(rc.ReceiptText, tierText(p, tc)...)
		if err := n.queuePointsTx(tx, p, s.receiptID, m.State.ID, rc.Points, at); err != nil {
			return nil, nil, nil, false, err
		}
		if member, err = n.view(tx, p, m, at); err != nil {
			return nil, nil, nil, false, err
		}
		rc.Offers = member.Offers
		rc.ReceiptText = append(rc.ReceiptText, lotsText(member.Points)...) // lots.go
	}
	answer, err := json.Marshal(rc)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("node: encode receipt: %w", err)
	}
	ans := answerRecord{V: recordVersion, Fingerprint: s.fingerprint, Answer: answer}
	if err := putJSON(tx.Bucket(bucketAnswers), key("s", s.receiptID), ans); err != nil {
		return nil, nil, nil, false, err
	}
	return rc, member, nil, false, nil
}

// queuePointsTx queues the sale's text, one per sale: points_redeemed
// when it redeemed, else points_earned when it earned; both show the new
// balance. Its id is the receipt id and the kind.
func (n *Node) queuePointsTx(tx *bbolt.Tx, p *engine.Programme, receiptID, member string, pts ReceiptPoints, at time.Time) error {
	if n.outbox == nil {
		return nil
	}
	kind, data := engine.MessagePointsEarned, engine.MessageData{Points: pts.Earned, Balance: pts.Balance}
	switch {
	case pts.Redeemed > 0:
		kind, data.Points = engine.MessagePointsRedeemed, pts.Redeemed
	case pts.Earned <= 0:
		return nil
	}
	text, err := engine.RenderMessage(p, kind, messageLanguage(tx, p, kind, member), data) // language.go
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return n.queueTx(tx, outMessage{id: receiptID + "/" + kind, kind: kind, member: member, text: text}, at)
}

// saleEntries are a sale's ledger entries, zero ones left out.
func saleEntries(receiptID, store string, at time.Time, redeem, earn, bonus engine.Points, offline bool) []engine.Entry {
	var out []engine.Entry
	for _, e := range []engine.Entry{
		{ID: receiptID + "/redeem", Kind: engine.EntryRedeem, Points: -redeem, Offline: offline},
		{ID: receiptID + "/earn", Kind: engine.EntryEarn, Points: earn},
		{ID: receiptID + "/bonus", Kind: engine.EntryBonus, Points: bonus},
	} {
		if e.Points != 0 {
			e.At, e.Store, e.Ref = at, store, receiptID
			out = append(out, e)
		}
	}
	return out
}

// receiptFromRecord rebuilds a receipt from a sale's record, for a sale
// this node did not answer itself: the balance is the current one.
func receiptFromRecord(tx *bbolt.Tx, rec *receiptRecord) (*Receipt, error) {
	ev := &rec.Sale.Evaluation
	rc := &Receipt{ReceiptID: rec.Sale.ReceiptID, At: rec.At, MemberID: rec.Member, Totals: ev.Totals,
		Discounts: discounts(ev), Lines: nonNil(ev.Lines), FreeItems: nonNil(ev.FreeItems), Applied: nonNil(ev.Applied),
		ReceiptText: []string{}, Offers: []Offer{}, ProgrammeVersion: rec.Sale.ProgrammeVersion}
	if rec.Member == "" {
		return rc, nil
	}
	for _, e := range rec.Sale.Entries {
		if e.Kind == engine.EntryRedeem {
			rc.Points.Redeemed -= e.Points
		} else {
			rc.Points.Earned += e.Points
		}
	}
	bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(rec.Member)))
	if err != nil {
		return nil, err
	}
	rc.Points.Balance = bal.Balance
	rc.ReceiptText = receiptText(rc.Points)
	return rc, nil
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
	// trustRedeem prices the redemption as if the member could afford
	// it: HQ decides the balance (a granted hold, or the check before
	// asking for one).
	trustRedeem bool
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
		out.member, out.facts, memberID = rec, facts(rec, presented, pos), rec.State.ID
		if in.trustRedeem && out.facts.Redeemable < in.redeem {
			out.facts.Redeemable = in.redeem
		}
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
		r.OTP, r.OTPKind = "", ""
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
