package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
	"go.etcd.io/bbolt"
)

// The SMS outbox. A message is written to bucketOutbox in the same
// transaction as the event that causes it (an OTP request, a sale), so a
// committed sale always has its text queued and a rolled-back one never
// does. Its id is stable ("<receipt id>/points_earned", "otp/<member>/<n>"):
// queuing an id the outbox holds already is a no-op, so a replayed sale
// never queues twice. One goroutine, started by Open when Config.SMS is
// set and stopped by Close, delivers: it walks bucketOutboxDue (due time,
// id) in order, sends what is due, and on a retryable failure schedules
// the next attempt after a back-off that doubles from OutboxRetryMin to
// OutboxRetryMax, up to OutboxMaxAttempts. A message that is done (sent,
// failed, expired, skipped) keeps a record without its text for
// OutboxKeepDone, which de-duplicates and takes delivery receipts, and is
// then pruned through the same due index.
//
// Delivery is at least once: a crash between the gateway's answer and
// the commit that marks the message sent sends it again after restart
// (the id goes to the gateway, so a webhook aggregator can drop it).
// Marketing messages carry the consent they need and are re-checked at
// send time: a member who withdrew it after queuing gets nothing.

// Outbox limits.
const (
	// OutboxMaxAttempts bounds the sends of one message: with the
	// back-off below, about 18 minutes of trying.
	OutboxMaxAttempts = 12
	// OutboxRetryMin and OutboxRetryMax bound the back-off between
	// attempts: a gateway blip is retried at once, an outage without
	// hammering it.
	OutboxRetryMin = time.Second
	OutboxRetryMax = 5 * time.Minute
	// OutboxKeepDone is how long a finished message's record (without
	// its text) is kept for de-duplication and delivery receipts.
	OutboxKeepDone = 7 * 24 * time.Hour
	// OutboxMaxPerPass bounds the due messages read in one transaction.
	OutboxMaxPerPass = 64
	// OutboxSendTimeout bounds one Send: a gateway that hangs must not
	// stop the queue.
	OutboxSendTimeout = 30 * time.Second
	// OutboxIdleWake is the longest the loop sleeps without being woken,
	// so a clock that jumped (or a test's fake clock) is noticed.
	OutboxIdleWake = time.Second
	// OTPSendWait bounds how long RequestOTP waits for the first attempt
	// to send its code before answering "sent" with the code queued.
	OTPSendWait = 5 * time.Second
)

// Outbox message states.
const (
	OutboxPending     = "pending"     // waiting for its (next) attempt
	OutboxSent        = "sent"        // the gateway took it
	OutboxDelivered   = "delivered"   // a receipt said the handset has it
	OutboxUndelivered = "undelivered" // a receipt said the network gave up
	OutboxFailed      = "failed"      // permanent failure, or OutboxMaxAttempts spent
	OutboxExpired     = "expired"     // an OTP not sent before it expired
	OutboxSkipped     = "skipped"     // the member withdrew the consent, or is gone
)

// ConsentSMSMarketing is the consent marketing texts need (programme-v1.md).
const ConsentSMSMarketing = "sms_marketing"

// OutboxMessage is one message as OutboxMessages reports it.
type OutboxMessage struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	To        string    `json:"to"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	QueuedAt  time.Time `json:"queued_at"`
	LastError string    `json:"last_error,omitempty"`
}

// outboxRecord is bucketOutbox's value.
type outboxRecord struct {
	V         int        `json:"v"`
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	To        string     `json:"to"`
	Member    string     `json:"member"`
	Text      string     `json:"text,omitempty"`     // cleared when done
	Code      *codeRef   `json:"code_ref,omitempty"` // an OTP text's code, filled in at send (otp.go)
	Consent   string     `json:"consent,omitempty"`  // needed at send time
	State     string     `json:"state"`
	Attempts  int        `json:"attempts"`
	QueuedAt  time.Time  `json:"queued_at"`
	Due       time.Time  `json:"due"` // pending: next attempt; done: pruned then
	Expires   *time.Time `json:"expires,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

func (outboxRecord) version() int { return recordVersion }

// outbox is the delivery goroutine's state.
type outbox struct {
	n      *Node
	sender sms.Sender
	wake   chan struct{} // buffered 1: something was queued
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu      sync.Mutex // guards following
	waiters map[string]chan error
}

// startOutbox starts the delivery goroutine.
func (n *Node) startOutbox(sender sms.Sender) {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{n: n, sender: sender, wake: make(chan struct{}, 1), cancel: cancel,
		done: make(chan struct{}), waiters: make(map[string]chan error)}
	n.outbox = o
	go func() {
		defer close(o.done)
		o.run(ctx)
	}()
}

// stop ends the goroutine and waits for it. A send in flight is
// cancelled and stays pending.
func (o *outbox) stop() {
	o.cancel()
	<-o.done
}

// kick wakes the goroutine.
func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends.
func (o *outbox) run(ctx context.Context) {
	for {
		next, err := o.pass(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, ErrClosed):
			return
		case err != nil:
			// Storage failed under the loop: nothing to hand it to but
			// the log; try again after a pause.
			o.n.log.Error("node: outbox", "err", err)
			next = o.n.now().Add(OutboxRetryMin)
		}
		wait := min(max(next.Sub(o.n.now()), 0), OutboxIdleWake)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// pass handles every due entry and returns when the next one is due.
func (o *outbox) pass(ctx context.Context) (time.Time, error) {
	for {
		now := o.n.now()
		due, next, err := o.due(ctx, now)
		if err != nil || len(due) == 0 {
			return next, err
		}
		for _, rec := range due {
			if ctx.Err() != nil {
				return now, nil
			}
			if err := o.handle(ctx, rec, now); err != nil {
				return now, err
			}
		}
	}
}

// due reads up to OutboxMaxPerPass entries due at now, and when the
// first one not yet due is (now + OutboxIdleWake when none).
func (o *outbox) due(ctx context.Context, now time.Time) ([]outboxRecord, time.Time, error) {
	if err := o.n.enter(ctx); err != nil {
		return nil, time.Time{}, err
	}
	defer o.n.leave()
	var out []outboxRecord
	next := now.Add(OutboxIdleWake)
	err := o.n.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutboxDue).Cursor()
		limit := timeKey(now)
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if string(k[:8]) > string(limit) || len(out) == OutboxMaxPerPass {
				next = timeFromKey(k)
				return nil
			}
			var rec outboxRecord
			found, err := getJSON(tx.Bucket(bucketOutbox), k[8:], &rec)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("node: outbox due entry %q without a message: %w", k[8:], ErrCorrupt)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, next, err
}

// handle acts on one due entry: prune a finished one, else attempt it.
func (o *outbox) handle(ctx context.Context, rec outboxRecord, now time.Time) error {
	if rec.State != OutboxPending {
		return o.replace(ctx, rec, nil) // kept long enough: prune
	}
	if rec.Expires != nil && !now.Before(*rec.Expires) {
		return o.finish(ctx, rec, OutboxExpired, "expired before it could be sent", now)
	}
	if rec.Consent != "" {
		ok, err := o.consentGiven(ctx, rec.Member, rec.Consent)
		if err != nil {
			return err
		}
		if !ok {
			return o.finish(ctx, rec, OutboxSkipped, "no "+rec.Consent+" consent at send time", now)
		}
	}
	text, err := o.fillCode(ctx, rec)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, OutboxSendTimeout)
	err = o.sender.Send(sctx, sms.Message{ID: rec.ID, To: rec.To, Text: text, Kind: rec.Kind})
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil // shutting down: the message stays pending
	}
	o.answerWaiter(rec.ID, err)
	switch {
	case err == nil:
		o.n.countSMS(func(m *metrics) { m.smsSent.Inc() })
		return o.finish(ctx, rec, OutboxSent, "", now)
	case errors.Is(err, sms.ErrPermanent) || rec.Attempts+1 >= OutboxMaxAttempts:
		o.n.countSMS(func(m *metrics) { m.smsFailed.Inc() })
		return o.finish(ctx, rec, OutboxFailed, err.Error(), now)
	}
	// A failed attempt is handled here, counted, and retried.
	o.n.countSMS(func(m *metrics) { m.smsRetried.Inc() })
	next := rec
	next.Attempts++
	next.LastError = truncate(err.Error(), MaxFieldLen)
	next.Due = now.Add(outboxBackoff(next.Attempts))
	return o.replace(ctx, rec, &next)
}

// finish records a final state; the record loses its text and is pruned
// after OutboxKeepDone.
func (o *outbox) finish(ctx context.Context, rec outboxRecord, state, why string, now time.Time) error {
	next := rec
	if state == OutboxSent || state == OutboxFailed {
		next.Attempts++
	}
	next.State, next.Text, next.LastError, next.Due = state, "", truncate(why, MaxFieldLen), now.Add(OutboxKeepDone)
	if state == OutboxSkipped || state == OutboxExpired {
		o.n.countSMS(func(m *metrics) { m.smsSkipped.Inc() })
	}
	return o.replace(ctx, rec, &next)
}

// replace swaps the stored rec (and its due entry) for next, or deletes
// it when next is nil — unless the stored record changed since rec was
// read (a delivery receipt overtook the loop): then it does nothing.
func (o *outbox) replace(ctx context.Context, rec outboxRecord, next *outboxRecord) error {
	if err := o.n.enter(ctx); err != nil {
		return err
	}
	defer o.n.leave()
	return o.n.update(func(tx *bbolt.Tx) error {
		b, due := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxDue)
		var cur outboxRecord
		found, err := getJSON(b, []byte(rec.ID), &cur)
		if err != nil || !found || cur.State != rec.State || !cur.Due.Equal(rec.Due) {
			return err
		}
		if err := due.Delete(dueKey(cur)); err != nil {
			return fmt.Errorf("node: outbox: %w", err)
		}
		if next == nil {
			if err := b.Delete([]byte(rec.ID)); err != nil {
				return fmt.Errorf("node: outbox: %w", err)
			}
			return nil
		}
		return putOutbox(b, due, *next)
	})
}

// fillCode is rec's text with an OTP's code filled in (otp.go).
func (o *outbox) fillCode(ctx context.Context, rec outboxRecord) (string, error) {
	if rec.Code == nil {
		return rec.Text, nil
	}
	if err := o.n.enter(ctx); err != nil {
		return "", err
	}
	defer o.n.leave()
	return o.n.fillCode(rec.Text, rec.Code)
}

// consentGiven reports whether member (still enrolled) gives consent.
func (o *outbox) consentGiven(ctx context.Context, member, consent string) (bool, error) {
	if err := o.n.enter(ctx); err != nil {
		return false, err
	}
	defer o.n.leave()
	var ok bool
	err := o.n.db.View(func(tx *bbolt.Tx) error {
		rec, found, err := loadMember(tx, member)
		if err != nil || !found || !rec.State.Enrolled {
			return err
		}
		ok = rec.State.ConsentValues()[consent]
		return nil
	})
	return ok, err
}

// expect registers interest in the first attempt of id; the channel
// receives its outcome. forget unregisters.
func (o *outbox) expect(id string) (ch <-chan error, forget func()) {
	c := make(chan error, 1)
	o.mu.Lock()
	o.waiters[id] = c
	o.mu.Unlock()
	return c, func() {
		o.mu.Lock()
		delete(o.waiters, id)
		o.mu.Unlock()
	}
}

func (o *outbox) answerWaiter(id string, err error) {
	o.mu.Lock()
	c, ok := o.waiters[id]
	delete(o.waiters, id)
	o.mu.Unlock()
	if ok {
		c <- err
	}
}

// outMessage is a message to queue.
type outMessage struct {
	id      string
	kind    string
	member  string // the member id, which is the mobile number
	text    string
	expires *time.Time
	code    *codeRef // an OTP text: the code is filled in at send (otp.go)
}

// queueTx queues m in tx, once per id; a no-op without an outbox.
// Marketing kinds need ConsentSMSMarketing, checked again at send time.
func (n *Node) queueTx(tx *bbolt.Tx, m outMessage, now time.Time) error {
	if n.outbox == nil {
		return nil
	}
	b := tx.Bucket(bucketOutbox)
	if b.Get([]byte(m.id)) != nil {
		return nil // queued before: a replay
	}
	// The number is the member id's mobile ("<mobile>~2" after an erasure, erasure.go).
	rec := outboxRecord{V: recordVersion, ID: m.id, Kind: m.kind, To: engine.MemberMobile(m.member), Member: m.member, Text: m.text,
		Code: m.code, State: OutboxPending, QueuedAt: now, Due: now, Expires: m.expires}
	if engine.IsMarketingMessage(m.kind) {
		rec.Consent = ConsentSMSMarketing
		member, found, err := loadMember(tx, m.member)
		if err != nil {
			return err
		}
		if !found || !member.State.ConsentValues()[ConsentSMSMarketing] {
			return nil // never queued without the consent
		}
	}
	if err := putOutbox(b, tx.Bucket(bucketOutboxDue), rec); err != nil {
		return err
	}
	tx.OnCommit(func() {
		n.countSMS(func(m *metrics) { m.smsQueued.Inc() })
		n.outbox.kick()
	})
	return nil
}

// render renders a message of kind in the current
// programme's templates. Members carry no language yet, so texts are in
// the programme's default language.
func (n *Node) render(kind string, data engine.MessageData) (string, error) {
	n.progMu.RLock()
	p := n.current
	n.progMu.RUnlock()
	text, err := engine.RenderMessage(p, kind, "", data)
	if err != nil {
		return "", fmt.Errorf("node: %w", err)
	}
	return text, nil
}

// RecordReceipt records a delivery receipt (sms.SMPPConfig.OnReceipt):
// the message becomes delivered or undelivered. A receipt for a message
// the outbox does not hold (pruned, another node's) is ignored.
func (n *Node) RecordReceipt(ctx context.Context, r sms.Receipt) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	var delivered bool
	err := n.update(func(tx *bbolt.Tx) error {
		delivered = false
		b := tx.Bucket(bucketOutbox)
		var rec outboxRecord
		found, err := getJSON(b, []byte(r.ID), &rec)
		if err != nil || !found || (rec.State != OutboxSent && rec.State != OutboxPending) {
			return err
		}
		if rec.State == OutboxPending {
			// The receipt overtook the commit of "sent": the message went.
			if err := tx.Bucket(bucketOutboxDue).Delete(dueKey(rec)); err != nil {
				return err
			}
			rec.Due, rec.Text = r.At.Add(OutboxKeepDone), ""
		}
		rec.State = OutboxUndelivered
		if r.Delivered {
			rec.State, delivered = OutboxDelivered, true
		}
		rec.LastError = truncate(r.Status, MaxFieldLen)
		return putOutbox(b, tx.Bucket(bucketOutboxDue), rec)
	})
	if err == nil && delivered {
		n.countSMS(func(m *metrics) { m.smsDelivered.Inc() })
	}
	return err
}

// OutboxMessages lists the outbox (texts left out), oldest id first, up
// to limit.
func (n *Node) OutboxMessages(ctx context.Context, limit int) ([]OutboxMessage, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	out := []OutboxMessage{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			if len(out) >= limit {
				return nil
			}
			var rec outboxRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			out = append(out, OutboxMessage{ID: rec.ID, Kind: rec.Kind, To: rec.To, State: rec.State,
				Attempts: rec.Attempts, QueuedAt: rec.QueuedAt, LastError: rec.LastError})
			return nil
		})
	})
	return out, err
}

// putOutbox stores rec and its due entry.
func putOutbox(b, due *bbolt.Bucket, rec outboxRecord) error {
	if err := putJSON(b, []byte(rec.ID), rec); err != nil {
		return err
	}
	if err := due.Put(dueKey(rec), nil); err != nil {
		return fmt.Errorf("node: put outbox due: %w", err)
	}
	return nil
}

// dueKey is timeKey(rec.Due) followed by the id.
func dueKey(rec outboxRecord) []byte { return append(timeKey(rec.Due), rec.ID...) }

// timeFromKey reverses timeKey.
func timeFromKey(k []byte) time.Time {
	var u uint64
	for _, c := range k[:8] {
		u = u<<8 | uint64(c)
	}
	return time.Unix(0, int64(u^(1<<63))).UTC()
}

// outboxBackoff is the wait after the attempts-th failure: doubling
// from OutboxRetryMin, at most OutboxRetryMax.
func outboxBackoff(attempts int) time.Duration {
	d := OutboxRetryMin
	for i := 1; i < attempts && d < OutboxRetryMax; i++ {
		d *= 2
	}
	return min(d, OutboxRetryMax)
}

// countSMS updates the SMS metrics when there are metrics.
func (n *Node) countSMS(fn func(*metrics)) {
	if n.metrics != nil {
		fn(n.metrics)
	}
}

// truncate cuts s to at most max bytes.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max]
}
