package hq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRoguePeerCannotTalk: a peer whose certificate the cluster CA did
// not sign (or with none) gets no raft conversation, and a rogue node
// that believes it is a member never disturbs the cluster.
func TestRoguePeerCannotTalk(t *testing.T) {
	c := newCluster(t, three, nil)
	l := c.leader()
	term := l.Stats().Term

	rogueCA, err := NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	rogueTLS, err := rogueCA.NodeTLS("HQ9")
	if err != nil {
		t.Fatal(err)
	}
	// The rogue trusts the cluster CA, so only the cluster's check of the
	// rogue's certificate stands in the way.
	rogueTLS.RootCAs = l.cfg.TLS.RootCAs
	noCert := &tls.Config{RootCAs: l.cfg.TLS.RootCAs, MinVersion: tls.VersionTLS13}

	for name, cfg := range map[string]*tls.Config{"foreign CA": rogueTLS, "no certificate": noCert} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", l.Addr(), cfg)
		if err == nil {
			// TLS 1.3: the server checks the client's certificate after
			// the client's handshake is done; the refusal arrives on read.
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			conn.Write([]byte{0}) // rpcAppendEntries type byte
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Errorf("%s: raft conversation with the leader succeeded", name)
		}
	}

	// A rogue node that bootstraps itself into the cluster's membership.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	boot := []Server{{ID: "HQ9", Addr: ln.Addr().String()}}
	for _, id := range three {
		boot = append(boot, Server{ID: id, Addr: c.addrs[id]})
	}
	cfg := Config{ID: "HQ9", Dir: t.TempDir(), RaftListener: ln, TLS: rogueTLS, Bootstrap: boot,
		Store: newFakeStore(nil), Logger: testLogger(t)}
	testTimings(&cfg)
	rogue, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	waitFor(t, 10*time.Second, "cluster nodes to reject the rogue's connections", func() bool {
		rejected := 0.0
		for _, n := range c.running() {
			rejected += testutil.ToFloat64(n.m.tlsRejected)
		}
		return rejected >= 4 // the two dials above and the rogue's campaign
	})
	if rogue.IsLeader() {
		t.Error("rogue became leader")
	}
	if now := c.leader(); now != l || now.Stats().Term != term {
		t.Errorf("cluster disturbed: leader %s term %d, was %s term %d", now.ID(), now.Stats().Term, l.ID(), term)
	}
	if _, err := c.appendRetrying(context.Background(), []engine.RawEvent{ev("S001", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := len(rogue.cfg.Store.(*fakeStore).events("S001")); got != 0 {
		t.Errorf("rogue received %d events", got)
	}
}

func TestLoadTLS(t *testing.T) {
	ca, err := NewCA("files")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("HQ1", "hq1.example", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{"hq1.crt": certPEM, "hq1.key": keyPEM, "ca.crt": ca.CertPEM()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadTLS(filepath.Join(dir, "hq1.crt"), filepath.Join(dir, "hq1.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := validateTLS(cfg); len(errs) != 0 {
		t.Errorf("loaded config invalid: %v", errs)
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil || leaf.VerifyHostname("hq1.example") != nil || leaf.VerifyHostname("10.0.0.1") != nil {
		t.Errorf("certificate does not name the given hosts")
	}
	if _, err := LoadTLS(filepath.Join(dir, "hq1.crt"), filepath.Join(dir, "hq1.key"), filepath.Join(dir, "hq1.key")); err == nil {
		t.Error("a key file as CA loaded")
	}
}

func TestParseCAIssuesForTheSameCluster(t *testing.T) {
	ca, err := NewCA("kept")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate the reloaded CA issues verifies against the original.
	cfg, err := again.NodeTLS("HQ4")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := ca.NodeTLS("HQ1")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cfg.Certificates[0].Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: orig.RootCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate of the reloaded CA does not verify: %v", err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCA(ca.CertPEM(), otherKey); err == nil {
		t.Error("a CA with a foreign key parsed")
	}
	if _, err := ParseCA(keyPEM, keyPEM); err == nil {
		t.Error("a key as CA certificate parsed")
	}
}

func TestConfigValidateReportsEverything(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("zero Config validated")
	}
	for _, want := range []string{"ID", "Dir", "RaftListener or RaftAddr", "TLS is required", "Store is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	ca, err := NewCA("cfg")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.NodeTLS("HQ1")
	if err != nil {
		t.Fatal(err)
	}
	ok := Config{ID: "HQ1", Dir: "d", RaftAddr: "127.0.0.1:0", TLS: tlsCfg, Store: newFakeStore(nil)}
	if err := ok.Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	bad := ok
	bad.Bootstrap = []Server{{ID: "HQ2", Addr: "x:1"}, {ID: "HQ2", Addr: "y:1"}}
	bad.MaxBatchEvents = MaxEntryEvents + 1
	bad.ElectionTimeout = time.Millisecond // below raft's minimum
	err = bad.Validate()
	for _, want := range []string{"twice", "must include this node", "MaxBatchEvents", "raft:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
	if d := DefaultConfig(); d.HoldTTL != 2*time.Minute || d.HeartbeatTimeout != time.Second {
		t.Errorf("DefaultConfig timings %v %v, want production ones", d.HoldTTL, d.HeartbeatTimeout)
	}
}

func TestOpenRefusesUnspecifiedAdvertise(t *testing.T) {
	ca, err := NewCA("adv")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.NodeTLS("HQ1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Config{ID: "HQ1", Dir: t.TempDir(), RaftAddr: "0.0.0.0:0", TLS: tlsCfg,
		Store: newFakeStore(nil), Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "AdvertiseAddr") {
		t.Errorf("Open on 0.0.0.0 without AdvertiseAddr: %v", err)
	}
}

// TestConfigDialCarriesRaft: Config.Dial opens every outbound raft
// connection, and what it refuses does not reach the peer. HQ3 can dial
// nobody, so it never wins an election, yet it follows over the
// connections the leader opens to it.
func TestConfigDialCarriesRaft(t *testing.T) {
	var mu sync.Mutex // guards dialed
	dialed := map[string]int{}
	c := newCluster(t, three, func(cfg *Config) {
		id := cfg.ID
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			mu.Lock()
			dialed[id]++
			mu.Unlock()
			if id == "HQ3" {
				return nil, errors.New("test: HQ3 dials nobody")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	})
	l := c.leader()
	if l.ID() == "HQ3" {
		t.Fatal("HQ3 leads without reaching a peer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.AppendEvents(ctx, []engine.RawEvent{ev("S001", 1)}); err != nil {
		t.Fatal(err)
	}
	c.converged(three...)
	mu.Lock()
	defer mu.Unlock()
	if dialed[l.ID()] == 0 {
		t.Errorf("the leader's connections bypassed Config.Dial: %v", dialed)
	}
}
