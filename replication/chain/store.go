package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
	"github.com/patron/patron/replication/syncproto"
	"github.com/patron/patron/replication/transport"
)

// Peer is another store this store syncs with while HQ is unreachable.
// Both stores configure the same Key for their pair.
type Peer struct {
	ID   string
	Addr string
	Key  []byte
}

// StoreConfig configures a store's replication.
type StoreConfig struct {
	// Node is the store's event log; its Origin is the store id and
	// incarnation (engine.OriginStore), and the store id is the DTLS
	// identity. Required.
	Node replication.EventLog
	// Authority is the hold authority the node was opened with. Required.
	Authority *Authority
	// Key is the store's pre-shared key, which HQ holds. Required.
	Key []byte
	// HQ lists the HQ nodes' sync addresses. Required.
	HQ []string
	// Peers are the peer stores. Default none.
	Peers []Peer
	// PeerConn, if set, is the UDP socket peer stores dial; the store then
	// serves them (with the keys of Peers). StartStore owns it.
	PeerConn net.PacketConn
	// NewPacketConn opens the UDP socket of one outgoing link. Default: a
	// fresh socket on an ephemeral port. The test cluster injects faults
	// here.
	NewPacketConn func() (net.PacketConn, error)
	// Link tunes DTLS/SCTP links; Client tunes the sync client (its Log,
	// HQ, Peers and Dial are set here).
	Link   transport.LinkConfig
	Client syncproto.ClientConfig
	// Logger and Metrics: defaults slog.Default() and none.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Store is a running store link.
type Store struct {
	client   *syncproto.Client
	server   *syncproto.Server // nil without PeerConn
	listener *transport.Listener
	peerConn net.PacketConn // owned: the listener only borrows it
	feed     *syncproto.Feed
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex // guards closed
	closed   bool
}

// StartStore starts syncing the store with HQ (and with peers while HQ is
// away) and binds the store's Authority to the HQ session.
func StartStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.Node == nil || cfg.Authority == nil || len(cfg.Key) == 0 || len(cfg.HQ) == 0 {
		return nil, errors.New("chain: store needs Node, Authority, Key and HQ addresses")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewPacketConn == nil {
		cfg.NewPacketConn = func() (net.PacketConn, error) { return net.ListenPacket("udp", ":0") }
	}
	link := cfg.Link
	link.Logger = cfg.Logger
	s := &Store{feed: syncproto.NewFeed(cfg.Node)}
	cc := cfg.Client
	cc.Log = cfg.Node
	cc.HQ = cfg.HQ
	cc.Feed = s.feed
	cc.Dial = s.dialer(cfg, link)
	for _, p := range cfg.Peers {
		cc.Peers = append(cc.Peers, p.Addr)
	}
	if cc.Session.Logger == nil {
		cc.Session.Logger = cfg.Logger
	}
	client, err := syncproto.NewClient(cc)
	if err != nil {
		return nil, err
	}
	s.client = client
	if cfg.PeerConn != nil {
		if err := s.servePeers(cfg, link); err != nil {
			return nil, err
		}
	}
	cfg.Authority.bind(client.Holds())
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.feed.Run(runCtx) }()
	go func() { defer s.wg.Done(); client.Run(runCtx) }()
	if s.server != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.server.Serve(runCtx, accepter(s.listener))
		}()
	}
	return s, nil
}

// dialer opens a DTLS link to HQ with the store's key, or to a peer store
// with their pair's key.
func (s *Store) dialer(cfg StoreConfig, link transport.LinkConfig) syncproto.DialFunc {
	peers := make(map[string]Peer, len(cfg.Peers))
	for _, p := range cfg.Peers {
		peers[p.Addr] = p
	}
	return func(ctx context.Context, addr string) (syncproto.MsgConn, error) {
		raddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("chain: sync address %q: %w", addr, err)
		}
		cc := transport.ClientConfig{Identity: engine.OriginStore(cfg.Node.Origin()), Key: cfg.Key, Link: link}
		if p, ok := peers[addr]; ok {
			cc.Key, cc.ExpectPeer = p.Key, p.ID
		}
		pc, err := cfg.NewPacketConn()
		if err != nil {
			return nil, fmt.Errorf("chain: socket: %w", err)
		}
		conn, err := transport.Dial(ctx, pc, raddr, cc)
		if err != nil {
			pc.Close()
			return nil, err
		}
		return &ownedConn{Conn: conn, pc: pc}, nil
	}
}

// servePeers accepts sessions from peer stores that hold their pair's key.
func (s *Store) servePeers(cfg StoreConfig, link transport.LinkConfig) error {
	keys := make(map[string][]byte, len(cfg.Peers))
	for _, p := range cfg.Peers {
		keys[p.ID] = p.Key
	}
	ln, err := transport.Listen(cfg.PeerConn, transport.ServerConfig{
		Identity: engine.OriginStore(cfg.Node.Origin()),
		Keys:     func(id string) ([]byte, bool) { k, ok := keys[id]; return k, ok },
		Metrics:  cfg.Metrics,
		Link:     link,
	})
	if err != nil {
		return fmt.Errorf("chain: peer listener: %w", err)
	}
	server, err := syncproto.NewServer(syncproto.ServerConfig{
		Log:     cfg.Node,
		Role:    syncproto.RolePeer,
		Feed:    s.feed,
		Session: cfg.Client.Session,
		Admit: func(_ context.Context, peer string, h syncproto.Hello) error {
			if engine.OriginStore(h.Origin) != peer {
				return fmt.Errorf("chain: peer authenticated as %q announced origin %q", peer, h.Origin)
			}
			return nil
		},
	})
	if err != nil {
		ln.Close()
		return err
	}
	s.listener, s.server, s.peerConn = ln, server, cfg.PeerConn
	return nil
}

// State reports the HQ session and any peer sessions.
func (s *Store) State() syncproto.ClientState { return s.client.State() }

// Close stops syncing and waits for every goroutine.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.cancel()
	var err error
	if s.server != nil {
		err = errors.Join(s.server.Close(), s.listener.Close())
	}
	s.wg.Wait()
	if s.peerConn != nil {
		err = errors.Join(err, s.peerConn.Close())
	}
	return err
}

// ownedConn closes the link's socket with the link: each outgoing link
// has its own.
type ownedConn struct {
	*transport.Conn
	pc net.PacketConn
}

func (c *ownedConn) Close() error { return errors.Join(c.Conn.Close(), c.pc.Close()) }

// accepter adapts a DTLS listener to the sync server. It must not return
// a nil *transport.Conn inside a non-nil MsgConn.
func accepter(ln *transport.Listener) syncproto.AcceptFunc {
	return func(ctx context.Context) (syncproto.MsgConn, error) {
		c, err := ln.Accept(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
