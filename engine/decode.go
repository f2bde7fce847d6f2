package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on a programme document. Each bounds the work and memory one
// ParseProgramme call may take, because a programme arrives from outside
// (the CLI, the HQ admin API, replication) and is parsed on every node.
const (
	// MaxProgrammeBytes bounds a JSON programme. 16 MiB holds a catalogue
	// of more than 100,000 products with room to spare, yet keeps the
	// decoded programme, which every node holds in memory, small.
	MaxProgrammeBytes = 16 << 20

	// MaxProgrammeYAMLBytes bounds a YAML programme, which is tighter than
	// MaxProgrammeBytes because the YAML parser builds a node tree of about
	// 120 bytes per value before we see it (2 MiB of "[0,0,...]" costs
	// ~240 MiB). YAML is for hand-written programmes; machine-made ones
	// with large catalogues should be JSON.
	MaxProgrammeYAMLBytes = 2 << 20

	// MaxProgrammeDepth bounds nesting. The deepest legitimate value,
	// campaigns[i].condition.items.attributes.k[j], is at depth 6; the
	// limit keeps recursion, and skipping unknown values, shallow.
	MaxProgrammeDepth = 32

	// MaxProblems bounds how many problems a ValidationError lists, so a
	// broken 16 MiB document does not produce a larger error; the rest are
	// counted in a final line.
	MaxProblems = 100
)

// ErrInvalidProgramme is what every error from ParseProgramme wraps: the
// document is too large, malformed, or breaks a rule of programme-v1.md.
// The error itself is a *ValidationError listing every problem.
var ErrInvalidProgramme = errors.New("engine: invalid programme")

// Problem is one thing wrong with a programme document. Path locates it
// in the document's JSON form, like "campaigns[3].reward" or
// "earn.card_types.gold.multiplier_pct"; it is "" for the document as a
// whole (size, syntax).
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a programme document, in
// document order for decoding problems, then in field order for rule
// problems. At most MaxProblems are listed individually.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, one per line, after a summary line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidProgramme.Error())
	if len(e.Problems) == 1 {
		b.WriteString(": ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, " (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns ErrInvalidProgramme.
func (e *ValidationError) Unwrap() error { return ErrInvalidProgramme }

// ParseProgramme decodes and validates a programme document (programme-v1.md).
// A document whose first non-space byte is '{' is JSON (so is a YAML
// document written as one flow mapping); anything else is YAML, which
// ParseProgramme refuses and ParseProgrammeDoc converts to JSON and decodes
// by the same rules, so both forms mean exactly the same thing. YAML
// aliases, merge keys, non-decimal integers and integers with leading
// zeros (quote SKUs like "000000007") are refused.
//
// Decoding is strict: unknown fields, duplicate keys, wrong types,
// fractional or exponent numbers where integers belong, null for a value
// that cannot be absent, and data after the document are all problems.
// Every problem is reported at once, each with its path, in a
// *ValidationError that wraps ErrInvalidProgramme.
//
// zones resolves the programme's timezone; with nil zones only "" and
// "UTC" are accepted. Absent optional settings get their defaults:
// timezone UTC, earn.basis "net_paid", earn.rounding "floor",
// redeem.max_share_pct 100, redeem.otp "required", tier_window_days 365
// (when there are tiers), default_product {"sku": "DEFAULT", "category":
// "uncategorised"}. Tiers are sorted by ascending min_spend.
func ParseProgramme(data []byte, zones ZoneResolver) (*Programme, error) {
	return ParseProgrammeDoc(data, zones, nil)
}

// ParseProgrammeDoc is ParseProgramme for callers that also read YAML:
// parseYAML turns a YAML document into a tree (the engine imports no YAML
// library). With a nil parseYAML, a document that is not JSON is refused.
func ParseProgrammeDoc(data []byte, zones ZoneResolver, parseYAML YAMLParser) (*Programme, error) {
	if len(data) > MaxProgrammeBytes {
		return nil, invalid(Problem{Message: fmt.Sprintf(
			"the document is %d bytes, over the limit of %d (MaxProgrammeBytes)", len(data), MaxProgrammeBytes)})
	}
	if !utf8.Valid(data) {
		return nil, invalid(Problem{Message: "the document is not valid UTF-8"})
	}
	fromYAML := !isJSON(data)
	if fromYAML {
		converted, probs := yamlToJSON(data, parseYAML)
		if len(probs) > 0 {
			return nil, invalid(probs...)
		}
		data = converted
	}

	p := &Programme{
		// Defaults that cannot be told apart from a zero written in the
		// document are set before decoding, which only overwrites the
		// fields that are present.
		Redeem: RedeemRules{MaxSharePct: 100, OTP: OTPRule{Mode: OTPRequired}},
	}
	d := newJSONDecoder(data, fromYAML)
	d.decodeProgramme(p)
	if d.fatal || d.problems.omitted > 0 {
		// A syntax error stops decoding, and the rules would only report
		// the fields it never reached; past MaxProblems decoding problems,
		// rule problems could no longer be matched to them (mergeProblems).
		return nil, invalid(d.problems.done()...)
	}

	var v validator
	v.programme(p, zones)

	all := mergeProblems(d.problems, v.problems)
	if len(all.list) > 0 {
		return nil, invalid(all.done()...)
	}
	p.IndexCatalogue()
	return p, nil
}

// isJSON reports whether the first non-space byte is '{'.
func isJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

func invalid(probs ...Problem) *ValidationError {
	return &ValidationError{Problems: probs}
}

// problemList collects problems up to MaxProblems and counts the rest.
type problemList struct {
	list    []Problem
	omitted int
}

func (l *problemList) add(path, msg string) {
	if len(l.list) >= MaxProblems {
		l.omitted++
		return
	}
	l.list = append(l.list, Problem{Path: path, Message: msg})
}

// done returns the problems with a final line counting those omitted.
func (l *problemList) done() []Problem {
	if l.omitted == 0 {
		return l.list
	}
	return append(l.list, Problem{Message: fmt.Sprintf("and %d more problems", l.omitted)})
}

// mergeProblems puts decoding problems first and drops every rule problem
// whose path is inside, or contains, a path that already failed to decode:
// a value that could not be decoded is left zero, and reporting "must be
// positive" about it would only repeat the first problem less clearly.
func mergeProblems(dec, rules problemList) problemList {
	out := dec
	for _, rp := range rules.list {
		overlaps := false
		for _, dp := range dec.list {
			if pathOverlaps(dp.Path, rp.Path) {
				overlaps = true
				break
			}
		}
		if !overlaps {
			out.add(rp.Path, rp.Message)
		}
	}
	out.omitted += rules.omitted
	return out
}

// pathOverlaps reports whether one path equals or is inside the other.
// Problems with the document as a whole (path "") stop decoding, so they
// never meet rule problems.
func pathOverlaps(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if !strings.HasPrefix(b, a) {
		return false
	}
	return len(b) == len(a) || b[len(a)] == '.' || b[len(a)] == '['
}

// path is a location in the document, built as decoding descends and
// rendered only when a problem names it.
type path struct {
	parent  *path
	key     string
	index   int
	isIndex bool // an array element: index, not key
}

func (p *path) field(key string) *path { return &path{parent: p, key: key} }
func (p *path) elem(i int) *path       { return &path{parent: p, index: i, isIndex: true} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	if p.isIndex {
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return joinKey(p.parent.String(), p.key)
}

// joinKey appends an object key to a rendered path: ".key" for keys made
// of letters, digits, '_' and '-', else a quoted ["key"].
func joinKey(prefix, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return prefix + "[" + strconv.Quote(key) + "]"
	case prefix == "":
		return key
	default:
		return prefix + "." + key
	}
}
