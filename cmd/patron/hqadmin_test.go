package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
)

// singleHQ starts a one-node HQ cluster in process and its admin API.
func singleHQ(t *testing.T) (*hqAdmin, *node.Node, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store, cfg.Origin, cfg.Logger, cfg.NoSync = filepath.Join(t.TempDir(), "patron.db"), "HQ1", "HQ1", logger, true
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ca, err := hq.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.NodeTLS("HQ1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := hq.DefaultConfig()
	rc.ID, rc.Dir, rc.RaftListener, rc.TLS, rc.NoSync = "HQ1", t.TempDir(), ln, tlsCfg, true
	rc.Bootstrap = []hq.Server{{ID: "HQ1", Addr: ln.Addr().String()}}
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	h, err := chain.StartHQ(ctx, chain.HQConfig{Node: n, Raft: rc, SyncConn: pc,
		StoreKeys: func(string) ([]byte, bool) { return nil, false }, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	pollUntil(ctx, t, "the one node leading", h.Raft().IsLeader)
	a := newHQAdmin(h, n, func() []string { return []string{"S001"} }, "secret", logger)
	srv := httptest.NewServer(a.routes(adminMux(newRegistry(), a.ready)))
	t.Cleanup(srv.Close)
	return a, n, srv
}

func programmeVersion(t *testing.T, version string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(demoProgramme, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = version
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHQAdminProgrammeSize: a programme far over one sync batch loads
// (store sync carries it in chunks); one whose event would exceed what
// sync carries is refused with 413 naming the limit.
func TestHQAdminProgrammeSize(t *testing.T) {
	_, n, srv := singleHQ(t)
	post := func(body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/programme", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	padded := func(version string, size int) []byte {
		doc := programmeVersion(t, version)
		return append(doc, bytes.Repeat([]byte(" "), size-len(doc))...)
	}
	if code, body := post(padded("big-1", 300<<10)); code != http.StatusOK {
		t.Fatalf("300 KiB programme: %d %s", code, body)
	}
	if p := n.Programme(); p == nil || p.Version != "big-1" {
		t.Fatalf("programme %v after loading big-1", p)
	}
	// Within the document bound, but base64 and the envelope take the
	// event over the event bound.
	code, body := post(padded("big-2", maxProgrammeDocBytes))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, fmt.Sprintf("limit is %d bytes", maxProgrammeEventBytes)) {
		t.Fatalf("document of %d bytes: %d %s; want 413 naming %d", maxProgrammeDocBytes, code, body, maxProgrammeEventBytes)
	}
	code, body = post(padded("big-3", maxProgrammeDocBytes+1))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, fmt.Sprintf("larger than %d bytes", maxProgrammeDocBytes)) {
		t.Fatalf("document of %d bytes: %d %s; want 413 naming %d", maxProgrammeDocBytes+1, code, body, maxProgrammeDocBytes)
	}
	if p := n.Programme(); p == nil || p.Version != "big-1" {
		t.Fatalf("programme %v after refused loads", p)
	}
}

// TestProgrammeLoadLosingItsSeqPreparesAgain: a load whose sequence
// number another load took between prepare and commit (the log skips it
// as held) is prepared again and lands at the next seq; both programmes
// are stored, the later one current.
func TestProgrammeLoadLosingItsSeqPreparesAgain(t *testing.T) {
	a, n, _ := singleHQ(t)
	ctx := context.Background()
	competitor, err := n.PrepareProgrammeEvent(ctx, programmeVersion(t, "race-1"))
	if err != nil {
		t.Fatal(err)
	}
	raced := false
	a.prepared = func(ev engine.RawEvent) {
		if raced {
			return
		}
		raced = true
		if ev.Seq != competitor.Seq {
			t.Errorf("prepared seq %d, competitor %d", ev.Seq, competitor.Seq)
		}
		if _, err := (raftLog{a.hq.Raft()}).AppendEvents(ctx, []engine.RawEvent{competitor}); err != nil {
			t.Errorf("competitor: %v", err)
		}
	}
	res, err := a.loadProgramme(ctx, programmeVersion(t, "race-2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "race-2" || res.Event != "HQ1/2" {
		t.Errorf("loaded %+v, want race-2 at HQ1/2", res)
	}
	if p := n.Programme(); p == nil || p.Version != "race-2" {
		t.Errorf("current programme %v, want race-2", p)
	}
	if _, err := n.ProgrammeVersion(ctx, "race-1"); err != nil {
		t.Errorf("the competitor's programme is lost: %v", err)
	}
}

func TestHQAdminAPI(t *testing.T) {
	_, n, srv := singleHQ(t)
	post := func(path, token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, token, body string
		wantCode                int
		wantBody                string
	}{
		{"no token", "/programme", "", "{}", http.StatusUnauthorized, "admin token"},
		{"wrong token", "/programme", "nope", "{}", http.StatusUnauthorized, "admin token"},
		{"invalid programme", "/programme", "secret", `{"version": ""}`, http.StatusBadRequest, "version"},
		{"programme", "/programme", "secret", string(programmeVersion(t, "api-1")), http.StatusOK, `"event": "HQ1/1"`},
		{"same version, other content", "/programme", "secret", strings.Replace(string(programmeVersion(t, "api-1")), "INR", "USD", 1),
			http.StatusConflict, "new version"},
		{"too large", "/programme", "secret", strings.Repeat(" ", maxProgrammeDocBytes+1), http.StatusRequestEntityTooLarge,
			fmt.Sprintf("larger than %d bytes", maxProgrammeDocBytes)},
		{"join without address", "/cluster/join", "secret", `{"id": "HQ4"}`, http.StatusBadRequest, "raft_addr"},
		{"unknown field", "/cluster/remove", "secret", `{"id": "HQ4", "force": true}`, http.StatusBadRequest, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.path, tt.token, tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	if p := n.Programme(); p == nil || p.Version != "api-1" {
		t.Errorf("programme %v after the API load", p)
	}
	resp, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st hqStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Raft.State != "Leader" || st.Programme != "api-1" || len(st.Stores) != 1 || st.Stores[0].Online {
		t.Errorf("status %+v", st)
	}
}
