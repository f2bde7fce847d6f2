package engine

import (
	"strings"
	"testing"
)

func TestRenderMessage(t *testing.T) {
	doc := `{"version": "m1", "currency": "INR", "minor_digits": 2,
	  "earn": {"rates": [{"category": "*", "points": 1, "per": 100}]},
	  "redeem": {"point_value": 25},
	  "campaigns": [],
	  "messages": {"default_language": "hi",
	    "templates": {"points_earned": {"hi": "{{.Points}} अंक मिले, शेष {{.Balance}}", "fr": "{{.Points}} points gagnés"}}}}`
	p, err := ParseProgramme([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := MessageData{Points: 40, Balance: 140}
	for _, tc := range []struct{ kind, lang, want string }{
		{MessagePointsEarned, "", "40 अंक मिले, शेष 140"},
		{MessagePointsEarned, "fr", "40 points gagnés"},
		{MessagePointsEarned, "de", "40 अंक मिले, शेष 140"}, // programme default
		{MessagePointsRedeemed, "fr", "You redeemed 40 points. Your balance is 140 points."},
	} {
		got, err := RenderMessage(p, tc.kind, tc.lang, data)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s: got %q, %v; want %q", tc.kind, tc.lang, got, err, tc.want)
		}
	}
	if got, _ := RenderMessage(nil, MessageOTP, "", MessageData{Code: "<b>1", Points: 5, Minutes: 5}); !strings.HasPrefix(got, "<b>1 is") {
		t.Errorf("otp: got %q (text, not HTML-escaped)", got)
	}
}

func TestMessagesValidation(t *testing.T) {
	doc := `{"version": "m1", "currency": "INR", "minor_digits": 2,
	  "earn": {"rates": [{"category": "*", "points": 1, "per": 100}]},
	  "redeem": {"point_value": 25},
	  "campaigns": [],
	  "messages": {"default_language": "h",
	    "templates": {"nope": {"en": "x"}, "otp": {"en": "{{.Balanse}}", "e n": "x", "fr": "", "de": "{{"}}}}`
	_, err := ParseProgramme([]byte(doc), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"messages.default_language", `messages.templates.nope: unknown message kind`,
		"messages.templates.otp.en: bad template", `messages.templates.otp["e n"]`, "messages.templates.otp.fr: must not be empty",
		"messages.templates.otp.de: bad template"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
