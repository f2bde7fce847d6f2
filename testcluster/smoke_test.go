package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
	"github.com/patron/patron/replication/transport"
)

func smokeProgramme() []byte {
	doc := map[string]any{
		"version": "smoke-1", "currency": "INR", "minor_digits": 2, "default_country_code": "+91",
		"catalogue": map[string]any{"products": []any{map[string]any{"sku": "BK1", "category": "books"}},
			"default_product": map[string]any{"sku": "DEFAULT", "category": "uncategorised"}},
		"earn": map[string]any{"rates": []any{map[string]any{"category": "*", "points": 1, "per": 100}}},
		"redeem": map[string]any{"point_value": 1, "min_points": 0, "max_share_pct": 100, "otp": "off",
			"offline_allowance_points": 0},
		"campaigns": []any{},
	}
	b, _ := json.Marshal(doc)
	return b
}

func TestSmokeEarnAtOneStoreSeenAtAnother(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ca, err := hq.NewCA("smoke")
	if err != nil {
		t.Fatal(err)
	}
	storeKeys := map[string][]byte{"S1": []byte("0123456789abcdef"), "S2": []byte("fedcba9876543210")}
	link := transport.LinkConfig{FlightInterval: 50 * time.Millisecond, RTOMax: 200 * time.Millisecond}

	// Three HQ nodes.
	var servers []hq.Server
	var raftLns []net.Listener
	var syncAddrs []string
	var syncConns []net.PacketConn
	for i := 1; i <= 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		raftLns = append(raftLns, ln)
		syncConns = append(syncConns, pc)
		syncAddrs = append(syncAddrs, pc.LocalAddr().String())
		servers = append(servers, hq.Server{ID: fmt.Sprintf("HQ%d", i), Addr: ln.Addr().String()})
	}
	for i, s := range servers {
		n := openNode(ctx, t, s.ID, s.ID, nil, logger)
		tlsCfg, err := ca.NodeTLS(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		rc := hq.DefaultConfig()
		rc.ID, rc.Dir, rc.RaftListener, rc.TLS, rc.Bootstrap = s.ID, t.TempDir(), raftLns[i], tlsCfg, servers
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 200*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond
		rc.NoSync = true
		h, err := chain.StartHQ(ctx, chain.HQConfig{Node: n, Raft: rc, SyncConn: syncConns[i],
			StoreKeys: func(id string) ([]byte, bool) { k, ok := storeKeys[id]; return k, ok },
			Link:      link, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
	}

	// Two stores.
	stores := map[string]*node.Node{}
	for _, id := range []string{"S1", "S2"} {
		auth := chain.NewAuthority()
		n := openNode(ctx, t, id, id, auth, logger)
		if id == "S1" {
			if _, err := n.LoadProgramme(ctx, smokeProgramme()); err != nil {
				t.Fatal(err)
			}
		}
		s, err := chain.StartStore(ctx, chain.StoreConfig{Node: n, Authority: auth, Key: storeKeys[id], HQ: syncAddrs,
			Link: link, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[id] = n
	}
	// The programme loaded at S1 reaches S2 through HQ.
	waitFor(ctx, t, "programme at S2", func() bool { return stores["S2"].Programme() != nil })

	if _, err := stores["S1"].Enroll(ctx, "T01", node.EnrollRequest{Mobile: "+919800000001", FirstName: "Asha"}); err != nil {
		t.Fatal(err)
	}
	_, err = stores["S1"].CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: "1",
		Member: &node.Identifier{Mobile: "+919800000001"},
		Basket: &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "BK1", Qty: 1, UnitPrice: 10000}}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(ctx, t, "earn visible at S2", func() bool {
		m, err := stores["S2"].Identify(ctx, "T01", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: "+919800000001"}})
		return err == nil && m.Points.Balance == 100
	})
	t.Logf("earn at S1 visible at S2 after %v", time.Since(start))
}

func openNode(ctx context.Context, t *testing.T, store, origin string, auth node.HoldAuthority, logger *slog.Logger) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "patron.db")
	cfg.Store, cfg.Origin, cfg.Logger, cfg.NoSync = store, origin, logger, true
	if auth != nil {
		cfg.Authority = auth
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
