package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigCheck: patron config check lists every problem of a file, each
// naming its key and line or its flag, and exits 1; a good file exits 0.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "S001.key")
	writeFile(t, key, strings.Repeat("ab", 32)+"\n")
	terminals := filepath.Join(dir, "terminals")
	writeFile(t, terminals, "# tills\nT01=token-number-one-0001\nT02 = token-number-two-0002\n")
	tests := []struct {
		name, role, file string
		want             []string // each a line of the report; none: ok
	}{
		{"store ok", "", "store: S001\ndata: " + dir + "\nhq: [10.0.0.1:7121, 10.0.0.2:7121]\nkey-file: " + key +
			"\nterminal-file: " + terminals + "\nlog-format: json\n", nil},
		{"dev ok", "dev", "data: " + dir + "\nterminal: [T01=abcdefabcdefabcdef]\npos-tls-self-signed: true\n", nil},
		{"store problems", "store", "store: S001\ndata: " + dir + "\nhq-adress: x\nhq: 10.0.0.1:7121\n" +
			"key-file: " + filepath.Join(dir, "missing") + "\nhandshake-timeout: soon\nlog-level: loud\n" +
			"pos-tls-cert: c.pem\npos-listen: 7070\nterminal: [T01=a, T01=b]\n", []string{
			`line 3: unknown key "hq-adress"`,
			`line 6: key "handshake-timeout": "soon" is not a duration`,
			"--key-file: open " + filepath.Join(dir, "missing"),
			"--pos-tls-cert and --pos-tls-key go together",
			`--pos-listen "7070": want HOST:PORT or :PORT`,
			"terminal T01 given twice",
			`--log-level "loud"`,
		}},
		{"hq guessed", "", "id: HQ1\nstore-key: [S001=00]\nraft-heartbeat: 0s\nconfig: other.yaml\n", []string{
			`line 4: unknown key "config"`,
			"--store-key S001: 1 bytes",
			"--raft-listen is required",
			"Raft needs TLS",
			"--raft-heartbeat must be positive",
		}},
		{"not a map", "dev", "- a\n- b\n", []string{"line 1: want a mapping of flag names to values"}},
		{"sms", "dev", "sms: smpp\nsmpp-addr: nohost\n", []string{"--smpp-password-file is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "patron.yaml")
			writeFile(t, path, tc.file)
			args := []string{"config", "check", path}
			if tc.role != "" {
				args = append(args, "--for", tc.role)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if len(tc.want) == 0 {
				if err != nil || !strings.Contains(stdout.String(), ": ok for patron") {
					t.Fatalf("got %v\n%s%s", err, stdout.String(), stderr.String())
				}
				return
			}
			if !errors.Is(err, errPrinted) || exitCode(err) != 1 {
				t.Errorf("got error %v (exit %d), want exit 1", err, exitCode(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), "\n  "+w) {
					t.Errorf("report lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// TestEveryFlagComesFromTheFile: a file setting every flag of patron dev,
// store and hq (to its default, or a sample for the repeatable ones) has
// no unknown key, and a flag on the command line beats the file.
func TestEveryFlagComesFromTheFile(t *testing.T) {
	for role, build := range configRoles {
		fs, _ := build()
		var b strings.Builder
		var names []string
		fs.VisitAll(func(f *flag.Flag) {
			names = append(names, f.Name)
			v := f.DefValue
			if _, ok := f.Value.(*multiFlag); ok {
				v = "[X1=Y]"
			}
			fmt.Fprintf(&b, "%s: %q\n", f.Name, v)
		})
		path := filepath.Join(t.TempDir(), role+".yaml")
		writeFile(t, path, b.String())
		fs, _ = build()
		fs.String("config", "", "")
		if err := applyConfigFile(fs, path, map[string]bool{}); err != nil {
			t.Errorf("%s: every flag in a file: %v", role, err)
		}
		for _, secret := range []string{"admin-token-file", "log-format"} {
			if !slices.Contains(names, secret) {
				t.Errorf("%s has no --%s", role, secret)
			}
		}
	}
	for _, secret := range []string{"terminal-file", "key-file", "peer-keys", "smpp-password-file", "sms-webhook-secret-file"} {
		fs, _ := configRoles["store"]()
		if fs.Lookup(secret) == nil {
			t.Errorf("store has no --%s", secret)
		}
	}

	var o storeOptions
	fs := storeFlags(&o)
	path := filepath.Join(t.TempDir(), "store.yaml")
	writeFile(t, path, "store: S001\npos-listen: :7070\n")
	if err := parseFlags(fs, []string{"--config", path, "--pos-listen", ":9999"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if o.store != "S001" || o.posListen != ":9999" {
		t.Errorf("store %q pos-listen %q: want the file's store and the flag's listener", o.store, o.posListen)
	}
}

// TestSecretsFromFiles: terminal tokens, peer keys and the admin token
// are read from files; a malformed line is named without its secret.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	peerKey := strings.Repeat("cd", 32)
	writeFile(t, filepath.Join(dir, "terminals"), "T01=secret-token-one\n\n# comment\nT02=secret-token-two\n")
	writeFile(t, filepath.Join(dir, "peer-keys"), "S002="+peerKey+"\n")
	writeFile(t, filepath.Join(dir, "admin-token"), "  admin-secret\n")
	writeFile(t, filepath.Join(dir, "key"), strings.Repeat("ab", 32))
	o := storeOptions{store: "S001", data: dir, hq: "10.0.0.1:7121", keyFile: filepath.Join(dir, "key"),
		posListen: ":0", adminListen: ":0", logFormat: "text", logLevel: "info",
		peers: multiFlag{"S002=10.1.0.2:7161"}, peerKeyFile: filepath.Join(dir, "peer-keys"),
		front: frontFlags{terminalFile: filepath.Join(dir, "terminals"), adminTokenFile: filepath.Join(dir, "admin-token"),
			terminals: multiFlag{"T03=secret-token-three"}}}
	c, err := o.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.terminals) != 3 || c.generated || c.terminals[1] != (terminal{"T01", "secret-token-one"}) {
		t.Errorf("terminals %+v", c.terminals)
	}
	if c.adminToken != "admin-secret" {
		t.Errorf("admin token %q", c.adminToken)
	}
	if len(c.peers) != 1 || fmt.Sprintf("%x", c.peers[0].Key) != peerKey {
		t.Errorf("peers %+v", c.peers)
	}

	writeFile(t, filepath.Join(dir, "terminals"), "T01=ok-token\nT02 secret-without-equals\n")
	o.front.adminToken = "also-given"
	_, err = o.resolve()
	for _, want := range []string{"line 2: want ID=TOKEN", "give --admin-token or --admin-token-file, not both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "secret-without-equals") {
		t.Errorf("the error quotes a secret: %v", err)
	}
}

// TestReadiness: /healthz answers while the process runs; /readyz is 200
// only while the node is open and has a programme.
func TestReadiness(t *testing.T) {
	ctx := context.Background()
	n := openTestNode(ctx, t, filepath.Join(t.TempDir(), "patron.db"))
	srv := httptest.NewServer(adminMux(newRegistry(), nodeReady(n)))
	defer srv.Close()
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz without a programme: %d", got)
	}
	if _, err := n.LoadProgramme(ctx, demoProgramme); err != nil {
		t.Fatal(err)
	}
	if got := get("/readyz"); got != http.StatusOK {
		t.Errorf("readyz with a programme: %d", got)
	}
	n.Close()
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz after the node closed: %d", got)
	}
	if got := get("/healthz"); got != http.StatusOK {
		t.Errorf("healthz: %d", got)
	}
}

func TestVersionSaysTheFormats(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"patron dev", "go go1.", fmt.Sprintf("data schema %d", node.SchemaVersion),
		"till protocol patron.pos.v1", "store sync protocol 1", fmt.Sprintf("chain formats 1 to %d", engine.CurrentChainFormat)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSystemdUnitsVerify runs systemd-analyze verify on the units in
// deploy/systemd, with the binary path they name replaced by a real one.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (optional: it checks deploy/systemd/*.service)")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"patron-store.service", "patron-hq.service"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/usr/local/bin/patron", self)
		if !strings.Contains(text, "--config /etc/patron/") {
			t.Errorf("%s does not read its --config from /etc/patron", unit)
		}
		writeFile(t, filepath.Join(dir, unit), text)
		cmd := exec.Command(analyze, "verify", filepath.Join(dir, unit))
		out, err := cmd.CombinedOutput()
		// verify also reports problems of unrelated units on the host;
		// only lines naming ours count.
		var ours []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, unit) {
				ours = append(ours, l)
			}
		}
		if len(ours) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, strings.Join(ours, "\n"))
		}
	}
}
