package engine

import "testing"

func TestCanonicalLanguage(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"en", "en", true},
		{"SL", "sl", true},
		{"EN-gb", "en-GB", true},
		{"sr-latn-rs", "sr-Latn-RS", true},
		{"zh-Hant", "zh-Hant", true},
		{"es-419", "es-419", true},
		{"de-CH-1996", "de-CH-1996", true},
		{"", "", false},
		{"e", "", false},
		{"en_GB", "", false},
		{"en-", "", false},
		{"1en", "", false},
		{"englishes", "", false},
		{"en-GB-toolongsubtag", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalLanguage(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalLanguage(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMessageLanguage(t *testing.T) {
	p := &Programme{Messages: &Messages{DefaultLanguage: "en", Templates: map[string]map[string]string{
		MessagePointsEarned: {"en": "x", "sl": "y", "pt-BR": "z", "sr-Latn": "w"},
	}}}
	tests := []struct{ kind, lang, want string }{
		{MessagePointsEarned, "sl", "sl"},
		{MessagePointsEarned, "SL", "sl"},
		{MessagePointsEarned, "sl-SI", "sl"},
		{MessagePointsEarned, "pt-BR", "pt-BR"},
		{MessagePointsEarned, "pt", ""},
		{MessagePointsEarned, "sr-Latn-RS", "sr-Latn"},
		{MessagePointsEarned, "de", ""},
		{MessagePointsEarned, "", ""},
		{MessageOTP, "sl", ""},
	}
	for _, tt := range tests {
		if got := MessageLanguage(p, tt.kind, tt.lang); got != tt.want {
			t.Errorf("MessageLanguage(%s, %q) = %q, want %q", tt.kind, tt.lang, got, tt.want)
		}
	}
	if got := MessageLanguage(nil, MessageOTP, "sl"); got != "" {
		t.Errorf("no programme: %q", got)
	}
	// The picked language renders the member's template.
	text, err := RenderMessage(p, MessagePointsEarned, MessageLanguage(p, MessagePointsEarned, "sl-SI"), MessageData{})
	if err != nil || text != "y" {
		t.Errorf("render: %q %v", text, err)
	}
}
