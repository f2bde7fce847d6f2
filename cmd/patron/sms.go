package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/sms"
)

// The SMS gateway flags of patron dev, store and hq, and the sender they
// build for the node's outbox.

// SMS gateway kinds (--sms).
const (
	smsNone    = ""        // no outbox: OTPs are logged by the node, nothing else is queued
	smsLog     = "log"     // the outbox logs every text (development)
	smsSMPP    = "smpp"    // an SMSC over SMPP
	smsWebhook = "webhook" // an aggregator's HTTPS endpoint
)

// receiptTimeout bounds recording one delivery receipt.
const receiptTimeout = 5 * time.Second

// smsFlags are the --sms flags.
type smsFlags struct {
	kind              string
	smppAddr          string
	smppSystemID      string
	smppPasswordFile  string
	webhookURL        string
	webhookSecretFile string
}

// register adds the flags to fs with def as --sms's default.
func (f *smsFlags) register(fs *flag.FlagSet, def string) {
	fs.StringVar(&f.kind, "sms", def, "SMS gateway for the message outbox: log, smpp or webhook (empty: no outbox, OTPs only logged)")
	fs.StringVar(&f.smppAddr, "smpp-addr", "", "SMSC address HOST:PORT (with --sms smpp)")
	fs.StringVar(&f.smppSystemID, "smpp-system-id", "", "SMPP system_id to bind with (with --sms smpp)")
	fs.StringVar(&f.smppPasswordFile, "smpp-password-file", "", "file holding the SMPP bind password (with --sms smpp)")
	fs.StringVar(&f.webhookURL, "sms-webhook-url", "", "URL the texts are POSTed to as signed JSON (with --sms webhook)")
	fs.StringVar(&f.webhookSecretFile, "sms-webhook-secret-file", "", "file holding the webhook's HMAC secret (with --sms webhook)")
}

// smsGateway is a built sender with what it needs around it.
type smsGateway struct {
	sender node.Sender // nil: no outbox
	target atomic.Pointer[node.Node]
	close  func() error
}

// attach hands the gateway's delivery receipts to n from now on.
func (g *smsGateway) attach(n *node.Node) { g.target.Store(n) }

// build checks the flags (every problem at once) and builds the sender.
// Delivery receipts go to the node attached later; ones arriving before
// are dropped (the message simply stays "sent").
func (f smsFlags) build(logger *slog.Logger) (*smsGateway, error) {
	g := &smsGateway{close: func() error { return nil }}
	switch f.kind {
	case smsNone:
		return g, nil
	case smsLog:
		g.sender = node.LogSender{Logger: logger}
		return g, nil
	case smsSMPP:
		password, perr := readSecretFile("--smpp-password-file", f.smppPasswordFile)
		cfg := sms.SMPPConfig{Addr: f.smppAddr, SystemID: f.smppSystemID, Password: string(password),
			OnReceipt: g.receipt(logger)}
		if err := errors.Join(perr, cfg.Validate()); err != nil {
			return nil, err // every problem at once
		}
		s, err := sms.NewSMPP(cfg)
		if err != nil {
			return nil, err
		}
		g.sender, g.close = s, s.Close
		return g, nil
	case smsWebhook:
		secret, serr := readSecretFile("--sms-webhook-secret-file", f.webhookSecretFile)
		cfg := sms.WebhookConfig{URL: f.webhookURL, Secret: secret}
		if err := errors.Join(serr, cfg.Validate()); err != nil {
			return nil, err
		}
		w, err := sms.NewWebhook(cfg)
		if err != nil {
			return nil, err
		}
		g.sender = w
		return g, nil
	}
	return nil, fmt.Errorf("--sms %q: must be log, smpp or webhook", f.kind)
}

// check reports every problem of the flags without building a sender
// (patron config check; build checks the same at start).
func (f smsFlags) check() error {
	switch f.kind {
	case smsNone, smsLog:
		return nil
	case smsSMPP:
		password, perr := readSecretFile("--smpp-password-file", f.smppPasswordFile)
		return errors.Join(perr, sms.SMPPConfig{Addr: f.smppAddr, SystemID: f.smppSystemID, Password: string(password)}.Validate())
	case smsWebhook:
		secret, serr := readSecretFile("--sms-webhook-secret-file", f.webhookSecretFile)
		return errors.Join(serr, sms.WebhookConfig{URL: f.webhookURL, Secret: secret}.Validate())
	}
	return fmt.Errorf("--sms %q: must be log, smpp or webhook", f.kind)
}

// receipt records a delivery receipt in the attached node. It runs on
// the SMPP reader; a failure has no caller to go to, so it is logged.
func (g *smsGateway) receipt(logger *slog.Logger) func(sms.Receipt) {
	return func(r sms.Receipt) {
		n := g.target.Load()
		if n == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), receiptTimeout)
		defer cancel()
		if err := n.RecordReceipt(ctx, r); err != nil && !errors.Is(err, node.ErrClosed) {
			logger.Warn("sms: record delivery receipt", "id", r.ID, "err", err)
		}
	}
}

// readSecretFile reads a secret from a file, without surrounding space.
func readSecretFile(flagName, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%s is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return bytes.TrimSpace(b), nil
}
