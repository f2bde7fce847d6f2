package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook header names.
const (
	// SignatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)).
	SignatureHeader = "X-Patron-Signature"
	// IdempotencyHeader carries the message id.
	IdempotencyHeader = "Idempotency-Key"
)

// Webhook limits.
const (
	// MinWebhookSecretBytes: a shorter HMAC key is guessable.
	MinWebhookSecretBytes = 16
	// MaxWebhookAnswerBytes bounds how much of an answer is read (to
	// quote it in an error and reuse the connection).
	MaxWebhookAnswerBytes = 4 << 10
)

// WebhookConfig configures a Webhook. URL and Secret are required.
type WebhookConfig struct {
	// URL is the endpoint, http or https. Required.
	URL string
	// Secret is the HMAC key shared with the endpoint, at least
	// MinWebhookSecretBytes. Required.
	Secret []byte
	// Timeout bounds one POST, answer included. Default 10 s.
	Timeout time.Duration
	// Client makes the requests. Default a new http.Client (its own
	// Timeout is left alone; Timeout above applies through ctx).
	Client *http.Client
}

// Validate reports every problem of the configuration at once.
func (c WebhookConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("sms: webhook: URL %q must be an http or https URL", c.URL))
	}
	if len(c.Secret) < MinWebhookSecretBytes {
		errs = append(errs, fmt.Errorf("sms: webhook: Secret must be at least %d bytes", MinWebhookSecretBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("sms: webhook: Timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Webhook is a Sender that POSTs each message as signed JSON.
type Webhook struct {
	cfg WebhookConfig
}

// NewWebhook validates cfg and returns the sender.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	return &Webhook{cfg: cfg}, nil
}

// webhookBody is the JSON a webhook receives.
type webhookBody struct {
	ID   string `json:"id"`
	To   string `json:"to"`
	Text string `json:"text"`
	Kind string `json:"kind"`
}

// Send POSTs m. 2xx: accepted. 408, 429, 5xx, timeouts and connection
// errors: a retryable error. Other answers: ErrPermanent.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(webhookBody{ID: m.ID, To: m.To, Text: m.Text, Kind: m.Kind})
	if err != nil {
		return fmt.Errorf("sms: webhook encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms: webhook request: %w: %w", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body))
	req.Header.Set(IdempotencyHeader, m.ID)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("sms: webhook post %s: %w", m.ID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, MaxWebhookAnswerBytes)) // only quoted in an error
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("sms: webhook post %s: %s: %q", m.ID, resp.Status, answer)
	default:
		return fmt.Errorf("sms: webhook post %s: %s: %q: %w", m.ID, resp.Status, answer, ErrPermanent)
	}
}

// Sign is the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is body's signature under secret, in
// constant time: what an endpoint written in Go would call.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}
