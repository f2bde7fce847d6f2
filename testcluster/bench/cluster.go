package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
	"github.com/patron/patron/replication/transport"
)

// HQNodes is the size of the HQ Raft cluster every scenario runs.
const HQNodes = 3

// pollEvery spaces the polls of a node's version vector. It bounds the
// resolution of visibility and catch-up times: a figure is late by at
// most this much.
const pollEvery = 2 * time.Millisecond

// ChainConfig configures a chain. The zero value of every field but Dir
// is valid.
type ChainConfig struct {
	// Dir holds every node's files. Required.
	Dir string
	// NoSync turns fsync off in the Raft log, the HQ nodes and the
	// stores. Default false: every commit is durable, as in production.
	// For toy-sized tests only: the figures then mean little.
	NoSync bool
	// SocketBuffer, when set, is the receive and send buffer size asked
	// for the HQ nodes' UDP sync sockets (the OS caps it: net.core.rmem_max
	// on Linux). Default 0: the OS default, as cmd/patron runs (212 KiB
	// on Linux), which one socket serving every store's session may
	// overflow under load.
	SocketBuffer int
	// Logger receives the nodes' logs. Default: discarded (a benchmark
	// prints figures, not logs).
	Logger *slog.Logger
}

// Chain is a running HQ cluster and the stores added to it.
type Chain struct {
	cfg       ChainConfig
	link      transport.LinkConfig
	hqs       []*chain.HQ
	hqNodes   []*node.Node
	regs      []*prometheus.Registry // per HQ node: its Raft metrics
	syncAddrs []string

	mu     sync.Mutex // guards following
	stores []*Store
}

// Store is one store of a chain: its node and, while online, its link.
type Store struct {
	ID        string
	Node      *node.Node
	Authority *chain.Authority

	c    *Chain
	mu   sync.Mutex // guards link
	link *chain.Store
}

// loopbackLink tunes DTLS/SCTP for loopback: handshakes retransmit after
// 100 ms instead of a WAN's 1 s, and a lost datagram (a full socket
// buffer under load) is resent after 500 ms instead of 3 s.
func loopbackLink(logger *slog.Logger) transport.LinkConfig {
	return transport.LinkConfig{FlightInterval: 100 * time.Millisecond, RTOMax: 500 * time.Millisecond, Logger: logger}
}

// StartChain starts HQNodes HQ nodes on loopback and waits for a leader.
func StartChain(ctx context.Context, cfg ChainConfig) (_ *Chain, err error) {
	if cfg.Dir == "" {
		return nil, errors.New("bench: ChainConfig.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	c := &Chain{cfg: cfg, link: loopbackLink(cfg.Logger)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	ca, err := hq.NewCA("bench")
	if err != nil {
		return nil, err
	}
	var (
		servers []hq.Server
		raftLns []net.Listener
		conns   []net.PacketConn
	)
	for i := 1; i <= HQNodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return nil, err
		}
		raftLns, conns = append(raftLns, ln), append(conns, pc)
		if cfg.SocketBuffer > 0 {
			if err := setBuffers(pc, cfg.SocketBuffer); err != nil {
				return nil, err
			}
		}
		c.syncAddrs = append(c.syncAddrs, pc.LocalAddr().String())
		servers = append(servers, hq.Server{ID: fmt.Sprintf("HQ%d", i), Addr: ln.Addr().String()})
	}
	for i, s := range servers {
		if err := c.startHQ(ctx, ca, s.ID, servers, raftLns[i], conns[i]); err != nil {
			for _, r := range raftLns[i+1:] {
				r.Close()
			}
			for _, pc := range conns[i+1:] {
				pc.Close()
			}
			return nil, fmt.Errorf("bench: start %s: %w", s.ID, err)
		}
	}
	if _, _, err := c.hqs[0].Raft().WaitForLeader(ctx); err != nil {
		return nil, fmt.Errorf("bench: no HQ leader: %w", err)
	}
	return c, nil
}

// startHQ opens one HQ node's store and starts its Raft member and sync
// listener.
func (c *Chain) startHQ(ctx context.Context, ca *hq.CA, id string, servers []hq.Server, ln net.Listener, pc net.PacketConn) error {
	n, err := c.openNode(ctx, id, id, nil)
	if err != nil {
		ln.Close()
		pc.Close()
		return err
	}
	c.hqNodes = append(c.hqNodes, n)
	tlsCfg, err := ca.NodeTLS(id)
	if err != nil {
		ln.Close()
		pc.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	rc := hq.DefaultConfig()
	rc.ID, rc.Dir, rc.RaftListener, rc.TLS, rc.Bootstrap = id, filepath.Join(c.cfg.Dir, id, "raft"), ln, tlsCfg, servers
	// Loopback: a failed leader is replaced within a second, yet a busy
	// 2-core machine does not miss heartbeats into spurious elections.
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 250*time.Millisecond
	rc.NoSync = c.cfg.NoSync
	h, err := chain.StartHQ(ctx, chain.HQConfig{Node: n, Raft: rc, SyncConn: pc, StoreKeys: storeKey,
		Link: c.link, Logger: c.cfg.Logger, Metrics: reg})
	if err != nil {
		return err
	}
	c.hqs, c.regs = append(c.hqs, h), append(c.regs, reg)
	return nil
}

// storeKey derives a store's pre-shared key from its id: every store of
// a benchmark chain is known to HQ without a registry.
func storeKey(id string) ([]byte, bool) {
	sum := sha256.Sum256([]byte("patron-bench-" + id))
	return sum[:transport.MinKeyBytes], true
}

// openNode opens a node in its own directory under Dir.
func (c *Chain) openNode(ctx context.Context, dir, store string, auth node.HoldAuthority) (*node.Node, error) {
	path := filepath.Join(c.cfg.Dir, dir)
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(path, "patron.db")
	cfg.Store, cfg.Logger, cfg.NoSync = store, c.cfg.Logger, c.cfg.NoSync
	if auth != nil {
		cfg.Authority = auth
	}
	return node.Open(ctx, cfg)
}

// Leader returns the HQ node that leads now, or nil during an election.
func (c *Chain) Leader() (*chain.HQ, *node.Node) {
	for i, h := range c.hqs {
		if h.Raft().IsLeader() {
			return h, c.hqNodes[i]
		}
	}
	return nil, nil
}

// waitLeader polls until a leader is known.
func (c *Chain) waitLeader(ctx context.Context) (*chain.HQ, *node.Node, error) {
	var (
		h *chain.HQ
		n *node.Node
	)
	err := poll(ctx, "an HQ leader", func() (bool, error) {
		h, n = c.Leader()
		return h != nil, nil
	})
	return h, n, err
}

// AddStore opens a store node and, if online, starts its link to HQ.
func (c *Chain) AddStore(ctx context.Context, id string, online bool) (*Store, error) {
	auth := chain.NewAuthority()
	n, err := c.openNode(ctx, id, id, auth)
	if err != nil {
		return nil, err
	}
	s := &Store{ID: id, Node: n, Authority: auth, c: c}
	c.mu.Lock()
	c.stores = append(c.stores, s)
	c.mu.Unlock()
	if online {
		if err := s.Connect(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Connect starts the store's link to HQ (it reconnects after an outage).
func (s *Store) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link != nil {
		return nil
	}
	key, _ := storeKey(s.ID)
	l, err := chain.StartStore(ctx, chain.StoreConfig{Node: s.Node, Authority: s.Authority, Key: key,
		HQ: s.c.syncAddrs, Link: s.c.link, Logger: s.c.cfg.Logger})
	if err != nil {
		return err
	}
	s.link = l
	return nil
}

// Disconnect stops the store's link: the store is offline until Connect.
func (s *Store) Disconnect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.link == nil {
		return nil
	}
	err := s.link.Close()
	s.link = nil
	return err
}

// Online reports whether the store has a session with HQ.
func (s *Store) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link != nil && s.link.State().HQ.Connected
}

// Close stops every store and HQ node and closes their files.
func (c *Chain) Close() error {
	c.mu.Lock()
	stores := c.stores
	c.stores = nil
	c.mu.Unlock()
	var errs []error
	for _, s := range stores {
		errs = append(errs, s.Disconnect(), s.Node.Close())
	}
	for _, h := range c.hqs {
		errs = append(errs, h.Close())
	}
	for _, n := range c.hqNodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

// raftEntries returns the leader-side count and sum of events grouped per
// Raft entry, summed over the HQ nodes (each counts only while leader).
func (c *Chain) raftEntries() (entries uint64, events float64, err error) {
	for _, reg := range c.regs {
		mfs, err := reg.Gather()
		if err != nil {
			return 0, 0, err
		}
		for _, mf := range mfs {
			if mf.GetName() != "patron_hq_events_per_entry" {
				continue
			}
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				entries += h.GetSampleCount()
				events += h.GetSampleSum()
			}
		}
	}
	return entries, events, nil
}

// covers reports whether vv holds everything want holds.
func covers(vv, want engine.VersionVector) bool {
	for o, seq := range want {
		if vv[o] < seq {
			return false
		}
	}
	return true
}

// poll calls cond every pollEvery until it is true, fails or ctx ends.
func poll(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("bench: waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setBuffers sets a UDP socket's receive and send buffers.
func setBuffers(pc net.PacketConn, size int) error {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return fmt.Errorf("bench: %T is not a UDP socket", pc)
	}
	return errors.Join(u.SetReadBuffer(size), u.SetWriteBuffer(size))
}
