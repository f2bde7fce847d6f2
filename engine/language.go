package engine

import (
	"maps"
	"slices"
	"strings"
)

// A member's language (the "language" profile field, FieldLanguage) is a
// BCP 47 tag such as "en", "sl" or "pt-BR". It picks the member's SMS
// templates (MessageLanguage); a member without one gets the programme's
// default language.

// CanonicalLanguage checks a language tag (letters and digits in
// '-'-separated subtags, the first of 2 to 8 letters) and returns it in
// the case BCP 47 recommends: the language lower case, a four-letter
// script title case, a two-letter region upper case, other subtags lower
// case ("EN-gb" → "en-GB", "sr-latn-rs" → "sr-Latn-RS"). Tags compare
// case-insensitively, so the canonical form is only for display and keys.
func CanonicalLanguage(tag string) (string, bool) {
	if !isLanguageTag(tag) {
		return "", false
	}
	parts := strings.Split(strings.ToLower(tag), "-")
	for i, p := range parts[1:] {
		switch {
		case len(p) == 2 && isLetters(p):
			parts[i+1] = strings.ToUpper(p)
		case len(p) == 4 && isLetters(p):
			parts[i+1] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-"), true
}

// MessageLanguage returns the language whose template of kind the
// programme has that best fits lang: lang itself, else lang with its
// last subtags dropped one by one ("pt-BR" → "pt"), compared without
// regard to case; "" when none fits (RenderMessage then uses the
// programme's default language).
func MessageLanguage(p *Programme, kind, lang string) string {
	if p == nil || p.Messages == nil || lang == "" {
		return ""
	}
	have := slices.Sorted(maps.Keys(p.Messages.Templates[kind]))
	for try := lang; try != ""; {
		for _, l := range have {
			if strings.EqualFold(l, try) {
				return l
			}
		}
		i := strings.LastIndexByte(try, '-')
		if i < 0 {
			break
		}
		try = try[:i]
	}
	return ""
}

func isLetters(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
