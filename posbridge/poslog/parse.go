package poslog

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse reads one till file from r and returns its transactions. It
// recognises the format by the root element (POSLog or Bill), streams the
// XML token by token within lim, and reads nothing beyond r. Every error
// about the file's content is a *ParseError; an invalid lim is reported as
// a plain error.
func Parse(r io.Reader, lim Limits) (*File, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, err
	}
	p := newParser(r, lim)
	if err := p.run(); err != nil {
		return nil, p.wrap(err)
	}
	return p.file, nil
}

// node is an element kept in memory until its handler has read it. Only
// the transaction being read is held: handlers detach line items and
// transactions once they are turned into values.
type node struct {
	name    string // local name
	foreign bool   // in another namespace than the root (a vendor extension)
	idx     int    // 1-based among same-named siblings
	line    int
	parent  *node
	attrs   []xml.Attr
	text    string
	kids    []*node
}

// frame is an open element. n is nil inside a pruned vendor subtree.
type frame struct {
	name string
	idx  int
	n    *node
	seen map[string]int // children seen so far by local name
}

// handler turns the elements of one format into transactions.
type handler interface {
	// keep reports whether a foreign-namespace element under parent is
	// kept; otherwise it is pruned with its subtree.
	keep(parent *node, name xml.Name) bool
	// start sees each kept element as it opens (attributes, no children).
	start(n *node) error
	// end sees each kept element as it closes; detach drops it from its
	// parent.
	end(n *node) (detach bool, err error)
}

// nodeError places an error at an element read earlier.
type nodeError struct {
	n   *node
	err error
}

func (e *nodeError) Error() string { return e.err.Error() }
func (e *nodeError) Unwrap() error { return e.err }

func errAt(n *node, format string, args ...any) error {
	return &nodeError{n: n, err: fmt.Errorf(format, args...)}
}

type parser struct {
	lim    Limits
	in     *guardReader
	dec    *xml.Decoder
	stack  []frame
	tokens int
	rootNS string
	root   *node
	h      handler
	file   *File
}

func newParser(r io.Reader, lim Limits) *parser {
	in := &guardReader{r: r, max: lim.MaxBytes}
	br := bufio.NewReader(in)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3) // a UTF-8 byte order mark, as Windows tills write
	}
	dec := xml.NewDecoder(br)
	dec.Strict = true
	dec.Entity = nil        // only the five predefined entities
	dec.CharsetReader = nil // any declared encoding but UTF-8 is refused
	return &parser{lim: lim, in: in, dec: dec, file: &File{Transactions: []Transaction{}, Skipped: []Skip{}}}
}

// run reads tokens until the end of the input.
func (p *parser) run() error {
	rootClosed := false
	for {
		tok, err := p.dec.Token()
		if err == io.EOF {
			if p.root == nil {
				return fmt.Errorf("no root element: %w", ErrTruncated)
			}
			if !rootClosed {
				return fmt.Errorf("file ends inside %s: %w", p.path(), ErrTruncated)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if p.tokens++; p.tokens > p.lim.MaxTokens {
			return fmt.Errorf("more than %d XML tokens: %w", p.lim.MaxTokens, ErrTooManyItems)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if rootClosed {
				return fmt.Errorf("element %s after the root element: %w", t.Name.Local, ErrSyntax)
			}
			if err := p.startElement(t); err != nil {
				return err
			}
		case xml.EndElement:
			if err := p.endElement(); err != nil {
				return err
			}
			rootClosed = len(p.stack) == 0
		case xml.CharData:
			if err := p.charData(t); err != nil {
				return err
			}
		case xml.Directive:
			return fmt.Errorf("directive <!%s>: %w", firstWord(t), ErrExternalEntity)
		case xml.Comment, xml.ProcInst:
			// The decoder has checked the XML declaration: version 1.0,
			// UTF-8 or no encoding.
		}
	}
}

func (p *parser) startElement(t xml.StartElement) error {
	if len(p.stack) >= p.lim.MaxDepth {
		return fmt.Errorf("more than %d nested elements: %w", p.lim.MaxDepth, ErrTooDeep)
	}
	if p.root == nil {
		if err := p.detect(t.Name); err != nil {
			return err
		}
	}
	var parent *node
	idx := 1
	if len(p.stack) > 0 {
		top := &p.stack[len(p.stack)-1]
		parent = top.n
		if parent == nil { // inside a pruned subtree
			p.stack = append(p.stack, frame{name: t.Name.Local})
			return nil
		}
		if top.seen == nil {
			top.seen = make(map[string]int)
		}
		top.seen[t.Name.Local]++
		idx = top.seen[t.Name.Local]
	}
	foreign := t.Name.Space != p.rootNS
	if foreign && !p.h.keep(parent, t.Name) {
		p.stack = append(p.stack, frame{name: t.Name.Local, idx: idx})
		return nil
	}
	line, _ := p.dec.InputPos()
	n := &node{name: t.Name.Local, foreign: foreign, idx: idx, line: line, parent: parent, attrs: t.Attr}
	if parent != nil {
		parent.kids = append(parent.kids, n)
	} else {
		p.root = n
	}
	p.stack = append(p.stack, frame{name: n.name, idx: idx, n: n})
	return p.h.start(n)
}

func (p *parser) endElement() error {
	top := p.stack[len(p.stack)-1]
	if top.n != nil {
		detach, err := p.h.end(top.n)
		if err != nil {
			return err
		}
		if detach && top.n.parent != nil {
			kids := top.n.parent.kids
			if len(kids) > 0 && kids[len(kids)-1] == top.n {
				kids[len(kids)-1] = nil
				top.n.parent.kids = kids[:len(kids)-1]
			}
		}
	}
	p.stack = p.stack[:len(p.stack)-1]
	return nil
}

func (p *parser) charData(t xml.CharData) error {
	if len(p.stack) == 0 {
		if len(bytes.TrimSpace(t)) != 0 {
			return fmt.Errorf("text outside the root element: %w", ErrSyntax)
		}
		return nil
	}
	top := p.stack[len(p.stack)-1]
	// Whitespace between child elements is dropped: it would only cost
	// memory.
	if top.n != nil && (top.seen == nil || len(bytes.TrimSpace(t)) != 0) {
		top.n.text += string(t)
	}
	return nil
}

// detect picks the handler by the root element.
func (p *parser) detect(name xml.Name) error {
	p.rootNS = name.Space
	switch name.Local {
	case "POSLog":
		p.file.Format = FormatPOSLog
		p.h = newPOSLogHandler(p.lim, p.file)
	case "Bill":
		p.file.Format = FormatBill
		p.h = newBillHandler(p.lim, p.file)
	default:
		return fmt.Errorf("root element %s: want POSLog or Bill: %w", name.Local, ErrUnknownFormat)
	}
	return nil
}

// wrap turns any error into a *ParseError placed as well as is known.
func (p *parser) wrap(err error) error {
	var ne *nodeError
	if errors.As(err, &ne) {
		return &ParseError{Path: ne.n.path(), Line: ne.n.line, Err: ne.err}
	}
	line, _ := p.dec.InputPos()
	if p.in.readErr != nil && errors.Is(err, p.in.readErr) {
		// r itself failed: not the file's fault, but say where.
		return &ParseError{Path: p.path(), Line: line, Err: fmt.Errorf("reading: %w", err)}
	}
	return &ParseError{Path: p.path(), Line: line, Err: classify(err)}
}

// classify maps the decoder's errors onto the sentinels.
func classify(err error) error {
	var se *xml.SyntaxError
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrNotUTF8):
		return err
	case errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF"):
		return fmt.Errorf("%s: %w", se.Msg, ErrTruncated)
	case errors.As(err, &se) && strings.Contains(se.Msg, "UTF-8"):
		return fmt.Errorf("%s: %w", se.Msg, ErrNotUTF8)
	case errors.As(err, &se):
		return fmt.Errorf("%s: %w", se.Msg, ErrSyntax)
	case strings.Contains(err.Error(), "CharsetReader"):
		// encoding/xml: encoding "X" declared but Decoder.CharsetReader is nil
		return fmt.Errorf("%v: %w", err, ErrNotUTF8)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%v: %w", err, ErrTruncated)
	}
	for _, s := range []error{ErrTooDeep, ErrTooManyItems, ErrExternalEntity, ErrUnknownFormat, ErrAmount, ErrTruncated, ErrSyntax, ErrInvalid} {
		if errors.Is(err, s) {
			return err
		}
	}
	// The decoder's other complaints ("xml: unsupported version") are
	// plain errors.
	return fmt.Errorf("%v: %w", err, ErrSyntax)
}

// path is the element path of the open elements.
func (p *parser) path() string {
	var b strings.Builder
	for i, f := range p.stack {
		if i > 0 {
			b.WriteByte('/')
		}
		writeStep(&b, f.name, f.idx)
	}
	return b.String()
}

// path is the element path of n.
func (n *node) path() string {
	var chain []*node
	for x := n; x != nil; x = x.parent {
		chain = append(chain, x)
	}
	var b strings.Builder
	for i := len(chain) - 1; i >= 0; i-- {
		writeStep(&b, chain[i].name, chain[i].idx)
		if i > 0 {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// indexedAlways are the elements that repeat by nature: their index is in
// every path, so "LineItem[1]" is not mistaken for "the only LineItem".
var indexedAlways = map[string]bool{"Transaction": true, "LineItem": true, "Item": true, "Payment": true}

func writeStep(b *strings.Builder, name string, idx int) {
	b.WriteString(name)
	if idx > 1 || (idx == 1 && indexedAlways[name]) {
		b.WriteString("[" + strconv.Itoa(idx) + "]")
	}
}

func firstWord(d xml.Directive) string {
	s := strings.TrimSpace(string(d))
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// guardReader enforces MaxBytes and checks that the input is UTF-8 before
// the decoder sees it. It passes on only complete, valid characters within
// the limit and reports a problem once everything before it has been
// consumed, so the decoder sees the same bytes however r splits its reads
// and the first problem in the file is the one reported.
type guardReader struct {
	r       io.Reader
	max     int64
	n       int64  // bytes read from r so far
	buf     []byte // read buffer
	out     []byte // validated bytes not yet passed on
	pending []byte // an incomplete character at the end of the last read
	err     error  // reported once out is drained
	readErr error  // an error of r itself, other than io.EOF
}

// guardChunk is the read size: bufio's default buffer.
const guardChunk = 4096

func (g *guardReader) Read(b []byte) (int, error) {
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.fill()
	}
	n := copy(b, g.out)
	g.out = g.out[n:]
	return n, nil
}

// fill reads one chunk from r and moves what is valid into out.
func (g *guardReader) fill() {
	if g.buf == nil {
		g.buf = make([]byte, guardChunk)
	}
	n, err := g.r.Read(g.buf)
	chunk := append(g.pending, g.buf[:n]...)
	start := g.n - int64(len(g.pending)) // file offset of chunk[0]
	g.n += int64(n)
	g.pending = nil
	if err != nil {
		g.err = err // io.EOF included
		if err != io.EOF {
			g.readErr = err
		}
	} else if n == 0 {
		return // bufio gives up on a reader that keeps returning nothing
	}
	tooLarge := false
	if over := start + int64(len(chunk)) - g.max; over > 0 {
		chunk = chunk[:len(chunk)-int(over)]
		g.err = fmt.Errorf("more than %d bytes: %w", g.max, ErrTooLarge)
		tooLarge = true
	}
	// A character cut by the size limit or a read error is not a UTF-8
	// problem; one cut by the end of the file is.
	valid, verr := validUTF8Prefix(chunk, err == io.EOF && !tooLarge)
	g.out = chunk[:valid]
	switch {
	case verr != nil:
		g.err = fmt.Errorf("invalid UTF-8 at byte %d: %w", start+int64(valid), ErrNotUTF8)
	case valid < len(chunk) && g.err == nil:
		g.pending = append([]byte(nil), chunk[valid:]...)
	}
}

// validUTF8Prefix is the length of the longest prefix of b made of whole
// valid characters. An incomplete character at the end is not an error
// unless final.
func validUTF8Prefix(b []byte, final bool) (int, error) {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !final && !utf8.FullRune(b[i:]) {
				return i, nil
			}
			return i, ErrNotUTF8
		}
		i += size
	}
	return len(b), nil
}
