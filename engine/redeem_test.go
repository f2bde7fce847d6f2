package engine

import "testing"

func TestCheckRedemptionOrder(t *testing.T) {
	p := newProgramme(nil)
	p.Redeem.MinPoints = 100
	p.Redeem.MaxSharePct = 50
	ok := &MemberFacts{ConsentsOK: true, Redeemable: 150}
	tests := []struct {
		name   string
		m      *MemberFacts
		net    Money
		points Points
		reason string
		field  string
	}{
		{"no member", nil, 100000, 100, ReasonInvalidParams, "member"},
		{"consent before limits", &MemberFacts{Redeemable: 0}, 100000, 1, ReasonConsentRequired, ""},
		{"below min", ok, 100000, 99, ReasonInvalidParams, "redeem.points"},
		// 50% of 10000 is 5000 = 200 points: 201 is over the share.
		{"limits before balance", ok, 10000, 201, ReasonInvalidParams, "redeem.points"},
		{"balance", ok, 100000, 151, ReasonInsufficientPoints, ""},
		{"zero", ok, 100000, 0, ReasonInvalidParams, "redeem.points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckRedemption(p, tt.m, tt.net, tt.points)
			if r == nil {
				t.Fatal("got nil, want a refusal")
			}
			equal(t, "reason", r.Reason, tt.reason)
			equal(t, "field", r.Field, tt.field)
		})
	}
	if r := CheckRedemption(p, ok, 100000, 150); r != nil {
		t.Fatalf("150 of 150: %+v", r)
	}
}
