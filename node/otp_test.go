package node

import (
	"fmt"
	"testing"

	"github.com/patron/patron/engine"
)

func TestOTP(t *testing.T) {
	h := newHarness(t, "required")
	h.enroll(t, "+919876543210", "CL-1", "classic")
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "seed", Basket: books(1, 1000000),
		Member: mobile("+919876543210")}); err != nil {
		t.Fatal(err)
	}
	n := 0
	redeem := func(otp string) error {
		n++
		_, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: fmt.Sprint(n), Member: mobile("+919876543210"),
			Basket: books(1, 2500), Redeem: &RedeemRequest{Points: 100, OTP: otp},
			Tenders: []Tender{{Type: "points", Amount: 2500}}})
		return err
	}
	ask := func() {
		t.Helper()
		sent, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+919876543210", Points: 100})
		if err != nil {
			t.Fatal(err)
		}
		if sent.SentTo != "+91******3210" || !sent.ExpiresAt.Equal(h.clock.Now().Add(OTPValidity)) {
			t.Fatalf("sent %+v", sent)
		}
	}
	wantReason(t, redeem(""), ReasonOTPRequired)
	wantReason(t, redeem("123456"), ReasonOTPRequired) // none was sent

	ask() // send 1
	code := h.sms.lastOTP(t)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	for i := 1; i < OTPMaxTries; i++ {
		wantReason(t, redeem(wrong), ReasonOTPInvalid)
	}
	wantReason(t, redeem(wrong), ReasonOTPLocked)
	wantReason(t, redeem(code), ReasonOTPLocked) // even the right code now

	ask() // send 2: a fresh code replaces the locked one
	h.clock.Advance(OTPValidity)
	wantReason(t, redeem(h.sms.lastOTP(t)), ReasonOTPExpired)

	ask() // send 3
	_, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+919876543210", Points: 100})
	wantReason(t, err, ReasonOTPRateLimited)
	if err := redeem(h.sms.lastOTP(t)); err != nil {
		t.Fatalf("right code: %v", err)
	}
	wantReason(t, redeem(h.sms.lastOTP(t)), ReasonOTPRequired) // consumed

	h.clock.Advance(OTPSendWindow)
	sent, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+919876543210", Points: 50})
	if err != nil {
		t.Fatal(err)
	}
	_ = sent
	wantReason(t, redeem(h.sms.lastOTP(t)), ReasonOTPInvalid) // authorised 50, asked 100

	_, err = h.RequestOTP(ctx, "T01", OTPRequest{MemberID: "+910000000000", Points: 1})
	wantReason(t, err, ReasonMemberNotFound)
	h.checkFold(t, "+919876543210")
}

// TestOTPAbove: with "above:N" only redemptions above N points need one.
func TestOTPAbove(t *testing.T) {
	h := newHarness(t, "above:50")
	h.enroll(t, "+919876543210", "CL-1", "classic")
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "seed", Basket: books(1, 1000000),
		Member: mobile("+919876543210")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		points engine.Points
		reason string
	}{{50, ""}, {51, ReasonOTPRequired}} {
		_, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: fmt.Sprint(tt.points), Member: mobile("+919876543210"),
			Basket: books(1, 10000), Redeem: &RedeemRequest{Points: tt.points}})
		if tt.reason == "" && err != nil {
			t.Errorf("%d points: %v", tt.points, err)
		}
		if tt.reason != "" {
			wantReason(t, err, tt.reason)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
