// Package sms holds the senders that hand the node's text messages to the
// outside world: SMPP (the operator protocol, through
// github.com/linxGnu/gosmpp), an HTTP webhook for SMS aggregators, and a
// log sender for development. It owns the gateway connections and nothing
// else: which messages to send, when, to whom and how often is the node's
// outbox (node/outbox.go); a sender sends what it is given, once per call.
//
// # Senders
//
//	s, err := sms.NewSMPP(sms.SMPPConfig{Addr: "smsc:2775", SystemID: "patron", Password: pw,
//		OnReceipt: func(r sms.Receipt) { ... }})
//	defer s.Close()
//	err = s.Send(ctx, sms.Message{ID: "S001-T01-42/earned", To: "+919876543210", Text: "..."})
//
// Send returns when the gateway accepted the message: for SMPP, when the
// SMSC answered the submit_sm (its answer, not the handset's receipt); for
// the webhook, when the endpoint answered 2xx. An error that wraps
// ErrPermanent cannot be mended by retrying (a 4xx answer, an SMSC
// status such as ESME_RINVDSTADR); every other error may be retried.
//
// # SMPP
//
// NewSMPP starts one goroutine that owns the bind (transceiver by
// default, so delivery receipts arrive on the same connection): it binds
// with the system_id and password, and when the SMSC refuses the bind or
// drops the connection it binds again after a back-off that doubles from
// SMPPConfig.ReconnectMin to ReconnectMax. Send waits up to
// SubmitTimeout for a bind, submits (registered_delivery = 1, GSM 03.38
// when the text fits it, else UCS-2; long texts are split with a
// concatenation header), and waits for the submit_sm_resp of every part.
// deliver_sm delivery receipts ("id:… stat:DELIVRD …") are matched to the
// message by the SMSC's message id and reported to OnReceipt; the
// mapping is held in memory (MaxTrackedReceipts), so receipts for
// messages sent before a restart are not reported.
//
// Caveat: SMPP has no idempotency key. A connection that drops after
// the SMSC took a submit_sm but before its answer arrived makes Send
// fail with ErrConnectionLost, and the outbox's retry sends the text a
// second time. Nothing in the protocol can tell these apart.
//
// # Webhook
//
// Webhook POSTs {"id","to","text","kind"} as JSON. The body is signed:
// the header X-Patron-Signature is "sha256=" and the lower-case hex
// HMAC-SHA256 of the exact body bytes under the shared secret (the form
// GitHub uses). The message id is also sent as Idempotency-Key, so an
// aggregator can drop a retry of a message it already took. 2xx is
// accepted; 408 and 429 are retried; other 4xx are permanent; 5xx,
// timeouts and connection errors are retried.
//
// This package must not import the node: the node imports it for the
// Sender interface and the Log default.
package sms
