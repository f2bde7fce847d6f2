package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patron/patron/posbridge"
)

// TestCrashKeepsAcknowledgedSales kills a real patron dev process with
// SIGKILL while tills stream concurrent sales, restarts it on the same data
// directory and checks that every acknowledged sale is there exactly once,
// that a retry of it returns the original receipt, and that balances equal
// the sum of their ledger entries.
func TestCrashKeepsAcknowledgedSales(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin := buildPatron(t)
	data := t.TempDir()
	const (
		tills  = 8
		rounds = 3
		token  = "crash-token"
	)
	acked := map[string]ackedSale{} // receipt_no → what the till was told
	for round := 0; round < rounds; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		p := startPatron(ctx, t, bin, data, token)
		if round == 0 {
			enrolMembers(ctx, t, p.url, token, tills)
		}
		got := streamSalesUntilKill(ctx, t, p, token, tills, round)
		for k, v := range got {
			acked[k] = v
		}
		cancel()
	}
	if len(acked) < 50 {
		t.Fatalf("only %d sales were acknowledged before the kills; the test proves little", len(acked))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPatron(ctx, t, bin, data, token)
	defer p.stop(t)
	c, err := posbridge.Dial(ctx, p.url, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	earnRefs := map[string]int{}
	for i := 0; i < tills; i++ {
		entries := fullLedger(ctx, t, c, memberMobile(i))
		var sum int64
		for _, e := range entries {
			sum += e.Points
			if e.Kind == "earn" {
				earnRefs[e.Ref]++
			}
		}
		var m struct {
			Points struct{ Balance int64 } `json:"points"`
		}
		if err := c.Call(ctx, "member.identify", map[string]any{"identifier": map[string]any{"mobile": memberMobile(i)}}, &m); err != nil {
			t.Fatal(err)
		}
		if m.Points.Balance != sum {
			t.Errorf("member %d: balance %d, sum of ledger entries %d", i, m.Points.Balance, sum)
		}
	}
	for ref, n := range earnRefs {
		if n != 1 {
			t.Errorf("receipt %s earned %d times", ref, n)
		}
	}
	for _, sale := range acked {
		if earnRefs[sale.receiptID] != 1 {
			t.Errorf("acknowledged sale %s lost after crash (earn entries: %d)", sale.receiptID, earnRefs[sale.receiptID])
		}
	}
	// A retry of an acknowledged sale after the crash gets the original answer.
	checked := 0
	for no, sale := range acked {
		var again json.RawMessage
		if err := c.Call(ctx, "sale.complete", sale.params, &again); err != nil {
			t.Fatalf("retry of %s: %v", no, err)
		}
		if string(again) != string(sale.answer) {
			t.Errorf("retry of %s answered\n%s\nwant\n%s", no, again, sale.answer)
		}
		if checked++; checked == 20 {
			break
		}
	}
	t.Logf("%d acknowledged sales across %d SIGKILLs: none lost, none twice", len(acked), rounds)
}

type ackedSale struct {
	receiptID string
	params    map[string]any
	answer    json.RawMessage
}

type patronProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func buildPatron(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "patron")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startPatron(ctx context.Context, t *testing.T, bin, data, token string) *patronProcess {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "dev", "--data", data, "--pos-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--terminal", "T01="+token, "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &patronProcess{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "pos listening on "); ok {
				urls <- u
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-urls:
	case err := <-p.done:
		t.Fatalf("patron dev exited before listening: %v", err)
	case <-ctx.Done():
		t.Fatal("patron dev did not start listening")
	}
	return p
}

func (p *patronProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *patronProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Errorf("patron dev exit: %v", err)
	}
}

func memberMobile(i int) string { return fmt.Sprintf("+9198%08d", 10000000+i) }

func enrolMembers(ctx context.Context, t *testing.T, url, token string, n int) {
	t.Helper()
	c, err := posbridge.Dial(ctx, url, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		err := c.Call(ctx, "member.enroll", map[string]any{"mobile": memberMobile(i), "first_name": "Crash",
			"consents": map[string]any{"programme_terms": true}}, nil)
		if err != nil {
			t.Fatalf("enrol: %v", err)
		}
	}
}

// streamSalesUntilKill runs tills completing sales, kills the process once
// enough are acknowledged, and returns the acknowledged ones.
func streamSalesUntilKill(ctx context.Context, t *testing.T, p *patronProcess, token string, tills, round int) map[string]ackedSale {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]ackedSale{}
	var wg sync.WaitGroup
	for i := 0; i < tills; i++ {
		c, err := posbridge.Dial(ctx, p.url, token)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for k := 0; ; k++ {
				no := fmt.Sprintf("R%d-%d-%d", round, i, k)
				params := saleParams(no, memberMobile(i))
				var answer json.RawMessage
				if err := c.Call(ctx, "sale.complete", params, &answer); err != nil {
					var rpcErr *posbridge.RPCError
					if errors.As(err, &rpcErr) {
						t.Errorf("sale %s refused: %v", no, rpcErr)
					}
					return // the connection died with the process: outcome unknown
				}
				var r struct {
					ReceiptID string `json:"receipt_id"`
				}
				json.Unmarshal(answer, &r)
				mu.Lock()
				acked[no] = ackedSale{receiptID: r.ReceiptID, params: params, answer: answer}
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the till count, not waiting for state
	}
	p.kill(t)
	wg.Wait()
	return acked
}

type ledgerEntry struct {
	Kind   string `json:"kind"`
	Points int64  `json:"points"`
	Ref    string `json:"ref"`
}

func fullLedger(ctx context.Context, t *testing.T, c *posbridge.Client, member string) []ledgerEntry {
	t.Helper()
	var all []ledgerEntry
	cursor := ""
	for {
		var page struct {
			Entries []ledgerEntry `json:"entries"`
			Cursor  string        `json:"cursor"`
		}
		params := map[string]any{"member_id": member, "limit": 1000}
		if cursor != "" {
			params["cursor"] = cursor
		}
		if err := c.Call(ctx, "member.ledger", params, &page); err != nil {
			t.Fatalf("ledger: %v", err)
		}
		all = append(all, page.Entries...)
		if page.Cursor == "" || len(page.Entries) == 0 {
			return all
		}
		cursor = page.Cursor
	}
}
