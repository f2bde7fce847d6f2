package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
)

// devNode is a patron dev run in process by run(), as main would.
type devNode struct {
	url, admin, token string
	stderr            *lockedWriter
	cancel            context.CancelFunc
	done              chan error
	stopOnce          sync.Once
}

// startDev runs patron dev on data with args added, on loopback ports,
// and reads its banner. Cleanup stops it.
func startDev(t *testing.T, data string, args ...string) *devNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &devNode{stderr: &lockedWriter{}, cancel: cancel, done: make(chan error, 1)}
	all := append([]string{"dev", "--data", data, "--pos-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--log-level", "warn"}, args...)
	go func() {
		err := run(ctx, all, pw, d.stderr)
		pw.CloseWithError(io.EOF)
		d.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case strings.HasPrefix(sc.Text(), "pos listening on "):
			d.url = f[3]
		case strings.HasPrefix(sc.Text(), "admin listening on "):
			d.admin = f[3]
		case strings.HasPrefix(sc.Text(), "terminal T01 token "):
			d.token = f[3]
		}
		if strings.HasPrefix(sc.Text(), "terminal ") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if d.url == "" || d.admin == "" {
		cancel()
		t.Fatalf("patron dev did not start: %v\n%s", <-d.done, d.stderr.String())
	}
	t.Cleanup(d.stop)
	return d
}

// stop ends the node and waits for it (idempotent).
func (d *devNode) stop() {
	d.stopOnce.Do(func() {
		d.cancel()
		if err := <-d.done; err != nil {
			panic(fmt.Sprintf("patron dev: %v", err))
		}
	})
}

func TestDevServesTillsOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := t.TempDir()
	d := startDev(t, data, "--pos-tls-self-signed")
	if !strings.HasPrefix(d.url, "wss://") {
		t.Fatalf("till URL %s, want wss://", d.url)
	}
	roots, err := rootsFromFile(filepath.Join(data, "pos-tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := posbridge.Dial(ctx, d.url, d.token, posbridge.WithTLSConfig(&tls.Config{RootCAs: roots}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hello map[string]any
	if err := c.Call(ctx, "hello", nil, &hello); err != nil {
		t.Fatalf("hello over wss: %v", err)
	}
	if _, err := posbridge.Dial(ctx, d.url, d.token); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("dial without trusting the certificate: %v, want a certificate error", err)
	}
	if _, err := posbridge.Dial(ctx, strings.Replace(d.url, "wss://", "ws://", 1), d.token); err == nil {
		t.Error("a clear-text dial to the TLS listener succeeded")
	}
}

// TestCertReloaderServesReplacedPair: a new pair written over the files
// is served to the next connection; a broken one keeps the last good one.
func TestCertReloaderServesReplacedPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certA := writePair(t, certFile, keyFile, "a.example")
	r, err := newCertReloader(certFile, keyFile, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	r.every = 20 * time.Millisecond
	ln, err := listenPOS("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	defer srv.Close()
	reload := r.component()
	go reload.run()
	defer reload.stop(context.Background())

	roots := x509.NewCertPool()
	roots.AddCert(certA)
	if got := servedCert(t, ln.Addr().String(), "a.example", roots); !got.Equal(certA) {
		t.Fatal("first connection: not pair A's certificate")
	}
	certB := writePair(t, certFile, keyFile, "b.example")
	roots.AddCert(certB)
	pollFor(t, "pair B served", func() bool { return servedCert(t, ln.Addr().String(), "b.example", roots).Equal(certB) })

	writeFile(t, keyFile, "not a key")
	bump(t, keyFile)
	pollFor(t, "the broken pair noticed", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.loadErr != nil
	})
	if got := servedCert(t, ln.Addr().String(), "b.example", roots); !got.Equal(certB) {
		t.Error("after a broken pair: not pair B's certificate")
	}
}

// writePair writes a fresh self-signed pair for host and returns its
// certificate. Its modification time is moved on, so a reloader sees a
// change even within the file system's timestamp granularity.
func writePair(t *testing.T, certFile, keyFile, host string) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := makeSelfSigned([]string{host}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, string(keyPEM))
	writeFile(t, certFile, string(certPEM))
	bump(t, certFile)
	c, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

var bumps time.Duration

func bump(t *testing.T, path string) {
	t.Helper()
	bumps += time.Second
	at := time.Now().Add(bumps)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// servedCert handshakes with addr as host and returns the leaf served.
func servedCert(t *testing.T, addr, host string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: host})
	if err != nil {
		return &x509.Certificate{} // not the wanted one (yet)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackupWhileServingAndRestore takes hot backups from a serving node
// while tills complete sales, checks each is a consistent prefix (its
// state is the fold of its events, and every sale acknowledged before the
// backup began is in it), then restores one into the stopped node.
func TestBackupWhileServingAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data, out := t.TempDir(), t.TempDir()
	const token = "backup-test-admin-token"
	d := startDev(t, data, "--admin-token", token)
	const tills = 4
	enrolMembers(ctx, t, d.url, d.token, tills)

	var mu sync.Mutex
	acked := map[string]time.Time{} // receipt id → when acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tills {
		c, err := posbridge.Dial(ctx, d.url, d.token)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				var r struct {
					ReceiptID string `json:"receipt_id"`
				}
				if err := c.Call(ctx, "sale.complete", saleParams(fmt.Sprintf("B%d-%d", i, k), memberMobile(i)), &r); err != nil {
					t.Errorf("sale: %v", err)
					return
				}
				mu.Lock()
				acked[r.ReceiptID] = time.Now()
				mu.Unlock()
			}
		})
	}
	type backup struct {
		path  string
		begun time.Time
	}
	var backups []backup
	for i := range 3 {
		pollFor(t, "more sales", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20*(i+1) })
		b := backup{path: filepath.Join(out, fmt.Sprintf("b%d.db", i)), begun: time.Now()}
		if err := runQuiet(ctx, "backup", "--admin", d.admin, "--token", token, "--to", b.path); err != nil {
			t.Fatalf("hot backup: %v", err)
		}
		backups = append(backups, b)
	}
	close(stop)
	wg.Wait()

	for _, b := range backups {
		mu.Lock()
		var before []string
		for id, at := range acked {
			if at.Before(b.begun) {
				before = append(before, id)
			}
		}
		mu.Unlock()
		checkConsistentBackup(ctx, t, b.path, before)
	}

	if err := runQuiet(ctx, "restore", "--from", backups[0].path, "--data", data); err == nil || !strings.Contains(err.Error(), "is running") {
		t.Errorf("restore onto a running node: %v, want a refusal", err)
	}
	if err := runQuiet(ctx, "backup", "--data", data, "--to", filepath.Join(out, "cold.db")); !errors.Is(err, node.ErrLocked) {
		t.Errorf("cold backup of a running node: %v, want ErrLocked", err)
	}
	d.stop()
	if err := runQuiet(ctx, "backup", "--data", data, "--to", filepath.Join(out, "cold.db")); err != nil {
		t.Errorf("cold backup of the stopped node: %v", err)
	}
	notData := filepath.Join(out, "not-data")
	writeFile(t, notData, strings.Repeat("not a bbolt file\n", 1000))
	if err := runQuiet(ctx, "restore", "--from", notData, "--data", data); err == nil || !strings.Contains(err.Error(), "not a data file") {
		t.Errorf("restore of a non-data file: %v, want a refusal", err)
	}
	if err := runQuiet(ctx, "restore", "--from", backups[0].path, "--data", data, "--store", "S999"); err == nil || !strings.Contains(err.Error(), "not S999") {
		t.Errorf("restore naming another store: %v, want a refusal", err)
	}
	if err := runQuiet(ctx, "restore", "--from", backups[0].path, "--data", data); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// The restored store is a new incarnation of the same store: the
	// events it wrote after the backup keep their identities at HQ.
	before, err := node.FileOrigin(backups[0].path)
	if err != nil {
		t.Fatal(err)
	}
	after, err := node.FileOrigin(filepath.Join(data, dataFileName))
	if err != nil {
		t.Fatal(err)
	}
	if before == "" || after == before || engine.OriginStore(after) != engine.OriginStore(before) {
		t.Errorf("origin after restore %q, backup's %q: want a new incarnation of the same store", after, before)
	}
	d = startDev(t, data)
	c, err := posbridge.Dial(ctx, d.url, d.token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ledger struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := c.Call(ctx, "member.ledger", map[string]any{"member_id": memberMobile(0)}, &ledger); err != nil {
		t.Fatalf("ledger after restore: %v", err)
	}
	if len(ledger.Entries) == 0 {
		t.Error("the restored node has no ledger entries for member 0")
	}
}

// checkConsistentBackup opens a backup as a node: a fresh node that
// applies its events must have its state (a consistent prefix, not a
// torn copy), and every receipt in want must be there.
func checkConsistentBackup(ctx context.Context, t *testing.T, path string, want []string) {
	t.Helper()
	copyPath := filepath.Join(t.TempDir(), "patron.db")
	if err := copyFileSync(path, copyPath); err != nil {
		t.Fatal(err)
	}
	b := openTestNode(ctx, t, copyPath)
	vv, err := b.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events []engine.RawEvent
	for origin, seq := range vv {
		evs, err := b.EventsAfter(ctx, origin, 0, int(seq)+1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(evs)) != seq {
			t.Fatalf("%s: %s holds %d events, its version vector says %d", path, origin, len(evs), seq)
		}
		events = append(events, evs...)
	}
	fresh := openTestNode(ctx, t, filepath.Join(t.TempDir(), "patron.db"))
	if _, err := fresh.ApplyEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	got, err := b.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refold, err := fresh.StateDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[node.DigestState] != refold[node.DigestState] {
		t.Errorf("%s: state is not the fold of its %d events", path, len(events))
	}
	for _, id := range want {
		if _, err := b.Receipt(ctx, "T01", id); err != nil {
			t.Errorf("%s: receipt %s acknowledged before the backup began: %v", path, id, err)
		}
	}
	t.Logf("%s: %d events, %d receipts acknowledged before it began", filepath.Base(path), len(events), len(want))
}

func openTestNode(ctx context.Context, t *testing.T, path string) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store, cfg.NoSync, cfg.Logger = path, "S001", true, discardLogger()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// runQuiet runs a patron command in process and returns its error.
func runQuiet(ctx context.Context, args ...string) error {
	return run(ctx, args, io.Discard, io.Discard)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// patron dev without an admin token makes one, keeps it in the data
// directory (the same one on the next start) and takes it on the admin
// API, so the console of `make run` can be logged in to.
func TestDevMakesAnAdminToken(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	raw, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	whoami := func(tok string) int {
		req, err := http.NewRequest(http.MethodGet, d.admin+"/api/v1/whoami", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if len(token) != 32 || whoami(token) != http.StatusOK || whoami("not-"+token) != http.StatusUnauthorized {
		t.Fatalf("generated token %q: whoami %d", token, whoami(token))
	}
	d.stop()
	startDev(t, data)
	again, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil || strings.TrimSpace(string(again)) != token {
		t.Fatalf("second start: token %q (%v), want the first one kept", again, err)
	}
}
