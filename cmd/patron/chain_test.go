package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// TestChainOfProcesses runs a chain as real processes — three patron hq
// and three patron store on loopback — and drives it only through its
// command line, its admin HTTP and real tills: a store with no programme
// answers unavailable; a programme loaded at HQ by the CLI reaches both
// stores; an earn at store A shows at store B; a store with a wrong key
// is refused and both sides say so in /status; a fourth HQ node joins
// and leaves by the CLI.
func TestChainOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs six real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildPatron(t)
	dir := t.TempDir()
	started := time.Now()

	runOK(t, bin, "hq", "certs", "--out", filepath.Join(dir, "certs"), "--nodes", "HQ1,HQ2,HQ3")
	keys := map[string]string{"S001": randomHex(t, 32), "S002": randomHex(t, 32), "S003": randomHex(t, 32)}
	writeFile(t, filepath.Join(dir, "store-keys"), fmt.Sprintf("# test chain\nS001=%s\nS002=%s\nS003=%s\n",
		keys["S001"], keys["S002"], keys["S003"]))
	const adminToken = "chain-test-admin-token"
	writeFile(t, filepath.Join(dir, "admin-token"), adminToken+"\n")

	hqs, syncAddrs := startHQCluster(ctx, t, bin, dir)
	var adminURLs []string
	for _, h := range hqs {
		adminURLs = append(adminURLs, h.admin)
	}
	admins := strings.Join(adminURLs, ",")
	for _, h := range hqs {
		waitHTTP(ctx, t, h.admin+"/readyz", http.StatusOK)
	}
	t.Logf("HQ leader elected after %v", time.Since(started).Round(time.Millisecond))

	// Two stores before any programme, and one whose key is wrong.
	storeA := startStore(ctx, t, bin, dir, "S001", keys["S001"], syncAddrs)
	storeB := startStore(ctx, t, bin, dir, "S002", keys["S002"], syncAddrs)
	storeX := startStore(ctx, t, bin, dir, "S003", randomHex(t, 32), syncAddrs)

	tillA := dialTill(ctx, t, storeA)
	tillB := dialTill(ctx, t, storeB)
	var rpcErr *posbridge.RPCError
	err := tillA.Call(ctx, "member.identify", map[string]any{"identifier": map[string]any{"mobile": "+919811111111"}}, nil)
	if !errors.As(err, &rpcErr) || rpcErr.Reason() != "unavailable" || !strings.Contains(rpcErr.Message, "programme") {
		t.Fatalf("identify before any programme: %v, want unavailable naming the programme", err)
	}
	waitHTTP(ctx, t, storeA.admin+"/readyz", http.StatusServiceUnavailable)

	// The programme loaded at HQ by the CLI reaches both stores.
	progFile := filepath.Join(dir, "programme.json")
	writeFile(t, progFile, string(demoProgramme))
	if _, err := runErr(bin, "hq", "programme", "load", "--admin", admins, "--token", "wrong", progFile); err == nil ||
		!strings.Contains(err.Error(), "wrong admin token") {
		t.Errorf("programme load with a wrong token: %v", err)
	}
	loadAt := time.Now()
	out := runOK(t, bin, "hq", "programme", "load", "--admin", admins, "--token-file", filepath.Join(dir, "admin-token"), progFile)
	if !strings.Contains(out, `"version": "demo-2026.1"`) {
		t.Errorf("programme load answered %s", out)
	}
	for _, s := range []*storeProcess{storeA, storeB} {
		waitStatus(ctx, t, s.admin, "programme demo-2026.1", func(st map[string]any) bool { return st["programme"] == "demo-2026.1" })
	}
	t.Logf("programme at both stores %v after the load", time.Since(loadAt).Round(time.Millisecond))

	// Earn at A, seen at B.
	const mobile = "+919822222222"
	if err := tillA.Call(ctx, "member.enroll", map[string]any{"mobile": mobile, "first_name": "Chain",
		"consents": map[string]any{"programme_terms": true}}, nil); err != nil {
		t.Fatal(err)
	}
	var sale struct {
		Points struct{ Balance int64 } `json:"points"`
	}
	if err := tillA.Call(ctx, "sale.complete", saleParams("CH-1", mobile), &sale); err != nil {
		t.Fatal(err)
	}
	var atA struct {
		Points struct{ Balance int64 } `json:"points"`
	}
	if err := tillA.Call(ctx, "member.identify", map[string]any{"identifier": map[string]any{"mobile": mobile}}, &atA); err != nil {
		t.Fatal(err)
	}
	if atA.Points.Balance <= 0 {
		t.Fatalf("balance at A after the sale: %d", atA.Points.Balance)
	}
	earnAt := time.Now()
	pollUntil(ctx, t, "the earn at store B", func() bool {
		var m struct {
			Points struct{ Balance int64 } `json:"points"`
		}
		err := tillB.Call(ctx, "member.identify", map[string]any{"identifier": map[string]any{"mobile": mobile}}, &m)
		return err == nil && m.Points.Balance == atA.Points.Balance
	})
	t.Logf("earn at S001 visible at S002 after %v (balance %d)", time.Since(earnAt).Round(time.Millisecond), atA.Points.Balance)

	// A second programme version loaded at HQ reaches both stores too,
	// padded to 300 KiB: its event crosses store sync in chunks.
	var doc map[string]any
	if err := json.Unmarshal(demoProgramme, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = "demo-2026.2"
	v2, _ := json.Marshal(doc)
	v2 = append(v2, strings.Repeat(" ", 300<<10-len(v2))...)
	writeFile(t, progFile, string(v2))
	runOK(t, bin, "hq", "programme", "load", "--admin", admins, "--token", adminToken, progFile)
	for _, s := range []*storeProcess{storeA, storeB} {
		waitStatus(ctx, t, s.admin, "programme demo-2026.2", func(st map[string]any) bool { return st["programme"] == "demo-2026.2" })
	}

	// The store with the wrong key is refused: its status says HQ is
	// offline, and HQ counts the refusals.
	pollUntil(ctx, t, "HQ counting the wrong key's refusals", func() bool {
		var refused float64
		for _, h := range hqs {
			st := getStatus(ctx, t, h.admin)
			refused += st["listener"].(map[string]any)["refused"].(float64)
		}
		return refused > 0
	})
	st := getStatus(ctx, t, storeX.admin)
	if st["hq_reachable"] != false || st["hq"].(map[string]any)["connected"] != false || st["programme"] != "" {
		t.Errorf("store with a wrong key: status %v", st)
	}
	// HQ's leader lists A and B online; S003 never came online.
	pollUntil(ctx, t, "the leader listing both stores online", func() bool {
		for _, h := range hqs {
			st := getStatus(ctx, t, h.admin)
			if st["raft"].(map[string]any)["state"] != "Leader" {
				continue
			}
			online := map[string]bool{}
			for _, s := range st["stores"].([]any) {
				s := s.(map[string]any)
				online[s["store"].(string)] = s["online"].(bool)
			}
			return online["S001"] && online["S002"] && !online["S003"]
		}
		return false
	})
	out = runOK(t, bin, "hq", "overdrafts", "--admin", admins)
	if !strings.Contains(out, `"count": 0`) {
		t.Errorf("overdrafts: %s", out)
	}

	// HQ4 joins by the CLI (its certificate from the same CA), catches
	// up with the log (programmes included) and is removed again.
	runOK(t, bin, "hq", "certs", "--out", filepath.Join(dir, "certs"), "--nodes", "HQ4")
	raft4, err := freePort(false)
	if err != nil {
		t.Fatal(err)
	}
	hq4 := startChild(t, "HQ4", bin, "hq", "--id", "HQ4", "--data", filepath.Join(dir, "HQ4"),
		"--raft-listen", raft4, "--sync-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--store-keys", filepath.Join(dir, "store-keys"), "--tls-dir", filepath.Join(dir, "certs"),
		"--raft-heartbeat", "300ms")
	rest, err := hq4.waitLine(ctx, "admin listening on ")
	if err != nil {
		t.Fatal(err)
	}
	admin4, _, _ := strings.Cut(rest, " ")
	token := "--token=" + adminToken
	runOK(t, bin, "hq", "join", "--admin", admins, token, "--id", "HQ4", "--raft-addr", raft4)
	waitStatus(ctx, t, admin4, "HQ4 caught up", func(st map[string]any) bool {
		return st["programme"] == "demo-2026.2" && len(st["servers"].([]any)) == 4
	})
	runOK(t, bin, "hq", "remove", "--admin", admins, token, "--id", "HQ4")
	waitStatus(ctx, t, hqs[0].admin, "HQ4 removed", func(st map[string]any) bool { return len(st["servers"].([]any)) == 3 })
	t.Logf("chain test body took %v", time.Since(started).Round(time.Millisecond))
}

// TestConfigFileErrorsNameTheKey: a typo in a --config file stops patron
// hq and patron store with the key and its line.
func TestConfigFileErrorsNameTheKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real binary")
	}
	bin := buildPatron(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "store.yaml")
	writeFile(t, cfg, "store: S001\ndata: "+dir+"\nhq-adress: 127.0.0.1:1\n")
	_, err := runErr(bin, "store", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown key "hq-adress"`) {
		t.Errorf("patron store with a typo: %v", err)
	}
	writeFile(t, cfg, "id: HQ1\nstore-key: [S001=00]\n")
	_, err = runErr(bin, "hq", "--config", cfg, "--data", dir)
	for _, want := range []string{"--store-key S001: 1 bytes", "--raft-listen is required", "Raft needs TLS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("patron hq with bad config: %v, want it to say %q", err, want)
		}
	}
}

type hqProcess struct {
	*childProcess
	admin string
}

type storeProcess struct {
	*childProcess
	admin, url, token string
}

// childProcess is a patron process whose stdout lines are collected.
type childProcess struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex // guards lines
	lines []string
	done  chan struct{} // closed when the process has exited
	err   error         // its exit, once done is closed
	logs  lockedWriter  // its stderr
}

// startChild starts bin with args, SIGTERMs it at cleanup and checks that
// it exits cleanly.
func startChild(t *testing.T, name, bin string, args ...string) *childProcess {
	t.Helper()
	p := &childProcess{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop on SIGTERM", name)
		}
		if p.err != nil {
			t.Errorf("%s exited: %v", name, p.err)
		}
		if p.err != nil || t.Failed() {
			t.Logf("%s log:\n%s", name, tail(p.logs.String(), 40))
		}
	})
	return p
}

// waitLine waits for a stdout line with prefix and returns the rest.
func (p *childProcess) waitLine(ctx context.Context, prefix string) (string, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				p.mu.Unlock()
				return rest, nil
			}
		}
		p.mu.Unlock()
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited before printing %q: %v", p.name, prefix, p.err)
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not print %q", p.name, prefix)
		case <-t.C:
		}
	}
}

// startHQCluster starts HQ1..HQ3 on free loopback ports. Raft's bootstrap
// needs the ports before the processes listen, so they are picked by
// listening on :0 and closing; if another process takes one meanwhile,
// the nodes are started again on new ports.
func startHQCluster(ctx context.Context, t *testing.T, bin, dir string) ([]*hqProcess, []string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		hqs, syncs, err := tryHQCluster(ctx, t, bin, dir, attempt)
		if err == nil {
			return hqs, syncs
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("HQ ports taken (%v); trying new ones", err)
	}
}

func tryHQCluster(ctx context.Context, t *testing.T, bin, dir string, attempt int) ([]*hqProcess, []string, error) {
	raft := make([]string, 3)
	syncs := make([]string, 3)
	var bootstrap []string
	for i := range 3 {
		var err error
		if raft[i], err = freePort(false); err != nil {
			t.Fatal(err)
		}
		if syncs[i], err = freePort(true); err != nil {
			t.Fatal(err)
		}
		bootstrap = append(bootstrap, fmt.Sprintf("HQ%d=%s", i+1, raft[i]))
	}
	var hqs []*hqProcess
	for i := range 3 {
		id := fmt.Sprintf("HQ%d", i+1)
		p := startChild(t, id, bin, "hq", "--id", id, "--data", filepath.Join(dir, fmt.Sprintf("try%d", attempt), id),
			"--raft-listen", raft[i], "--sync-listen", syncs[i], "--admin-listen", "127.0.0.1:0",
			"--bootstrap", strings.Join(bootstrap, ","), "--store-keys", filepath.Join(dir, "store-keys"),
			"--tls-dir", filepath.Join(dir, "certs"), "--admin-token-file", filepath.Join(dir, "admin-token"),
			"--raft-heartbeat", "300ms", "--handshake-timeout", "2s", "--flight-interval", "100ms")
		hqs = append(hqs, &hqProcess{childProcess: p})
	}
	for _, h := range hqs {
		rest, err := h.waitLine(ctx, "admin listening on ")
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s", err, tail(h.logs.String(), 3))
		}
		h.admin, _, _ = strings.Cut(rest, " ")
	}
	return hqs, syncs, nil
}

func startStore(ctx context.Context, t *testing.T, bin, dir, id, key string, hq []string) *storeProcess {
	t.Helper()
	token := "till-token-" + id
	p := startChild(t, id, bin, "store", "--store", id, "--data", filepath.Join(dir, id),
		"--hq", strings.Join(hq, ","), "--key", key,
		"--pos-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--terminal", "T01="+token,
		"--handshake-timeout", "2s", "--flight-interval", "100ms")
	s := &storeProcess{childProcess: p, token: token}
	var err error
	if s.url, err = p.waitLine(ctx, "pos listening on "); err != nil {
		t.Fatal(err)
	}
	rest, err := p.waitLine(ctx, "admin listening on ")
	if err != nil {
		t.Fatal(err)
	}
	s.admin, _, _ = strings.Cut(rest, " ")
	return s
}

func dialTill(ctx context.Context, t *testing.T, s *storeProcess) *posbridge.Client {
	t.Helper()
	c, err := posbridge.Dial(ctx, s.url, s.token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitHTTP(ctx context.Context, t *testing.T, url string, want int) {
	t.Helper()
	pollUntil(ctx, t, fmt.Sprintf("%s answering %d", url, want), func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == want
	})
}

func getStatus(ctx context.Context, t *testing.T, admin string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func waitStatus(ctx context.Context, t *testing.T, admin, what string, ok func(map[string]any) bool) {
	t.Helper()
	pollUntil(ctx, t, what+" at "+admin, func() bool { return ok(getStatus(ctx, t, admin)) })
}

// pollUntil polls cond every 20 ms until it holds or ctx ends.
func pollUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// run runs a short patron command and returns its stdout.
func runOK(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := runErr(bin, args...)
	if err != nil {
		t.Fatalf("patron %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func runErr(bin string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// lockedWriter collects a child's stderr; it may be read while written.
type lockedWriter struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
