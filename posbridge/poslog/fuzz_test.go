package poslog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var sentinels = []error{ErrTooLarge, ErrTooDeep, ErrTooManyItems, ErrExternalEntity, ErrNotUTF8,
	ErrUnknownFormat, ErrAmount, ErrTruncated, ErrSyntax, ErrInvalid}

// FuzzParse: whatever the bytes, Parse returns either a file or a
// *ParseError wrapping a sentinel, never panics, and gives the same answer
// however the input is split into reads. The committed corpus in
// testdata/fuzz/FuzzParse holds the testdata files and hostile snippets.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lim := DefaultLimits()
	lim.MaxBytes = 1 << 20 // keep each run quick
	lim.MaxLineItems = 100
	lim.MaxTokens = 100_000
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(bytes.NewReader(data), lim)
		again, errAgain := Parse(iotest.OneByteReader(bytes.NewReader(data)), lim)
		// Errors found by the reader (size, UTF-8) are placed where the
		// decoder was, which depends on read sizes; the sentinel must not.
		if (err == nil) != (errAgain == nil) || sentinelOf(err) != sentinelOf(errAgain) {
			t.Fatalf("whole read: %v; byte by byte: %v", err, errAgain)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "poslog: ") {
				t.Fatalf("error %q (%T) is not a *ParseError", err, err)
			}
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		if file.Format != FormatPOSLog && file.Format != FormatBill {
			t.Fatalf("format %q", file.Format)
		}
		if !reflect.DeepEqual(file, again) {
			t.Fatalf("whole read and byte-by-byte read differ:\n%+v\n%+v", file, again)
		}
		for _, tx := range file.Transactions {
			for _, l := range tx.Lines {
				if l.Qty != 0 && l.QtyMilli != 0 {
					t.Fatalf("%s line %d has both qty %d and qty_milli %d", tx.ID, l.Line, l.Qty, l.QtyMilli)
				}
			}
		}
	})
}

func sentinelOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}
