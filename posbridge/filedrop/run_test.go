package filedrop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStillBeingWritten: a file whose size keeps changing is not read;
// once it has been still for StableFor it is.
func TestStillBeingWritten(t *testing.T) {
	r := newRig(t, "S001", "off")
	ctx := context.Background()
	w := &watch{seen: map[string]sighting{}}
	data, err := os.ReadFile(filepath.Join(poslogTestdata, "arts-vendor.xml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.cfg.Inbox, "slow.xml")
	half := len(data) / 2
	if err := os.WriteFile(path, data[:half], 0o600); err != nil {
		t.Fatal(err)
	}
	r.clock.t = time.Now()
	pollNothing := func(step string) {
		t.Helper()
		if err := r.bridge.poll(ctx, w); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: the half-written file was taken: %v", step, err)
		}
	}
	pollNothing("first sight")
	r.clock.Advance(500 * time.Millisecond)
	pollNothing("still young")

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[half:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r.clock.Advance(800 * time.Millisecond) // 1.3 s since first sight, but it grew
	pollNothing("grew")
	r.clock.Advance(1100 * time.Millisecond)
	if err := r.bridge.poll(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.Inbox, ProcessedDir, "slow.xml")); err != nil {
		t.Fatalf("the finished file was not processed: %v", err)
	}
	if got := r.counter(t, "patron_node_sales_total"); got != 1 {
		t.Errorf("sales = %v, want 1", got)
	}
}

// TestRun drops files (renamed in, so read at first sight) while Run
// polls, and stops it with its context.
func TestRun(t *testing.T) {
	r := newRig(t, "S001", "off")
	r.clock.t = time.Now().Add(time.Hour) // every file's mtime is old: renamed in
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.bridge.Run(ctx) }()

	r.drop(t, filepath.Join(poslogTestdata, "arts-vendor.xml"), "a.xml")
	r.dropBytes(t, []byte("<POSLog><Transaction>"), "b.xml")
	if err := os.WriteFile(filepath.Join(r.cfg.Inbox, "c.xml.part"), []byte("<POS"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errA := os.Stat(filepath.Join(r.cfg.Inbox, ProcessedDir, "a.xml"))
		_, errB := os.Stat(filepath.Join(r.cfg.Inbox, FailedDir, "b.xml.error"))
		if errA == nil && errB == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("files not processed in time: %v, %v", errA, errB)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if _, err := os.Stat(filepath.Join(r.cfg.Inbox, "c.xml.part")); err != nil {
		t.Errorf("a .part file was touched: %v", err)
	}
}

// TestHostileFiles: each ends in failed/ with a .error naming the problem,
// and nothing is applied.
func TestHostileFiles(t *testing.T) {
	r := newRig(t, "S001", "off")
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	const ns = `<POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/">`
	sale := anonSale("S001", "1")
	many := func(items int) []byte {
		var b bytes.Buffer
		b.WriteString(head + ns + `<Transaction><RetailStoreID>S001</RetailStoreID><WorkstationID>T01</WorkstationID>` +
			`<SequenceNumber>9</SequenceNumber><BusinessDayDate>2026-11-23</BusinessDayDate><RetailTransaction>`)
		for i := 1; i <= items; i++ {
			fmt.Fprintf(&b, `<LineItem><Sale><ItemID>X</ItemID><ExtendedAmount>1.00</ExtendedAmount></Sale></LineItem>`)
		}
		b.WriteString(`</RetailTransaction></Transaction></POSLog>`)
		return b.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"entities.xml", []byte(head + `<!DOCTYPE POSLog [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + ns + sale + `</POSLog>`), "DOCTYPE"},
		{"latin1.xml", []byte(head + ns + strings.Replace(sale, "PEN", "P\xe9N", 1) + `</POSLog>`), "UTF-8"},
		{"truncated.xml", []byte(head + ns + sale[:len(sale)/2]), "truncated"},
		{"deep.xml", []byte(head + ns + strings.Repeat("<a:x xmlns:a='urn:v'>", 100) + strings.Repeat("</a:x>", 100) + `</POSLog>`), "nested"},
		{"items.xml", many(10_001), "too many items"},
		{"huge.xml", append([]byte(head+ns+sale+"<!--"), append(bytes.Repeat([]byte("x"), 33<<20), []byte("--></POSLog>")...)...), "too large"},
		{"notxml.xml", []byte("hello, till"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := r.process(t, r.dropBytes(t, tt.data, tt.name))
			wantOutcome(t, rep, OutcomeFailed)
			got := readFile(t, rep.MovedTo+ErrorSuffix)
			if !strings.Contains(got, tt.want) || !strings.HasPrefix(got, tt.name+": poslog: ") {
				t.Errorf(".error = %q, want it to name %q", got, tt.want)
			}
			t.Logf(".error: %s", strings.TrimSpace(got))
		})
	}
	if got := r.counter(t, "patron_node_sales_total"); got != 0 {
		t.Errorf("sales = %v, want 0", got)
	}
	if got := r.counter(t, "patron_filedrop_files_total", "outcome", OutcomeFailed); got != float64(len(tests)) {
		t.Errorf("failed files = %v, want %d", got, len(tests))
	}
}
