package sms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhook(t *testing.T) {
	secret := []byte("0123456789abcdef-shared")
	status := http.StatusAccepted
	var got webhookBody
	var gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !Verify(secret, body, r.Header.Get(SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		gotKey = r.Header.Get(IdempotencyHeader)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: secret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{ID: "S001-T01-1/points_earned", To: "+919876543210", Text: "You earned 4 points.", Kind: "points_earned"}
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got != (webhookBody{ID: m.ID, To: m.To, Text: m.Text, Kind: m.Kind}) || gotKey != m.ID {
		t.Fatalf("got %+v key %q", got, gotKey)
	}
	for _, tc := range []struct {
		status    int
		permanent bool
	}{{500, false}, {503, false}, {429, false}, {408, false}, {400, true}, {404, true}} {
		status = tc.status
		err := w.Send(context.Background(), m)
		if err == nil || errors.Is(err, ErrPermanent) != tc.permanent {
			t.Errorf("status %d: got %v, want permanent=%v", tc.status, err, tc.permanent)
		}
	}
	// A wrong secret is refused by the endpoint: 401, permanent.
	bad, _ := NewWebhook(WebhookConfig{URL: srv.URL, Secret: []byte("another-secret-of-16")})
	if err := bad.Send(context.Background(), m); !errors.Is(err, ErrPermanent) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestWebhookTimeoutIsRetryable(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	w, _ := NewWebhook(WebhookConfig{URL: srv.URL, Secret: []byte("0123456789abcdef"), Timeout: 50 * time.Millisecond})
	err := w.Send(context.Background(), Message{ID: "a"})
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("got %v, want a retryable error", err)
	}
}

func TestWebhookSignatureFormat(t *testing.T) {
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	if want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"; got != want {
		t.Fatalf("got %s", got)
	}
	err := WebhookConfig{URL: "ftp://x", Secret: []byte("short")}.Validate()
	if err == nil || !strings.Contains(err.Error(), "URL") || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("validate: %v", err)
	}
}
