package sms

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Message is one text to send.
type Message struct {
	// ID is the outbox's stable id of the message ("<receipt id>/earned",
	// ...). The outbox never hands one id to a sender again once a send
	// succeeded; senders pass it on where the gateway can use it to
	// de-duplicate (the webhook's "id" and Idempotency-Key).
	ID string
	// To is the mobile number in E.164 ("+919876543210").
	To string
	// Text is the message, UTF-8.
	Text string
	// Kind is the engine's message kind ("otp", "points_earned", ...).
	Kind string
}

// Sender delivers a text message to a gateway. Send returns once the
// gateway accepted the message (or failed); an error wrapping
// ErrPermanent says a retry cannot succeed. Send must honour ctx and be
// safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Receipt is a delivery receipt: what the network reported about a
// message a sender handed over.
type Receipt struct {
	ID        string    // Message.ID
	Delivered bool      // the handset received it
	Status    string    // the gateway's word for the final state, e.g. "DELIVRD", "UNDELIV"
	At        time.Time // when the receipt arrived
}

// Errors.
var (
	// ErrPermanent marks a failure that a retry cannot mend (an invalid
	// number, a rejected request). The outbox gives the message up.
	ErrPermanent = errors.New("sms: permanent failure")
	// ErrNotBound is returned by SMPP.Send while no bind to the SMSC is
	// up; it wraps the last bind error. The outbox retries.
	ErrNotBound = errors.New("sms: not bound to the SMSC")
	// ErrClosed is returned by a sender's Send after Close.
	ErrClosed = errors.New("sms: sender closed")
	// ErrConnectionLost is returned when the SMSC connection dropped
	// before it answered a submit_sm: the message may or may not have
	// been accepted; the outbox retries.
	ErrConnectionLost = errors.New("sms: SMSC connection lost before the answer")
)

// Log is a Sender that logs messages instead of sending them, for
// development nodes and tests. It logs the text in clear, OTPs included:
// never use it in production.
type Log struct {
	Logger *slog.Logger // default slog.Default()
}

// Send logs the message at Info level.
func (s Log) Send(ctx context.Context, m Message) error {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	l.InfoContext(ctx, "sms", "id", m.ID, "kind", m.Kind, "to", m.To, "text", m.Text)
	return nil
}
