package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
)

// Messages are a programme's SMS texts (the optional "messages" section,
// docs/sms.md): text/template templates keyed by message kind and then by
// language. A kind or language the programme leaves out falls back to
// DefaultLanguage, then to the built-in English text (DefaultMessageTemplates).
type Messages struct {
	// DefaultLanguage is the language of members who have none. Default
	// "en".
	DefaultLanguage string `json:"default_language,omitempty"`
	// Templates maps a kind (MessageOTP, ...) to language → template.
	Templates map[string]map[string]string `json:"templates,omitempty"`
}

// The message kinds. OTP and the points messages (earned, redeemed,
// expiring) are transactional (they need no marketing consent,
// programme-v1.md); the others are marketing.
const (
	MessageOTP            = "otp"
	MessagePointsEarned   = "points_earned"
	MessagePointsRedeemed = "points_redeemed"
	MessageBirthday       = "birthday"
	MessageAnniversary    = "anniversary"
	MessagePointsExpiring = "points_expiring"
	MessageTierChanged    = "tier_changed"
)

// MessageKinds lists every kind, with whether it is marketing.
var messageKinds = map[string]bool{
	MessageOTP: false, MessagePointsEarned: false, MessagePointsRedeemed: false,
	MessageBirthday: true, MessageAnniversary: true, MessageTierChanged: true,
	MessagePointsExpiring:   false, // a service message about the member's own points (docs/points-expiry.md)
	MessageAuthenticatorOTP: false, // events_authenticator.go
}

// IsMarketingMessage reports whether kind is a marketing message, sent
// only to members who gave the marketing consent. Unknown kinds are
// marketing: the safe side.
func IsMarketingMessage(kind string) bool {
	marketing, known := messageKinds[kind]
	return marketing || !known
}

// Message template limits.
const (
	// MaxMessageTemplateBytes bounds one template: an SMS of more than
	// a few parts is a mistake, and a template renders at most a few
	// numbers longer than itself.
	MaxMessageTemplateBytes = 640
	// MaxMessageLanguages bounds the languages of one kind.
	MaxMessageLanguages = 32
	// defaultMessageLanguage is DefaultLanguage's default.
	defaultMessageLanguage = "en"
)

// MessageData is what a template may show: {{.Points}}, {{.Balance}},
// {{.Code}}, {{.Minutes}}, {{.FirstName}}, {{.Tier}}, {{.ExpiresOn}}.
// Unused fields are zero.
type MessageData struct {
	Points    Points
	Balance   Points
	Code      string // the OTP
	Minutes   int    // the OTP's validity
	FirstName string
	Tier      string
	ExpiresOn string // points_expiring: the first day the points expire, "YYYY-MM-DD"
}

// DefaultMessageTemplates are the built-in English texts.
func DefaultMessageTemplates() map[string]string {
	return map[string]string{
		MessageOTP:              "{{.Code}} is your OTP to redeem {{.Points}} points. Valid {{.Minutes}} minutes. Do not share it.",
		MessagePointsEarned:     "You earned {{.Points}} points. Your balance is {{.Balance}} points.",
		MessagePointsRedeemed:   "You redeemed {{.Points}} points. Your balance is {{.Balance}} points.",
		MessageBirthday:         "Happy birthday{{if .FirstName}}, {{.FirstName}}{{end}}! Thank you for being a member.",
		MessageAnniversary:      "Happy anniversary{{if .FirstName}}, {{.FirstName}}{{end}}! Thank you for being a member.",
		MessagePointsExpiring:   "{{.Points}} of your points expire soon, the first on {{.ExpiresOn}}. Your balance is {{.Balance}} points.",
		MessageTierChanged:      "Your tier is now {{.Tier}}.",
		MessageAuthenticatorOTP: "{{.Code}} is your code to link an authenticator app to your membership. Valid {{.Minutes}} minutes. Do not share it.",
	}
}

// RenderMessage renders the kind's text in lang ("" for the programme's
// default language): the programme's template for lang, else for its
// default language, else the built-in one. Templates are plain text
// (text/template, no HTML escaping: an SMS is not markup).
func RenderMessage(p *Programme, kind, lang string, data MessageData) (string, error) {
	src, name := messageSource(p, kind, lang)
	if src == "" {
		return "", fmt.Errorf("engine: message kind %q has no template", kind)
	}
	t, err := parseMessageTemplate(name, src)
	if err != nil {
		return "", fmt.Errorf("engine: message %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("engine: message %s: %w", name, err)
	}
	return b.String(), nil
}

// messageSource picks the template of kind for lang.
func messageSource(p *Programme, kind, lang string) (src, name string) {
	def := defaultMessageLanguage
	if p != nil && p.Messages != nil {
		if p.Messages.DefaultLanguage != "" {
			def = p.Messages.DefaultLanguage
		}
		byLang := p.Messages.Templates[kind]
		for _, l := range []string{lang, def} {
			if s, ok := byLang[l]; ok && l != "" {
				return s, kind + "." + l
			}
		}
	}
	return DefaultMessageTemplates()[kind], kind + ".builtin"
}

func parseMessageTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(src)
}

// messages checks the messages section: known kinds, language tags,
// templates that parse and render with MessageData.
func (v *validator) messages(m *Messages) {
	if m == nil {
		return
	}
	if m.DefaultLanguage != "" && !isLanguageTag(m.DefaultLanguage) {
		v.add("messages.default_language", `must be a language tag like "en" or "hi-IN"`)
	}
	for _, kind := range slices.Sorted(maps.Keys(m.Templates)) {
		byLang := m.Templates[kind]
		at := joinKey("messages.templates", kind)
		if _, known := messageKinds[kind]; !known {
			v.addf(at, "unknown message kind %q", kind)
			continue
		}
		if len(byLang) > MaxMessageLanguages {
			v.addf(at, "has more than %d languages (MaxMessageLanguages)", MaxMessageLanguages)
		}
		for _, lang := range slices.Sorted(maps.Keys(byLang)) {
			src := byLang[lang]
			lat := joinKey(at, lang)
			switch {
			case !isLanguageTag(lang):
				v.add(lat, `the key must be a language tag like "en" or "hi-IN"`)
			case src == "":
				v.add(lat, "must not be empty")
			case len(src) > MaxMessageTemplateBytes:
				v.addf(lat, "is longer than %d bytes (MaxMessageTemplateBytes)", MaxMessageTemplateBytes)
			default:
				v.template(lat, src)
			}
		}
	}
}

// template checks that src parses and renders with MessageData (so a
// misspelt {{.Balanse}} is found when the programme loads, not when a
// text is due).
func (v *validator) template(at, src string) {
	t, err := parseMessageTemplate(at, src)
	if err == nil {
		err = t.Execute(&strings.Builder{}, MessageData{})
	}
	if err != nil {
		v.addf(at, "bad template: %v", err)
	}
}

// isLanguageTag accepts BCP 47-like tags: 2 to 8 letters, then
// '-'-separated parts of 1 to 8 letters or digits.
func isLanguageTag(s string) bool {
	parts := strings.Split(s, "-")
	for i, part := range parts {
		if len(part) < 1 || len(part) > 8 || i == 0 && len(part) < 2 {
			return false
		}
		for _, c := range part {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}
