package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/patron/patron/engine"
)

func TestIdentify(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "98000 00001", "GOLD-0001", "gold")
	if _, err := h.UpdateMember(ctx, "T01", UpdateRequest{MemberID: "+919800000001",
		Set: ProfileChange{Email: ptr("Asha@Example.com")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   Identifier
	}{
		{"e164", Identifier{Mobile: "+919800000001"}},
		{"national with 0", Identifier{Mobile: "09800000001"}},
		{"00 prefix", Identifier{Mobile: "0091 98000-00001"}},
		{"punctuated", Identifier{Mobile: "(98000) 000.01"}},
		{"card", Identifier{Card: "GOLD-0001"}},
		{"email other case", Identifier{Email: "asha@EXAMPLE.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: &tt.id})
			if err != nil {
				t.Fatal(err)
			}
			if m.MemberID != "+919800000001" {
				t.Errorf("got member %s", m.MemberID)
			}
			if m.Groups == nil || m.Cards == nil || m.Offers == nil || m.Consents == nil {
				t.Errorf("null array in %s", mustJSON(t, m))
			}
			if m.Tier != "classic" {
				t.Errorf("got tier %q, want classic", m.Tier)
			}
		})
	}
	refusals := []struct {
		name   string
		id     *Identifier
		reason string
	}{
		{"unknown mobile", &Identifier{Mobile: "+919800000002"}, ReasonMemberNotFound},
		{"unknown card", &Identifier{Card: "NOPE"}, ReasonMemberNotFound},
		{"unknown email", &Identifier{Email: "x@example.com"}, ReasonMemberNotFound},
		{"bad mobile", &Identifier{Mobile: "98x"}, ReasonInvalidParams},
		{"two fields", &Identifier{Mobile: "+919800000001", Card: "GOLD-0001"}, ReasonInvalidParams},
		{"none", nil, ReasonInvalidParams},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: tt.id})
			wantReason(t, err, tt.reason)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestEnrollRefusals(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "GOLD-0001", "gold")
	if _, err := h.UpdateMember(ctx, "T01", UpdateRequest{MemberID: "+919800000001",
		Set: ProfileChange{Email: ptr("asha@example.com")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    EnrollRequest
		reason string
		field  string
	}{
		{"no mobile", EnrollRequest{}, ReasonInvalidParams, "mobile"},
		{"bad mobile", EnrollRequest{Mobile: "12ab"}, ReasonInvalidParams, "mobile"},
		{"bad email", EnrollRequest{Mobile: "+919800000002", Email: "nope"}, ReasonInvalidParams, "email"},
		{"bad birthday", EnrollRequest{Mobile: "+919800000002", Birthday: "13-01"}, ReasonInvalidParams, "birthday"},
		{"bad anniversary", EnrollRequest{Mobile: "+919800000002", Anniversary: "02-30"}, ReasonInvalidParams, "anniversary"},
		{"unknown consent", EnrollRequest{Mobile: "+919800000002", Consents: map[string]bool{"x": true}}, ReasonInvalidParams, "consents"},
		{"unknown card type", EnrollRequest{Mobile: "+919800000002", Card: &CardRequest{Number: "C2", Type: "platinum"}}, ReasonInvalidParams, "card.type"},
		{"mobile exists", EnrollRequest{Mobile: "09800000001"}, ReasonMemberExists, ""},
		{"card exists", EnrollRequest{Mobile: "+919800000002", Card: &CardRequest{Number: "GOLD-0001", Type: "gold"}}, ReasonMemberExists, ""},
		{"email exists", EnrollRequest{Mobile: "+919800000002", Email: "ASHA@example.com"}, ReasonMemberExists, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Enroll(ctx, "T01", tt.req)
			r := wantReason(t, err, tt.reason)
			if r.Field != tt.field {
				t.Errorf("got field %q, want %q", r.Field, tt.field)
			}
			if tt.reason == ReasonMemberExists && r.Details["member_id"] != "+919800000001" {
				t.Errorf("got details %v", r.Details)
			}
		})
	}
	if _, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: "+919800000003", Birthday: "02-29"}); err != nil {
		t.Errorf("leap day birthday: %v", err)
	}
}

func TestCardsKeepBalance(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "GOLD-0001", "gold")
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000),
		Member: &Identifier{Card: "GOLD-0001"}}); err != nil {
		t.Fatal(err)
	}
	m, err := h.IssueCard(ctx, "T01", IssueCardRequest{MemberID: "+919800000001", Number: "CL-0002", Type: "classic"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cards) != 2 || m.Points.Balance != 15 {
		t.Fatalf("after issue: %s", mustJSON(t, m))
	}
	if _, err := h.IssueCard(ctx, "T01", IssueCardRequest{MemberID: "+919800000001", Number: "CL-0002", Type: "classic"}); err != nil {
		t.Errorf("retried issue: %v", err)
	}
	h.enroll(t, "+919800000002", "", "")
	_, err = h.IssueCard(ctx, "T01", IssueCardRequest{MemberID: "+919800000002", Number: "CL-0002", Type: "classic"})
	wantReason(t, err, ReasonMemberExists)

	_, err = h.BlockCard(ctx, "T02", BlockCardRequest{Number: "GOLD-0001", Reason: "misplaced"})
	wantReason(t, err, ReasonInvalidParams)
	_, err = h.BlockCard(ctx, "T02", BlockCardRequest{Number: "NOPE", Reason: "lost"})
	wantReason(t, err, ReasonMemberNotFound)
	if _, err := h.BlockCard(ctx, "T02", BlockCardRequest{Number: "GOLD-0001", Reason: "lost"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.Identify(ctx, "T01", IdentifyRequest{Identifier: &Identifier{Card: "GOLD-0001"}})
	if r := wantReason(t, err, ReasonCardBlocked); r.Details["block_reason"] != "lost" {
		t.Errorf("got details %v", r.Details)
	}
	// The new card identifies the member with the same balance, and its
	// type (classic, 100%) now earns: 10000 paise of books = 10 points.
	rc, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "2", Basket: books(1, 10000), Member: mobile("+919800000001")})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Points.Earned != 10 || rc.Points.Balance != 25 {
		t.Errorf("got points %+v, want earned 10 balance 25", rc.Points)
	}
	log, err := h.CardLog(ctx, "+919800000001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Action+" "+e.Card+" "+e.Reason+" "+e.Terminal+" "+e.Store)
	}
	want := []string{"issue GOLD-0001 enrol T01 S001", "issue CL-0002  T01 S001", "block GOLD-0001 lost T02 S001"}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("card log %q, want %q", got, want)
	}
}

func TestConsents(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	var changes []MemberChange
	cancel := h.Subscribe(func(c MemberChange) { changes = append(changes, c) })
	defer cancel()
	_, err := h.SetConsents(ctx, "T01", ConsentsRequest{MemberID: "+919800000001", Set: map[string]bool{"nope": true}})
	wantReason(t, err, ReasonInvalidParams)
	if _, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 10000), Member: mobile("+919800000001")}); err != nil {
		t.Fatal(err)
	}
	m, err := h.SetConsents(ctx, "T01", ConsentsRequest{MemberID: "+919800000001", Set: map[string]bool{"programme_terms": false}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Points.Balance != 10 || m.Points.Redeemable != 0 {
		t.Errorf("without required consent: %+v", m.Points)
	}
	_, err = h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "2", Basket: books(1, 10000), Member: mobile("+919800000001"),
		Redeem: &RedeemRequest{Points: 4}})
	wantReason(t, err, "consent_required")
	if len(changes) != 2 || changes[1].Member.Points.Redeemable != 0 {
		t.Errorf("got %d changes: %s", len(changes), mustJSON(t, changes))
	}
}

// TestEnrollRetryGetsTheOriginalAnswer: the same enrolment sent again by
// the same terminal (its connection dropped before the answer) gets the
// original answer; another terminal, or other params, get member_exists.
func TestEnrollRetryGetsTheOriginalAnswer(t *testing.T) {
	h := newHarness(t, "off")
	req := EnrollRequest{Mobile: "+919800000009", FirstName: "Ravi", Consents: map[string]bool{"programme_terms": true}}
	first, err := h.Enroll(ctx, "T01", req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.Enroll(ctx, "T01", req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Errorf("retry answered\n%s\nwant\n%s", b, a)
	}
	if _, err := h.Enroll(ctx, "T02", req); !isReason(err, ReasonMemberExists) {
		t.Errorf("the same params from another terminal: %v, want member_exists", err)
	}
	other := req
	other.FirstName = "Someone else"
	if _, err := h.Enroll(ctx, "T01", other); !isReason(err, ReasonMemberExists) {
		t.Errorf("other params for a taken mobile: %v, want member_exists", err)
	}
}

func isReason(err error, reason string) bool {
	var r *engine.Refusal
	return errors.As(err, &r) && r.Reason == reason
}
