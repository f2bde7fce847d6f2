package poslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	txOpen  = `<POSLog><Transaction><RetailStoreID>S1</RetailStoreID><WorkstationID>T1</WorkstationID><SequenceNumber>1</SequenceNumber><BusinessDayDate>2026-11-23</BusinessDayDate><RetailTransaction>`
	txClose = `</RetailTransaction></Transaction></POSLog>`
)

func saleItem(i int, amount string) string {
	return fmt.Sprintf(`<LineItem><SequenceNumber>%d</SequenceNumber><Sale><ItemID>SKU%d</ItemID><RegularSalesUnitPrice>1.00</RegularSalesUnitPrice><ExtendedAmount>%s</ExtendedAmount><Quantity>1</Quantity></Sale></LineItem>`, i, i, amount)
}

func TestHostileFiles(t *testing.T) {
	small, err := os.ReadFile(filepath.Join(samplesDir, "ncr-acs-2.1-small.xml"))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	tiny := func(l Limits) Limits { return l }
	tests := []struct {
		name  string
		input string
		lim   func(Limits) Limits
		want  error
		path  string // substring of ParseError.Path
	}{
		{"external entity", `<?xml version="1.0"?><!DOCTYPE POSLog [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><POSLog>&xxe;</POSLog>`, tiny, ErrExternalEntity, ""},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><POSLog>&lol2;</POSLog>`, tiny, ErrExternalEntity, ""},
		{"doctype without entities", `<!DOCTYPE POSLog SYSTEM "poslog.dtd"><POSLog/>`, tiny, ErrExternalEntity, ""},
		{"directive inside", `<POSLog><!ENTITY x "y"></POSLog>`, tiny, ErrExternalEntity, "POSLog"},
		{"undeclared entity", `<POSLog><Transaction>&lol;</Transaction></POSLog>`, tiny, ErrSyntax, "POSLog/Transaction[1]"},
		{"depth bomb", `<POSLog>` + strings.Repeat(`<a>`, 10000) + strings.Repeat(`</a>`, 10000) + `</POSLog>`, tiny, ErrTooDeep, "POSLog/a/a/a"},
		{"depth bomb in vendor extension", `<POSLog xmlns:v="urn:v"><v:x>` + strings.Repeat(`<v:a>`, 100) + strings.Repeat(`</v:a>`, 100) + `</v:x></POSLog>`, tiny, ErrTooDeep, "POSLog/x/a"},
		{"invalid UTF-8", "<POSLog><Transaction><RetailStoreID>\xff\xfe</RetailStoreID></Transaction></POSLog>", tiny, ErrNotUTF8, ""},
		{"overlong UTF-8", "<POSLog>\xc0\xaf</POSLog>", tiny, ErrNotUTF8, ""},
		{"UTF-8 cut at end", "<POSLog></POSLog>\xe2\x82", tiny, ErrNotUTF8, ""},
		{"UTF-16", "\xff\xfe<\x00P\x00", tiny, ErrNotUTF8, ""},
		{"Latin-1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?><POSLog/>`, tiny, ErrNotUTF8, ""},
		{"empty", ``, tiny, ErrTruncated, ""},
		{"whitespace only", " \n", tiny, ErrTruncated, ""},
		{"truncated sample", string(small[:len(small)/2]), tiny, ErrTruncated, "POSLog/Transaction[2]/RetailTransaction/LineItem"},
		{"truncated after root opens", `<POSLog>`, tiny, ErrTruncated, "POSLog"},
		{"too large", txOpen + strings.Repeat(" ", 200) + txClose, func(l Limits) Limits { l.MaxBytes = 200; return l }, ErrTooLarge, ""},
		{"too large inside a character", `<POSLog>é</POSLog>`, func(l Limits) Limits { l.MaxBytes = 9; return l }, ErrTooLarge, ""},
		{"too many transactions", `<POSLog>` + strings.Repeat(`<Transaction><SequenceNumber>1</SequenceNumber></Transaction>`, 3) + `</POSLog>`,
			func(l Limits) Limits { l.MaxTransactions = 2; return l }, ErrTooManyItems, "POSLog/Transaction[3]"},
		{"too many line items", txOpen + saleItem(1, "1.00") + saleItem(2, "1.00") + saleItem(3, "1.00") + txClose,
			func(l Limits) Limits { l.MaxLineItems = 2; return l }, ErrTooManyItems, "POSLog/Transaction[1]/RetailTransaction/LineItem[3]"},
		{"too many tokens", `<POSLog>` + strings.Repeat(`<x/>`, 100) + `</POSLog>`, func(l Limits) Limits { l.MaxTokens = 50; return l }, ErrTooManyItems, "POSLog"},
		{"second root", `<POSLog></POSLog><POSLog></POSLog>`, tiny, ErrSyntax, ""},
		{"text outside root", `<POSLog></POSLog>junk`, tiny, ErrSyntax, ""},
		{"mismatched tags", `<POSLog><Transaction></POSLog>`, tiny, ErrSyntax, "POSLog/Transaction[1]"},
		{"unknown root", `<Invoice/>`, tiny, ErrUnknownFormat, ""},
		{"bill version 2", `<Bill version="2"/>`, tiny, ErrUnknownFormat, "Bill"},
		{"amount with too many digits", txOpen + saleItem(1, "1.00") + saleItem(2, "1.005") + txClose, tiny, ErrAmount,
			"POSLog/Transaction[1]/RetailTransaction/LineItem[2]/Sale/ExtendedAmount"},
		{"amount with a comma", txOpen + saleItem(1, "1,234.50") + txClose, tiny, ErrAmount, "LineItem[1]/Sale/ExtendedAmount"},
		{"amount as float", txOpen + saleItem(1, "1e2") + txClose, tiny, ErrAmount, "LineItem[1]/Sale/ExtendedAmount"},
		{"yen amount with cents", txOpen + saleItem(1, "100.50") + txClose, func(l Limits) Limits { l.MinorDigits = 0; return l }, ErrAmount, "ExtendedAmount"},
		{"missing extended amount", txOpen + `<LineItem><Sale><ItemID>A</ItemID></Sale></LineItem>` + txClose, tiny, ErrInvalid, "LineItem[1]/Sale"},
		{"bad flag", `<POSLog><Transaction TrainingModeFlag="yes"><SequenceNumber>1</SequenceNumber></Transaction></POSLog>`, tiny, ErrInvalid, "POSLog/Transaction[1]"},
		{"bad business day", `<POSLog><Transaction><BusinessDayDate>23/11/2026</BusinessDayDate></Transaction></POSLog>`, tiny, ErrInvalid, "Transaction[1]/BusinessDayDate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, strings.NewReader(tt.input), tt.lim(DefaultLimits()), tt.want, tt.path)
		})
	}
}

func checkParseError(t *testing.T, r io.Reader, lim Limits, want error, path string) {
	t.Helper()
	file, err := Parse(r, lim)
	if err == nil {
		t.Fatalf("Parse succeeded with %d transactions, want %v", len(file.Transactions), want)
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q, want %v", err, want)
	}
	if !strings.Contains(pe.Path, path) {
		t.Errorf("path %q, want it to contain %q (error %q)", pe.Path, path, err)
	}
	if !strings.HasPrefix(err.Error(), "poslog: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestBillErrors(t *testing.T) {
	const (
		inv  = `<Invoice store="S1" terminal="T1" number="1" businessDay="2026-11-23" type="sale"/>`
		item = `<Item line="1" sku="A" qty="1" unitPrice="1.00" amount="1.00"/>`
	)
	bill := func(inner string) string { return `<Bill version="1">` + inner + `</Bill>` }
	tests := []struct {
		name, input string
		want        error
		path        string
	}{
		{"no invoice", bill(`<Items>` + item + `</Items>`), ErrInvalid, "Bill"},
		{"no items", bill(inv), ErrInvalid, "Bill"},
		{"unknown element", bill(inv + `<Items>` + item + `</Items><Notes/>`), ErrInvalid, "Bill/Notes"},
		{"unknown attribute", bill(inv + `<Items><Item line="1" sku="A" qyt="1" unitPrice="1.00" amount="1.00"/></Items>`), ErrInvalid, "Bill/Items/Item[1]"},
		{"qty and weight", bill(inv + `<Items><Item line="1" sku="A" qty="1" weight="0.5" unitPrice="1.00" amount="1.00"/></Items>`), ErrInvalid, "Item[1]"},
		{"weight too fine", bill(inv + `<Items><Item line="1" sku="A" weight="0.0005" unitPrice="1.00" amount="1.00"/></Items>`), ErrAmount, "Item[1]"},
		{"fractional qty", bill(inv + `<Items><Item line="1" sku="A" qty="1.5" unitPrice="1.00" amount="1.00"/></Items>`), ErrAmount, "Item[1]"},
		{"negative amount", bill(inv + `<Items><Item line="1" sku="A" qty="1" unitPrice="1.00" amount="-1.00"/></Items>`), ErrAmount, "Item[1]"},
		{"duplicate line", bill(inv + `<Items>` + item + item + `</Items>`), ErrInvalid, "Item[2]"},
		{"points without count", bill(inv + `<Items>` + item + `</Items><Payments><Payment type="points" amount="1.00"/></Payments>`), ErrInvalid, "Payment[1]"},
		{"points on cash", bill(inv + `<Items>` + item + `</Items><Payments><Payment type="cash" amount="1.00" points="4"/></Payments>`), ErrInvalid, "Payment[1]"},
		{"return without original", bill(`<Invoice store="S1" terminal="T1" number="1" businessDay="2026-11-23" type="return"/><Items>` + item + `</Items>`), ErrInvalid, "Invoice"},
		{"bad type", bill(`<Invoice store="S1" terminal="T1" number="1" businessDay="2026-11-23" type="refund"/><Items>` + item + `</Items>`), ErrInvalid, "Invoice"},
		{"two invoices", bill(inv + inv), ErrInvalid, "Invoice[2]"},
		{"text content", bill(inv + `<Items>` + item + `hello</Items>`), ErrInvalid, "Items"},
		{"foreign element", `<Bill version="1" xmlns:v="urn:v">` + inv + `<v:x/></Bill>`, ErrInvalid, "Bill/x"},
		{"bad time", bill(`<Invoice store="S1" terminal="T1" number="1" businessDay="2026-11-23" type="sale" time="10:15"/><Items>` + item + `</Items>`), ErrInvalid, "Invoice"},
		{"too many items", bill(inv + `<Items>` + strings.Repeat(item, 3) + `</Items>`), ErrTooManyItems, "Item[3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := DefaultLimits()
			lim.MaxLineItems = 2
			checkParseError(t, strings.NewReader(tt.input), lim, tt.want, tt.path)
		})
	}
}

// TestEncodingEdges: a UTF-8 byte order mark is accepted, and multi-byte
// characters split across reads are not mistaken for invalid UTF-8.
func TestEncodingEdges(t *testing.T) {
	const doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?>" + txOpen +
		`<LineItem><Sale><ItemID>A</ItemID><Description>Café crème ☕ 𝄞</Description><ExtendedAmount>1.00</ExtendedAmount></Sale></LineItem>` + txClose
	for _, tt := range []struct {
		name string
		r    io.Reader
	}{
		{"plain", strings.NewReader(doc)},
		{"BOM", strings.NewReader("\xef\xbb\xbf" + doc)},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(doc))},
		{"half reads", iotest.HalfReader(strings.NewReader(doc))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file, err := Parse(tt.r, DefaultLimits())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := file.Transactions[0].Lines[0].Description; got != "Café crème ☕ 𝄞" {
				t.Errorf("description = %q", got)
			}
		})
	}
}

// millionItems streams a transaction of a million line items without
// holding it, and samples the heap as the parser pulls from it.
type millionItems struct {
	parts    int // parts produced so far: header, items, footer
	items    int
	buf      bytes.Buffer
	read     int64
	nextPeek int64
	baseline uint64
	peak     uint64
}

func (m *millionItems) Read(p []byte) (int, error) {
	for m.buf.Len() < len(p) && m.parts <= m.items+1 {
		switch {
		case m.parts == 0:
			m.buf.WriteString(txOpen)
		case m.parts <= m.items:
			m.buf.WriteString(saleItem(m.parts, "1.00"))
		default:
			m.buf.WriteString(txClose)
		}
		m.parts++
	}
	if m.read >= m.nextPeek {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.peak = max(m.peak, ms.HeapAlloc)
		m.nextPeek += 256 << 10
	}
	n, err := m.buf.Read(p)
	m.read += int64(n)
	return n, err
}

func TestMillionLineItems(t *testing.T) {
	if testing.Short() {
		t.Skip("streams ~1.5 MB before the limit trips")
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	src := &millionItems{items: 1_000_001, baseline: ms.HeapAlloc}
	checkParseError(t, src, DefaultLimits(), ErrTooManyItems, "POSLog/Transaction[1]/RetailTransaction/LineItem[10001]")
	// The error comes once the limit is crossed, not at the end of the
	// stream (about 190 MB).
	if limit := int64(4 << 20); src.read > limit {
		t.Errorf("read %d bytes before refusing, want at most %d", src.read, limit)
	}
	grew := int64(src.peak) - int64(src.baseline)
	t.Logf("read %d bytes, heap grew by at most %d bytes", src.read, grew)
	if limit := int64(16 << 20); grew > limit {
		t.Errorf("heap grew by %d bytes, want at most %d", grew, limit)
	}
}

// TestReaderError: a failing reader is reported as such, not blamed on the
// file.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("<POSLog><Transaction>"), iotest.ErrReader(boom))
	_, err := Parse(r, DefaultLimits())
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, boom) || pe.Path != "POSLog/Transaction[1]" {
		t.Errorf("error %v, want a *ParseError at POSLog/Transaction[1] wrapping %v", err, boom)
	}
	if _, err := Parse(strings.NewReader("<POSLog/>"), Limits{MaxDepth: -1, MinorDigits: 9}); err == nil ||
		!strings.Contains(err.Error(), "MaxDepth") || !strings.Contains(err.Error(), "MinorDigits") {
		t.Errorf("invalid limits: error %v, want both fields named", err)
	}
}
