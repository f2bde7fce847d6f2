package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
	"github.com/patron/patron/replication/syncproto"
	"github.com/patron/patron/replication/transport"
)

// Options configure a Cluster. The zero value of every field is valid and
// documents its default.
type Options struct {
	// Seed seeds the fault sockets (and, through Schedule, the workload
	// and the faults). Default 0.
	Seed uint64
	// HQ is the number of HQ Raft voters. Default 3.
	HQ int
	// Stores is the number of store nodes, "S1", "S2", ... Default 2.
	Stores int
	// TillsPerStore is the number of terminals each store serves, "T1",
	// "T2", ... Default 2.
	TillsPerStore int
	// Programme is the programme document loaded at S1 (it reaches every
	// node through HQ). Default Programme(OfflineAllowance).
	Programme []byte
	// OfflineAllowance is offline_allowance_points of the default
	// programme. Default 0: no offline redemption.
	OfflineAllowance int64
	// Broken runs the stores' tills against a deliberately broken service
	// (a negative control). Default NotBroken.
	Broken Broken
	// WrongKey lists stores that dial HQ with a key HQ does not hold for
	// them. Default none.
	WrongKey []string
	// Durable makes every bbolt file and the Raft log fsync. Default
	// false: NoSync, which loses nothing here because a crash in one
	// process closes files the OS still holds (no power is lost), and it
	// keeps a schedule's budget for faults rather than disk waits.
	Durable bool
	// Logger receives every component's logs. Default: discarded.
	Logger *slog.Logger
}

// Timing of a loopback cluster. Production defaults are tuned for a WAN;
// these keep the same ratios at loopback speed so a schedule of a few
// seconds sees elections, session deaths and redials.
var (
	// testLink: DTLS handshake retransmits every 50 ms, SCTP's RTO fixed
	// at 50 ms and a congestion-window floor so 30% loss still moves.
	testLink = transport.LinkConfig{
		HandshakeTimeout:  5 * time.Second,
		FlightInterval:    50 * time.Millisecond,
		RTOMax:            50 * time.Millisecond,
		MinCwndBytes:      64 << 10,
		KeepaliveInterval: 250 * time.Millisecond,
		IdleTimeout:       3 * time.Second,
		CloseTimeout:      500 * time.Millisecond,
	}
	// testSession: a session is dead after 1.5 s of silence.
	testSession = syncproto.SessionConfig{PingInterval: 200 * time.Millisecond, DeadAfter: 1500 * time.Millisecond}
)

// Cluster is a chain running in this process: HQ Raft nodes, store nodes
// whose HQ links pass through faultnet, and a posbridge WebSocket server
// per store for its tills. Every node has its own directory and bbolt
// file, so a crash closes it and a restart reopens the same files.
type Cluster struct {
	opts      Options
	log       *slog.Logger
	dir       string
	ca        *hq.CA
	servers   []hq.Server
	syncAddrs []string
	keys      map[string][]byte // the keys HQ holds
	stats     faultStats
	raft      *raftLinks // the fault layer under Raft's TCP
	ports     *rand.Rand // draws fixed ports; used by New only

	HQs    []*HQMember
	Stores []*StoreMember
}

// HQMember is one HQ node, up or down.
type HQMember struct {
	ID       string
	Clock    *Clock
	dir      string
	raftAddr string
	syncAddr string
	trace    *tracer

	mu   sync.Mutex // guards following
	node *node.Node
	hq   *chain.HQ
}

// StoreMember is one store node, up or down.
type StoreMember struct {
	ID    string
	Clock *Clock
	Tills []string // terminal ids
	dir   string
	key   []byte
	trace *tracer
	links *links

	mu      sync.Mutex // guards following
	node    *node.Node
	link    *chain.Store
	svc     service
	server  *posbridge.Server
	posAddr string
	cancel  context.CancelFunc
	served  chan struct{} // closed when Serve returned
	// replaced: the store's disk was lost (ReplaceStore) or restored
	// (RestoreStore); its new incarnation catches up from HQ before
	// serving tills. freshFile: its next start resets the tracer.
	replaced, freshFile bool
}

// New starts a cluster and waits until HQ has a leader and every store
// has the programme. Close stops it and removes its files.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	dir, err := os.MkdirTemp("", "testcluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, log: opts.Logger, dir: dir, keys: map[string][]byte{}, raft: newRaftLinks(),
		ports: rand.New(rand.NewPCG(opts.Seed, uint64(time.Now().UnixNano())))}
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (o Options) withDefaults() Options {
	if o.HQ == 0 {
		o.HQ = 3
	}
	if o.Stores == 0 {
		o.Stores = 2
	}
	if o.TillsPerStore == 0 {
		o.TillsPerStore = 2
	}
	if o.Programme == nil {
		o.Programme = Programme(o.OfflineAllowance)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

func (c *Cluster) start(ctx context.Context) error {
	var err error
	if c.ca, err = hq.NewCA("testcluster"); err != nil {
		return err
	}
	var raftLns []net.Listener
	var syncPCs []net.PacketConn
	for i := 1; i <= c.opts.HQ; i++ {
		ln, err := listenFixed(c.ports)
		if err != nil {
			return err
		}
		pc, err := listenPacketFixed(c.ports)
		if err != nil {
			ln.Close()
			return err
		}
		raftLns, syncPCs = append(raftLns, ln), append(syncPCs, pc)
		id := fmt.Sprintf("HQ%d", i)
		c.servers = append(c.servers, hq.Server{ID: id, Addr: ln.Addr().String()})
		c.raft.add(ln.Addr().String(), id)
		c.syncAddrs = append(c.syncAddrs, pc.LocalAddr().String())
		c.HQs = append(c.HQs, &HQMember{ID: id, Clock: &Clock{}, dir: filepath.Join(c.dir, id),
			raftAddr: ln.Addr().String(), syncAddr: pc.LocalAddr().String(), trace: newTracer(id)})
	}
	for i := 1; i <= c.opts.Stores; i++ {
		id := fmt.Sprintf("S%d", i)
		c.keys[id] = []byte(fmt.Sprintf("key-of-store-%-8s", id))
		s := &StoreMember{ID: id, Clock: &Clock{}, dir: filepath.Join(c.dir, id), key: c.keys[id],
			trace: newTracer(id), links: newLinks(id)}
		if c.wrongKey(id) {
			s.key = []byte(fmt.Sprintf("not-the-key-of-%-8s", id))
		}
		for t := 1; t <= c.opts.TillsPerStore; t++ {
			s.Tills = append(s.Tills, fmt.Sprintf("T%d", t))
		}
		c.Stores = append(c.Stores, s)
	}
	for i, m := range c.HQs {
		if err := c.startHQ(ctx, m, raftLns[i], syncPCs[i]); err != nil {
			for _, ln := range raftLns[i+1:] {
				ln.Close()
			}
			for _, pc := range syncPCs[i+1:] {
				pc.Close()
			}
			return err
		}
	}
	for i, s := range c.Stores {
		// A store with a wrong key never hears from HQ, so it gets the
		// programme loaded locally, as an operator would.
		if err := c.startStore(ctx, s, i == 0 || c.wrongKey(s.ID)); err != nil {
			return err
		}
	}
	if err := poll(ctx, 30*time.Second, "an HQ leader", func() bool { return c.Leader() >= 0 }); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "the programme at every store", func() bool {
		for _, s := range c.Stores {
			if n := s.Node(); n == nil || n.Programme() == nil {
				return false
			}
		}
		return true
	})
}

func (c *Cluster) wrongKey(store string) bool {
	for _, w := range c.opts.WrongKey {
		if w == store {
			return true
		}
	}
	return false
}

// openNode opens a node's bbolt file in dir.
func (c *Cluster) openNode(ctx context.Context, dir, id string, auth node.HoldAuthority, clock *Clock, catchUp bool) (*node.Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(dir, "patron.db")
	cfg.Store, cfg.Logger, cfg.NoSync, cfg.Now = id, c.log, !c.opts.Durable, clock.Now
	if auth != nil {
		// A store: its origin is its id and an incarnation, as in
		// production. A replaced store catches up before serving; the
		// chain's first stores do not wait for HQ (some scenarios start
		// a store HQ refuses).
		cfg.Authority, cfg.CatchUpFromHQ = auth, catchUp
	} else {
		cfg.Origin = id
	}
	return node.Open(ctx, cfg)
}

// startHQ opens an HQ node on its directory and the given sockets.
func (c *Cluster) startHQ(ctx context.Context, m *HQMember, ln net.Listener, pc net.PacketConn) error {
	n, err := c.openNode(ctx, m.dir, m.ID, nil, m.Clock, false)
	if err != nil {
		ln.Close()
		pc.Close()
		return err
	}
	tlsCfg, err := c.ca.NodeTLS(m.ID)
	if err != nil {
		ln.Close()
		pc.Close()
		n.Close()
		return err
	}
	rc := hq.DefaultConfig()
	rc.ID, rc.Dir, rc.TLS, rc.Bootstrap = m.ID, filepath.Join(m.dir, "raft"), tlsCfg, c.servers
	rc.RaftListener, rc.Dial = c.raft.listener(m.ID, ln), c.raft.dialer(m.ID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	rc.DialTimeout, rc.IOTimeout = time.Second, 2*time.Second
	rc.NoSync = !c.opts.Durable
	h, err := chain.StartHQ(ctx, chain.HQConfig{Node: tracedNode{n, m.trace}, Raft: rc, SyncConn: pc,
		StoreKeys: func(id string) ([]byte, bool) { k, ok := c.keys[id]; return k, ok },
		Link:      testLink, Session: testSession, Logger: c.log})
	if err != nil {
		pc.Close()
		n.Close()
		return fmt.Errorf("testcluster: start %s: %w", m.ID, err)
	}
	m.mu.Lock()
	m.node, m.hq = n, h
	m.mu.Unlock()
	return nil
}

// startStore opens a store node, its link to HQ and its till server.
func (c *Cluster) startStore(ctx context.Context, s *StoreMember, loadProgramme bool) error {
	auth := chain.NewAuthority()
	n, err := c.openNode(ctx, s.dir, s.ID, auth, s.Clock, s.replaced)
	if err != nil {
		return err
	}
	if s.freshFile {
		// Replaced or restored: the file holds what it holds now, not
		// what the tracer saw the old one take.
		vv, err := n.VersionVector(ctx)
		if err != nil {
			n.Close()
			return err
		}
		s.trace.reset(vv)
		s.freshFile = false
	}
	fail := func(err error) error { n.Close(); return err }
	if loadProgramme {
		if _, err := n.LoadProgramme(ctx, c.opts.Programme); err != nil {
			return fail(err)
		}
	}
	for _, t := range s.Tills {
		if err := n.AddTerminal(ctx, t, tillToken(s.ID, t)); err != nil {
			return fail(err)
		}
	}
	link, err := chain.StartStore(ctx, chain.StoreConfig{Node: tracedNode{n, s.trace}, Authority: auth, Key: s.key,
		HQ: c.syncAddrs, NewPacketConn: s.links.open(int64(c.opts.Seed)*1000003 + int64(len(s.ID))*31 + int64(s.ID[len(s.ID)-1])),
		Link: testLink, Logger: c.log,
		Client: syncproto.ClientConfig{Session: testSession, HoldTimeout: 700 * time.Millisecond,
			DialTimeout: 2 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
			OnHQSession: func(hq engine.VersionVector) {
				if err := n.CatchUpTo(ctx, hq); err != nil {
					c.log.Warn("catch-up target", "store", s.ID, "err", err)
				}
			}}})
	if err != nil {
		return fail(err)
	}
	var ln net.Listener
	if s.posAddr == "" {
		ln, err = listenFixed(c.ports)
	} else {
		ln, err = listenRetry(ctx, "tcp", s.posAddr)
	}
	if err != nil {
		link.Close()
		return fail(err)
	}
	svc := newService(c.opts.Broken, n, s.ID)
	srv := posbridge.New(svc, posbridge.Config{Logger: c.log, RequestTimeout: 10 * time.Second})
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(serveCtx, ln) // ends with the context: the crash
	}()
	s.mu.Lock()
	s.node, s.link, s.svc, s.server, s.posAddr, s.cancel, s.served = n, link, svc, srv, ln.Addr().String(), cancel, served
	s.mu.Unlock()
	return nil
}

// tillToken is a terminal's bearer token.
func tillToken(store, till string) string { return "token-" + store + "-" + till }

// URL is the store's till WebSocket address; it stays the same across
// restarts.
func (s *StoreMember) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "ws://" + s.posAddr + posbridge.Path
}

// Token is a till's bearer token.
func (s *StoreMember) Token(till string) string { return tillToken(s.ID, till) }

// Node is the store's node, nil while it is down.
func (s *StoreMember) Node() *node.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

// Link is the store's replication link, nil while it is down.
func (s *StoreMember) Link() *chain.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

// Node is the HQ member's node, nil while it is down.
func (m *HQMember) Node() *node.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// HQ is the HQ member's chain node, nil while it is down.
func (m *HQMember) HQ() *chain.HQ {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hq
}

// Leader returns the index in HQs of the Raft leader, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.HQs {
		if h := m.HQ(); h != nil && h.Raft().IsLeader() {
			return i
		}
	}
	return -1
}

// Store returns the store with id.
func (c *Cluster) Store(id string) *StoreMember {
	for _, s := range c.Stores {
		if s.ID == id {
			return s
		}
	}
	panic("testcluster: no store " + id)
}

// Close stops every node and removes the cluster's files.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Stores {
		errs = append(errs, c.stopStore(s))
	}
	for _, m := range c.HQs {
		errs = append(errs, c.stopHQ(m))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// stopHQ closes an HQ node (Raft without leaving the cluster, its
// sockets, its node). Nothing is flushed that a crash would not keep.
func (c *Cluster) stopHQ(m *HQMember) error {
	m.mu.Lock()
	h, n := m.hq, m.node
	m.hq, m.node = nil, nil
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	return errors.Join(h.Close(), n.Close())
}

// stopStore crashes a store: its till connections are cut at once (the
// requests in flight still finish in the node, as in a real process they
// would either commit or not), the broken service's memory is dropped,
// the link stops, the file is closed.
func (c *Cluster) stopStore(s *StoreMember) error {
	s.mu.Lock()
	n, link, svc, cancel, served := s.node, s.link, s.svc, s.cancel, s.served
	s.node, s.link, s.svc, s.server, s.cancel = nil, nil, nil, nil, nil
	s.mu.Unlock()
	if n == nil {
		return nil
	}
	cancel()
	<-served
	svc.crash()
	return errors.Join(link.Close(), n.Close())
}

// listenRetry listens on addr, retrying while the port is still held by
// the socket just closed.
func listenRetry(ctx context.Context, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := poll(ctx, 5*time.Second, "listening on "+addr, func() bool {
		var err error
		ln, err = net.Listen(network, addr)
		return err == nil
	})
	return ln, err
}

func listenPacketRetry(ctx context.Context, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := poll(ctx, 5*time.Second, "listening on udp "+addr, func() bool {
		var err error
		pc, err = net.ListenPacket("udp", addr)
		return err == nil
	})
	return pc, err
}

// pollInterval spaces the checks of poll.
const pollInterval = 10 * time.Millisecond

// poll calls cond until it holds, ctx ends or within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(within)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("testcluster: no %s within %v", what, within)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testcluster: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// StoreEvents sums a version vector over every incarnation of a store:
// the events of the store a node holds.
func StoreEvents(vv engine.VersionVector, store string) uint64 {
	var n uint64
	for o, seq := range vv {
		if engine.OriginStore(o) == store {
			n += seq
		}
	}
	return n
}
