package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
)

// Retry limits of a simulated till.
const (
	// tillRetryFor is how long a till keeps retrying one request whose
	// connection failed (the store may be crashed and restarting): past
	// it the outcome stays unknown, as a cashier would give up.
	tillRetryFor = 20 * time.Second
	// tillRetryPause spaces those retries.
	tillRetryPause = 50 * time.Millisecond
	// tillCallTimeout bounds one attempt; an online redemption waits at
	// most the hold timeout for HQ.
	tillCallTimeout = 15 * time.Second
)

// Recorder collects what every till was told. It is safe for concurrent
// use.
type Recorder struct {
	mu        sync.Mutex // guards following
	ops       []TillOp
	reads     uint64
	attempts  uint64
	internals []string
}

// Ops returns the recorded operations.
func (r *Recorder) Ops() []TillOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TillOp(nil), r.ops...)
}

// Internal lists the internal errors tills were answered with (a bug
// signal: a till should only see results, refusals or unavailability).
func (r *Recorder) Internal() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.internals...)
}

// Events counts every request sent (attempts, reads included).
func (r *Recorder) Events() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts + r.reads
}

func (r *Recorder) add(op TillOp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// Till is a simulated terminal: a real WebSocket client of its store's
// posbridge server. One goroutine uses a Till at a time.
type Till struct {
	Store *StoreMember
	ID    string
	rec   *Recorder
	rng   *rand.Rand

	mu     sync.Mutex // guards client (Close may come from a dropper)
	client *posbridge.Client
}

// NewTill returns a till of store recording into rec; seed drives its
// dropped connections.
func NewTill(store *StoreMember, id string, rec *Recorder, seed uint64) *Till {
	return &Till{Store: store, ID: id, rec: rec, rng: rand.New(rand.NewPCG(seed, 0x7ee1))}
}

// Close closes the till's connection.
func (t *Till) Close() {
	t.mu.Lock()
	c := t.client
	t.client = nil
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

func (t *Till) conn(ctx context.Context) (*posbridge.Client, error) {
	t.mu.Lock()
	c := t.client
	t.mu.Unlock()
	if c != nil && c.Err() == nil {
		return c, nil
	}
	if c != nil {
		t.Close()
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := posbridge.Dial(dctx, t.Store.URL(), t.Store.Token(t.ID))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.client = c
	t.mu.Unlock()
	return c, nil
}

// answer is what one attempt got.
type answer struct {
	result  json.RawMessage // a result
	refusal string          // or a business refusal's reason
}

func (a answer) got() bool { return a.result != nil || a.refusal != "" }

// attempt sends one request. With drop the connection is closed while
// the request is in flight (the answer may still have arrived first).
func (t *Till) attempt(ctx context.Context, method string, params any, drop bool) answer {
	t.rec.mu.Lock()
	t.rec.attempts++
	t.rec.mu.Unlock()
	c, err := t.conn(ctx)
	if err != nil {
		return answer{}
	}
	cctx, cancel := context.WithTimeout(ctx, tillCallTimeout)
	defer cancel()
	var raw json.RawMessage
	if !drop {
		err = c.Call(cctx, method, params, &raw)
	} else {
		done := make(chan error, 1)
		go func() { done <- c.Call(cctx, method, params, &raw) }()
		pause := time.Duration(t.rng.IntN(3000)) * time.Microsecond
		time.Sleep(pause) // pacing: how far into the request the cable is pulled
		t.Close()
		err = <-done
	}
	var re *posbridge.RPCError
	switch {
	case err == nil:
		return answer{result: raw}
	case errors.As(err, &re):
		switch re.Reason() {
		case node.ReasonUnavailable:
			return answer{}
		case "internal":
			t.rec.mu.Lock()
			t.rec.internals = append(t.rec.internals, fmt.Sprintf("%s %s %s: %s", t.Store.ID, t.ID, method, re.Message))
			t.rec.mu.Unlock()
			return answer{}
		}
		return answer{refusal: re.Reason()}
	}
	t.Close() // a broken connection: redial next time
	return answer{}
}

// do runs one logical mutating request: drops attempts whose connection
// is cut mid-request, then attempts until one is answered or tillRetryFor
// passes, all with the same params. It fills op's outcome and answers and
// returns the first result.
func (t *Till) do(ctx context.Context, op *TillOp, method string, params any, drops int) json.RawMessage {
	op.Store, op.Till, op.Method = t.Store.ID, t.ID, method
	var first json.RawMessage
	var last answer
	note := func(a answer) {
		last = a
		switch {
		case a.result != nil:
			if first == nil {
				first = a.result
			}
			op.Answers = append(op.Answers, string(a.result))
		case a.refusal != "" && first != nil:
			// A refusal after a result contradicts it; a refusal before
			// one is not an effect (refusals are not replayed).
			op.Answers = append(op.Answers, "refused:"+a.refusal)
		}
	}
	for range drops {
		note(t.attempt(ctx, method, params, true))
	}
	deadline := time.Now().Add(tillRetryFor)
	for {
		a := t.attempt(ctx, method, params, false)
		note(a)
		if a.got() || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(tillRetryPause):
		}
	}
	switch {
	case first != nil:
		op.Outcome = Acked
	case last.refusal != "":
		op.Outcome = Refused
		op.Refusal = last.refusal
	default:
		op.Outcome = Unknown
	}
	return first
}

// read sends a read-only request (identify, evaluate) once.
func (t *Till) read(ctx context.Context, method string, params any, out any) error {
	t.rec.mu.Lock()
	t.rec.reads++
	t.rec.mu.Unlock()
	c, err := t.conn(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, tillCallTimeout)
	defer cancel()
	if err := c.Call(cctx, method, params, out); err != nil {
		var re *posbridge.RPCError
		if !errors.As(err, &re) {
			t.Close()
		}
		return err
	}
	return nil
}

// Enroll enrols mobile.
func (t *Till) Enroll(ctx context.Context, mobile string, drops int) TillOp {
	op := TillOp{Member: mobile}
	t.do(ctx, &op, "member.enroll", node.EnrollRequest{Mobile: mobile, FirstName: "Sim"}, drops)
	t.rec.add(op)
	return op
}

// Sale completes a sale of qty BK1 for member (none if ""), redeeming
// redeem points.
func (t *Till) Sale(ctx context.Context, receiptNo, member string, qty int, redeem int64, drops int) TillOp {
	return t.SaleAt(ctx, receiptNo, member, qty, unitPrice, redeem, drops)
}

// SaleAt is Sale at another unit price (minor units). A small basket
// paid mostly in points earns (almost) nothing, so redemptions can
// take a balance down, below zero in a partition.
func (t *Till) SaleAt(ctx context.Context, receiptNo, member string, qty int, price, redeem int64, drops int) TillOp {
	req := saleRequest(receiptNo, member, qty, redeem)
	req.Basket.Lines[0].UnitPrice = engine.Money(price)
	op := TillOp{Ref: t.Store.ID + "-" + t.ID + "-" + receiptNo, Member: member, Offline: t.Store.links.partitioned()}
	raw := t.do(ctx, &op, "sale.complete", req, drops)
	if raw != nil {
		var rc node.Receipt
		if err := json.Unmarshal(raw, &rc); err == nil {
			op.Delta = int64(rc.Points.Earned) - int64(rc.Points.Redeemed)
		}
	}
	t.rec.add(op)
	return op
}

// Return returns qty of line 1 of receipt (member is the receipt's).
func (t *Till) Return(ctx context.Context, receiptID, returnNo, member string, qty int64, drops int) TillOp {
	req := node.ReturnRequest{ReceiptID: receiptID, ReturnNo: returnNo, Lines: returnLines(qty)}
	return t.returnOp(ctx, "sale.return", req, receiptID+"/"+returnNo, member, drops)
}

// Void returns what is left of receipt.
func (t *Till) Void(ctx context.Context, receiptID, returnNo, member string, drops int) TillOp {
	req := node.VoidRequest{ReceiptID: receiptID, ReturnNo: returnNo}
	return t.returnOp(ctx, "sale.void", req, receiptID+"/"+returnNo, member, drops)
}

func (t *Till) returnOp(ctx context.Context, method string, req any, ref, member string, drops int) TillOp {
	op := TillOp{Ref: ref, Member: member}
	raw := t.do(ctx, &op, method, req, drops)
	if raw != nil {
		var rr node.ReturnReceipt
		if err := json.Unmarshal(raw, &rr); err == nil {
			op.Delta = int64(rr.Points.Refunded) - int64(rr.Points.ClawedBack)
		}
	}
	t.rec.add(op)
	return op
}

// Identify looks a member up.
func (t *Till) Identify(ctx context.Context, mobile string) (*node.Member, error) {
	var m node.Member
	err := t.read(ctx, "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: mobile}}, &m)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// Evaluate prices a basket.
func (t *Till) Evaluate(ctx context.Context, member string, qty int) error {
	req := saleRequest("", member, qty, 0)
	return t.read(ctx, "basket.evaluate", node.EvaluateRequest{Basket: req.Basket, Member: req.Member}, nil)
}

func saleRequest(receiptNo, member string, qty int, redeem int64) node.SaleRequest {
	req := node.SaleRequest{ReceiptNo: receiptNo,
		Basket: &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: int64(qty), UnitPrice: unitPrice}}}}
	if member != "" {
		req.Member = &node.Identifier{Mobile: member}
	}
	if redeem > 0 {
		req.Redeem = &node.RedeemRequest{Points: engine.Points(redeem)}
	}
	return req
}

func returnLines(qty int64) []engine.ReturnLine {
	return []engine.ReturnLine{{Line: 1, Qty: qty}}
}
