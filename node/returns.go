package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// VoidReturnNo is the return_no of a void that names none.
const VoidReturnNo = "VOID"

// Return takes back lines of a receipt, computed from what the receipt
// recorded (never re-priced): earned points are clawed back and redeemed
// points refunded in proportion, the member's spend is lowered by the
// money returned (on the sale's day, so the tier window stays right), and
// the return that completes the receipt also takes back bonus and
// cashback and releases its coupon uses. A balance may go below zero.
// Idempotent on (receipt_id, return_no): the same params get the stored
// answer, different ones receipt_conflict. Refusals: invalid_params,
// not_found (receipt), receipt_conflict, and the engine's.
func (n *Node) Return(ctx context.Context, terminal string, req ReturnRequest) (*ReturnReceipt, error) {
	if err := n.enterTill(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if len(req.Lines) == 0 || len(req.Lines) > engine.MaxBasketLines {
		return nil, n.refused(invalid("lines", fmt.Sprintf("1 to %d lines", engine.MaxBasketLines)))
	}
	fp, err := fingerprint("sale.return/v1", req)
	if err != nil {
		return nil, err
	}
	return n.returnLines(terminal, req.ReceiptID, req.ReturnNo, fp, func(*receiptRecord, []engine.ReturnResult) []engine.ReturnLine {
		return req.Lines
	})
}

// Void returns everything of a receipt not yet returned (return_no
// default VoidReturnNo). Voiding a receipt already fully returned is
// invalid_params.
func (n *Node) Void(ctx context.Context, terminal string, req VoidRequest) (*ReturnReceipt, error) {
	if err := n.enterTill(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if req.ReturnNo == "" {
		req.ReturnNo = VoidReturnNo
	}
	fp, err := fingerprint("sale.void/v1", req)
	if err != nil {
		return nil, err
	}
	return n.returnLines(terminal, req.ReceiptID, req.ReturnNo, fp, func(rec *receiptRecord, prior []engine.ReturnResult) []engine.ReturnLine {
		return engine.RemainingLines(&rec.Sale.Evaluation, prior)
	})
}

// returnLines runs a return in one group-committed transaction; lines
// picks what to return given the receipt and its prior returns (made
// here or at any other store whose events this node holds).
func (n *Node) returnLines(terminal, receiptID, returnNo, fp string, lines func(*receiptRecord, []engine.ReturnResult) []engine.ReturnLine) (*ReturnReceipt, error) {
	if !validNo(receiptID, MaxStoreIDLen+MaxTerminalIDLen+MaxReceiptNoLen+2) {
		return nil, n.refused(invalid("receipt_id", "receipt_id required"))
	}
	if !validNo(returnNo, MaxReceiptNoLen) {
		return nil, n.refused(invalid("return_no", fmt.Sprintf("return_no must be 1 to %d printable characters", MaxReceiptNoLen)))
	}
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	now := n.now()
	var (
		out      *ReturnReceipt
		refusal  *engine.Refusal
		replayed bool
		member   *Member
	)
	err = n.update(func(tx *bbolt.Tx) error {
		out, refusal, replayed, member = nil, nil, false, nil
		var found bool
		var err error
		if out, refusal, found, err = replayReturn(tx, receiptID, returnNo, fp); err != nil || found {
			replayed = refusal == nil
			return err
		}
		var rec receiptRecord
		found, err = getJSON(tx.Bucket(bucketReceipts), []byte(receiptID), &rec)
		if err != nil {
			return err
		}
		if !found {
			refusal = refuse(ReasonNotFound, "no such receipt", "receipt_id", receiptID)
			return nil
		}
		prior, err := priorReturns(tx, receiptID)
		if err != nil {
			return err
		}
		want := lines(&rec, prior)
		if len(want) == 0 {
			refusal = invalid("receipt_id", "the receipt is fully returned")
			return nil
		}
		res, err := engine.ComputeReturn(&rec.Sale.Evaluation, prior, want)
		if r, ok := asRefusal(err); ok {
			refusal = r
			return nil
		}
		if err != nil {
			return fmt.Errorf("node: compute return: %w", err)
		}
		out, member, err = n.recordReturn(tx, p, terminal, &rec, returnNo, fp, res, now)
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
			n.metrics.returns.Inc()
		}
		n.notify(member)
	}
	return out, nil
}

// replayReturn finds an earlier return of (receipt, return_no): this
// node's answer, or one rebuilt from a return another store made.
func replayReturn(tx *bbolt.Tx, receiptID, returnNo, fp string) (*ReturnReceipt, *engine.Refusal, bool, error) {
	conflict := refuse(ReasonReceiptConflict, "return number already used with different content",
		"receipt_id", receiptID, "return_no", returnNo)
	var ans answerRecord
	found, err := getJSON(tx.Bucket(bucketAnswers), key("r", receiptID, returnNo), &ans)
	if err != nil {
		return nil, nil, false, err
	}
	if found {
		if ans.Fingerprint != fp {
			return nil, conflict, true, nil
		}
		out := new(ReturnReceipt)
		if err := json.Unmarshal(ans.Answer, out); err != nil {
			return nil, nil, false, fmt.Errorf("node: stored return: %w: %w", ErrCorrupt, err)
		}
		return out, nil, true, nil
	}
	prefix := key(receiptID, returnNo, "")
	k, v := tx.Bucket(bucketReturns).Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil, false, nil
	}
	var rec returnRecord
	if err := decodeJSON(v, &rec); err != nil {
		return nil, nil, false, err
	}
	if rec.Return.Fingerprint != fp {
		return nil, conflict, true, nil
	}
	res := rec.Return.Result
	out := &ReturnReceipt{ReturnID: rec.Return.ReturnID,
		Points: ReturnPoints{ClawedBack: res.ClawedBack, Refunded: res.Refunded},
		Refund: Refund{Money: res.Money, Points: res.Refunded}, Lines: nonNil(res.Lines), Complete: res.Complete}
	if rec.Member != "" {
		bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(rec.Member)))
		if err != nil {
			return nil, nil, false, err
		}
		out.Points.Balance = bal.Balance
	}
	return out, nil, true, nil
}

// recordReturn emits the sale.returned event of a computed return: the
// ledger entries (kind "return": the claw-back negative, the refund
// positive; their ids name the origin, so returns taken at two stores
// never collide), the spend taken back on the sale's day, the coupon
// release on completion; and keeps the answer for replays.
func (n *Node) recordReturn(tx *bbolt.Tx, p *engine.Programme, terminal string, rec *receiptRecord, returnNo, fp string,
	res *engine.ReturnResult, now time.Time) (*ReturnReceipt, *Member, error) {
	returnID := rec.Sale.ReceiptID + "/" + returnNo
	out := &ReturnReceipt{ReturnID: returnID,
		Points: ReturnPoints{ClawedBack: res.ClawedBack, Refunded: res.Refunded},
		Refund: Refund{Money: res.Money, Points: res.Refunded},
		Lines:  nonNil(res.Lines), Complete: res.Complete}
	sr := &engine.SaleReturned{ReceiptID: rec.Sale.ReceiptID, ReturnNo: returnNo, ReturnID: returnID, Fingerprint: fp,
		Day: rec.Sale.Day, Result: *res, CouponsReleased: []string{}}
	if res.Complete {
		sr.CouponsReleased = append(sr.CouponsReleased, rec.Sale.Evaluation.CouponsUsed...)
	}
	if rec.Member != "" {
		sr.Spend = -res.Money
		for _, e := range []engine.Entry{
			{ID: returnID + "@" + n.origin + "/clawback", Kind: engine.EntryReturn, Points: -res.ClawedBack},
			{ID: returnID + "@" + n.origin + "/refund", Kind: engine.EntryReturn, Points: res.Refunded},
		} {
			if e.Points != 0 {
				e.At, e.Store, e.Ref = now, n.cfg.Store, returnID
				sr.Entries = append(sr.Entries, e)
			}
		}
		n.stampLots(p, sr.Entries, rec.Sale.ReceiptID) // lots.go
	}
	ev := engine.Event{Kind: engine.EventSaleReturned, Member: rec.Member, Terminal: terminal, At: now, Return: sr}
	if _, err := n.emit(tx, ev, nil, newEffects()); err != nil {
		return nil, nil, err
	}
	var member *Member
	if rec.Member != "" {
		bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(rec.Member)))
		if err != nil {
			return nil, nil, err
		}
		out.Points.Balance = bal.Balance
		if _, err := n.tierChangeTx(tx, p, rec.Member, terminal, engine.TierReasonReturn, returnID, now); err != nil { // tier.go
			return nil, nil, err
		}
		m, found, err := loadMember(tx, rec.Member)
		if err != nil {
			return nil, nil, err
		}
		if found && m.State.Enrolled {
			if member, err = n.view(tx, p, m, now); err != nil {
				return nil, nil, err
			}
		}
	}
	answer, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("node: encode return: %w", err)
	}
	ans := answerRecord{V: recordVersion, Fingerprint: fp, Answer: answer}
	if err := putJSON(tx.Bucket(bucketAnswers), key("r", rec.Sale.ReceiptID, returnNo), ans); err != nil {
		return nil, nil, err
	}
	return out, member, nil
}

// priorReturns lists the returns already made against a receipt, at any
// store.
func priorReturns(tx *bbolt.Tx, receiptID string) ([]engine.ReturnResult, error) {
	prefix := key(receiptID, "")
	var out []engine.ReturnResult
	c := tx.Bucket(bucketReturns).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r returnRecord
		if err := decodeJSON(v, &r); err != nil {
			return nil, err
		}
		out = append(out, r.Return.Result)
	}
	return out, nil
}
