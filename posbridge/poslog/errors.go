package poslog

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error Parse returns for a bad file is a
// *ParseError wrapping one of these; errors.Is finds them.
var (
	// ErrTooLarge: the file is longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("poslog: file too large")
	// ErrTooDeep: elements nest deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("poslog: elements nested too deep")
	// ErrTooManyItems: a count limit was crossed (line items in a
	// transaction, transactions in a file, or XML tokens in a file).
	ErrTooManyItems = errors.New("poslog: too many items")
	// ErrExternalEntity: the file has a DOCTYPE. A DTD can declare
	// entities (external files, billion laughs); no till needs one, so any
	// DOCTYPE or other directive is refused outright.
	ErrExternalEntity = errors.New("poslog: DOCTYPE and entity declarations are not allowed")
	// ErrNotUTF8: the file is not UTF-8, or declares another encoding.
	ErrNotUTF8 = errors.New("poslog: not UTF-8")
	// ErrUnknownFormat: the root element is neither POSLog nor Bill, or a
	// Bill has an unknown version.
	ErrUnknownFormat = errors.New("poslog: unknown file format")
	// ErrAmount: a money amount or quantity is not an exact decimal the
	// currency can hold.
	ErrAmount = errors.New("poslog: bad amount")
	// ErrTruncated: the file ends before its root element is closed.
	ErrTruncated = errors.New("poslog: file truncated")
	// ErrSyntax: the file is not well-formed XML.
	ErrSyntax = errors.New("poslog: malformed XML")
	// ErrInvalid: the XML is well-formed but a required element is missing
	// or a value is out of place (unknown bill field, bad date or flag).
	ErrInvalid = errors.New("poslog: invalid content")
)

// ParseError says what is wrong with a file and where.
type ParseError struct {
	// Path is the element path, such as
	// "POSLog/Transaction[3]/RetailTransaction/LineItem[12]/Sale/Quantity";
	// Transaction, LineItem, Item and Payment always carry their 1-based
	// index among same-named siblings, other elements only from the
	// second one on. "" when the error precedes the root element.
	Path string
	// Line is the input line (1-based) where the decoder was when it found
	// the problem; 0 if unknown.
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	where := e.Path
	if where == "" {
		where = "file"
	}
	if e.Line > 0 {
		where = fmt.Sprintf("%s (line %d)", where, e.Line)
	}
	return fmt.Sprintf("poslog: %s: %v", where, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }
