package node

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMemberLanguage: a language given at enrolment or update is checked,
// kept in its canonical case, shown on identify and cleared with "".
func TestMemberLanguage(t *testing.T) {
	h := newHarness(t, "off")
	m, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: "9800000002", Language: "SL",
		Consents: map[string]bool{"programme_terms": true}})
	if err != nil || m.Language != "sl" {
		t.Fatalf("enrol: language %q (%v), want sl", m.Language, err)
	}
	for _, bad := range []string{"sl_SI", "x", "english-", "en" + strings.Repeat("-abcdefgh", 4)} {
		_, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: "9800000003", Language: bad})
		if r := wantReason(t, err, ReasonInvalidParams); r.Field != "language" {
			t.Errorf("enrol with %q: field %q, want language", bad, r.Field)
		}
		_, err = h.UpdateMember(ctx, "T01", UpdateRequest{MemberID: m.MemberID, Set: ProfileChange{Language: &bad}})
		wantReason(t, err, ReasonInvalidParams)
	}
	for _, tt := range []struct{ set, want string }{{"pt-br", "pt-BR"}, {"", ""}} {
		set := tt.set
		got, err := h.UpdateMember(ctx, "T01", UpdateRequest{MemberID: m.MemberID, Set: ProfileChange{Language: &set}})
		if err != nil || got.Language != tt.want {
			t.Errorf("update to %q: %q (%v), want %q", tt.set, got.Language, err, tt.want)
		}
	}
	got, err := h.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile("9800000002")})
	if err != nil || got.Language != "" {
		t.Errorf("identify after clearing: %q %v", got.Language, err)
	}
}

// TestTextsInMemberLanguage: the OTP text uses the template of the
// member's language, the nearest one (sl-SI → sl), or the default.
func TestTextsInMemberLanguage(t *testing.T) {
	h := newHarness(t, "required")
	var doc map[string]any
	if err := json.Unmarshal(testProgramme("test-2", "required"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["messages"] = map[string]any{"default_language": "en", "templates": map[string]any{
		"otp": map[string]string{"en": "Code {{.Code}}", "sl": "Koda {{.Code}}"}}}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadProgramme(ctx, data); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ lang, want string }{{"sl-SI", "Koda "}, {"de", "Code "}, {"", "Code "}} {
		mob := []string{"9800000011", "9800000012", "9800000013"}[i]
		m, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: mob, Language: tt.lang,
			Consents: map[string]bool{"programme_terms": true}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.RequestOTP(ctx, "T01", OTPRequest{MemberID: m.MemberID, Points: 10}); err != nil {
			t.Fatal(err)
		}
		h.sms.mu.Lock()
		last := h.sms.texts[len(h.sms.texts)-1]
		h.sms.mu.Unlock()
		if text := strings.TrimPrefix(last, m.MemberID+" "); !strings.HasPrefix(text, tt.want) {
			t.Errorf("language %q: text %q, want it to start %q", tt.lang, text, tt.want)
		}
	}
}
