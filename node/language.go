package node

import (
	"fmt"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// A member's language (docs/protocol.md, member.enroll and member.update
// "language"): a BCP 47 tag kept as the "language" profile field in its
// canonical case (engine.CanonicalLanguage). It picks the SMS template
// language (docs/sms.md).

// MaxLanguageLen bounds a language tag: RFC 5646 §4.4.1 asks every
// implementation to take tags of up to 35 characters, and a longer one
// names no language a template would exist for.
const MaxLanguageLen = 35

// checkLanguage validates a language given to enrol or update: "" clears
// it; anything else must be a language tag of at most MaxLanguageLen.
func checkLanguage(v *string) *engine.Refusal {
	if v == nil || *v == "" {
		return nil
	}
	if _, ok := engine.CanonicalLanguage(*v); !ok || len(*v) > MaxLanguageLen {
		return invalid("language", `language must be a BCP 47 tag like "en", "sl" or "pt-BR"`)
	}
	return nil
}

// canonicalLanguage returns a checked tag in its canonical case.
func canonicalLanguage(v string) string {
	if c, ok := engine.CanonicalLanguage(v); ok {
		return c
	}
	return v
}

// messageLanguage is the language to render a text of kind to member in:
// the member's, or the nearest the programme has a template of kind for
// ("" for the programme's default).
func messageLanguage(tx *bbolt.Tx, p *engine.Programme, kind, member string) string {
	rec, found, err := loadMember(tx, member)
	if err != nil || !found {
		return "" // a text is not worth failing its sale over: the default language
	}
	return engine.MessageLanguage(p, kind, rec.State.Field(engine.FieldLanguage))
}

// renderFor renders a text of kind to member in the member's language
// (the current programme's templates; render is the same for texts to
// no one member in particular).
func (n *Node) renderFor(tx *bbolt.Tx, kind, member string, data engine.MessageData) (string, error) {
	n.progMu.RLock()
	p := n.current
	n.progMu.RUnlock()
	text, err := engine.RenderMessage(p, kind, messageLanguage(tx, p, kind, member), data)
	if err != nil {
		return "", fmt.Errorf("node: %w", err)
	}
	return text, nil
}
