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
	if err := n.enter(ctx); err != nil {
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
	return n.returnLines(req.ReceiptID, req.ReturnNo, fp, func(*receiptRecord, []engine.ReturnResult) []engine.ReturnLine {
		return req.Lines
	})
}

// Void returns everything of a receipt not yet returned (return_no
// default VoidReturnNo). Voiding a receipt already fully returned is
// invalid_params.
func (n *Node) Void(ctx context.Context, terminal string, req VoidRequest) (*ReturnReceipt, error) {
	if err := n.enter(ctx); err != nil {
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
	return n.returnLines(req.ReceiptID, req.ReturnNo, fp, func(rec *receiptRecord, prior []engine.ReturnResult) []engine.ReturnLine {
		return engine.RemainingLines(&rec.Evaluation, prior)
	})
}

// returnLines runs a return in one group-committed transaction; lines
// picks what to return given the receipt and its prior returns.
func (n *Node) returnLines(receiptID, returnNo, fp string, lines func(*receiptRecord, []engine.ReturnResult) []engine.ReturnLine) (*ReturnReceipt, error) {
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
		rb := tx.Bucket(bucketReturns)
		var old returnRecord
		found, err := getJSON(rb, key(receiptID, returnNo), &old)
		if err != nil {
			return err
		}
		if found {
			if old.Fingerprint != fp {
				refusal = refuse(ReasonReceiptConflict, "return number already used with different content",
					"receipt_id", receiptID, "return_no", returnNo)
				return nil
			}
			out, replayed = new(ReturnReceipt), true
			if err := json.Unmarshal(old.Answer, out); err != nil {
				return fmt.Errorf("node: stored return: %w: %w", ErrCorrupt, err)
			}
			return nil
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
		res, err := engine.ComputeReturn(&rec.Evaluation, prior, want)
		if r, ok := asRefusal(err); ok {
			refusal = r
			return nil
		}
		if err != nil {
			return fmt.Errorf("node: compute return: %w", err)
		}
		out, member, err = n.recordReturn(tx, p, &rec, returnNo, fp, res, now)
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

// recordReturn writes a computed return: the ledger entries (kind
// "return": the claw-back negative, the refund positive), the spend, the
// coupon release on completion, and the stored answer.
func (n *Node) recordReturn(tx *bbolt.Tx, p *engine.Programme, rec *receiptRecord, returnNo, fp string,
	res *engine.ReturnResult, now time.Time) (*ReturnReceipt, *Member, error) {
	returnID := rec.ReceiptID + "/" + returnNo
	out := &ReturnReceipt{ReturnID: returnID,
		Points: ReturnPoints{ClawedBack: res.ClawedBack, Refunded: res.Refunded},
		Refund: Refund{Money: res.Money, Points: res.Refunded},
		Lines:  nonNil(res.Lines), Complete: res.Complete}
	if res.Complete {
		if err := releaseCoupons(tx, rec.Evaluation.CouponsUsed, rec.ReceiptID); err != nil {
			return nil, nil, err
		}
	}
	var member *Member
	if rec.MemberID != "" {
		entries := []engine.Entry{
			{ID: returnID + "/clawback", Kind: engine.EntryReturn, Points: -res.ClawedBack},
			{ID: returnID + "/refund", Kind: engine.EntryReturn, Points: res.Refunded},
		}
		balance, err := n.appendEntries(tx, rec.MemberID, returnID, now, entries)
		if err != nil {
			return nil, nil, err
		}
		if err := addSpend(tx, rec.MemberID, rec.Day, -res.Money); err != nil {
			return nil, nil, err
		}
		out.Points.Balance = balance
		var m memberRecord
		found, err := getJSON(tx.Bucket(bucketMembers), []byte(rec.MemberID), &m)
		if err != nil {
			return nil, nil, err
		}
		if found {
			if member, err = n.view(tx, p, &m, now); err != nil {
				return nil, nil, err
			}
		}
	}
	answer, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("node: encode return: %w", err)
	}
	rr := returnRecord{V: recordVersion, ReturnNo: returnNo, Fingerprint: fp, At: now, Result: *res, Answer: answer}
	if err := putJSON(tx.Bucket(bucketReturns), key(rec.ReceiptID, returnNo), rr); err != nil {
		return nil, nil, err
	}
	return out, member, nil
}

// priorReturns lists the returns already made against a receipt.
func priorReturns(tx *bbolt.Tx, receiptID string) ([]engine.ReturnResult, error) {
	prefix := key(receiptID, "")
	var out []engine.ReturnResult
	c := tx.Bucket(bucketReturns).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r returnRecord
		if err := decodeJSON(v, &r); err != nil {
			return nil, err
		}
		out = append(out, r.Result)
	}
	return out, nil
}
