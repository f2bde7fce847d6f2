package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
	"github.com/patron/patron/replication/hq"
	"github.com/patron/patron/replication/syncproto"
	"github.com/patron/patron/replication/transport"
)

// HQNode is what an HQ process's node must be: an event log and the FSM's
// hold store. *node.Node is one.
type HQNode interface {
	replication.EventLog
	replication.HoldStore
}

// HQConfig configures an HQ process's replication.
type HQConfig struct {
	// Node is this HQ node's store. Required.
	Node HQNode
	// Raft configures the Raft member; its Store is set to Node.
	Raft hq.Config
	// SyncConn is the UDP socket stores dial. Required; HQ owns it from
	// StartHQ on and closes it.
	SyncConn net.PacketConn
	// StoreKeys returns the pre-shared key of a store id. Required.
	StoreKeys func(store string) ([]byte, bool)
	// Link tunes DTLS/SCTP links; Session tunes sync sessions.
	Link    transport.LinkConfig
	Session syncproto.SessionConfig
	// Logger and Metrics: defaults slog.Default() and none.
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// HQ is a running HQ node: Raft, the DTLS listener and the sync server.
type HQ struct {
	raft     *hq.Node
	listener *transport.Listener
	syncConn net.PacketConn // owned: the listener only borrows it
	server   *syncproto.Server
	feed     *syncproto.Feed
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex // guards closed
	closed   bool
}

// StartHQ opens the Raft member and starts serving store sessions. Only
// the Raft leader admits stores: a follower redirects them, so events and
// holds are proposed where they can commit.
func StartHQ(ctx context.Context, cfg HQConfig) (*HQ, error) {
	if cfg.Node == nil || cfg.SyncConn == nil || cfg.StoreKeys == nil {
		return nil, errors.New("chain: HQ needs Node, SyncConn and StoreKeys")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rc := cfg.Raft
	rc.Store = cfg.Node
	rc.Logger = cfg.Logger
	if rc.Metrics == nil {
		rc.Metrics = cfg.Metrics
	}
	raftNode, err := hq.Open(ctx, rc)
	if err != nil {
		cfg.SyncConn.Close()
		return nil, fmt.Errorf("chain: raft: %w", err)
	}
	link := cfg.Link
	link.Logger = cfg.Logger
	ln, err := transport.Listen(cfg.SyncConn, transport.ServerConfig{
		Identity: rc.ID, Keys: cfg.StoreKeys, Metrics: cfg.Metrics, Link: link,
	})
	if err != nil {
		raftNode.Close()
		cfg.SyncConn.Close()
		return nil, fmt.Errorf("chain: sync listener: %w", err)
	}
	h := &HQ{raft: raftNode, listener: ln, syncConn: cfg.SyncConn, feed: syncproto.NewFeed(cfg.Node)}
	session := cfg.Session
	if session.Logger == nil {
		session.Logger = cfg.Logger
	}
	h.server, err = syncproto.NewServer(syncproto.ServerConfig{
		Log:     cfg.Node,
		Role:    syncproto.RoleHQ,
		Applier: raftApplier{raftNode},
		Feed:    h.feed,
		Holds:   raftHolds{raftNode},
		Admit:   h.admit,
		Session: session,
	})
	if err != nil {
		ln.Close()
		raftNode.Close()
		cfg.SyncConn.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	h.wg.Add(3)
	go func() { defer h.wg.Done(); h.watchLeadership(runCtx, cfg.Logger) }()
	go func() { defer h.wg.Done(); h.feed.Run(runCtx) }()
	go func() {
		defer h.wg.Done()
		h.server.Serve(runCtx, accepter(ln))
	}()
	return h, nil
}

// admit lets a store in when it is who its key says and this node leads.
func (h *HQ) admit(_ context.Context, peer string, hello syncproto.Hello) error {
	if engine.OriginStore(hello.Origin) != peer {
		return fmt.Errorf("chain: peer authenticated as %q announced origin %q", peer, hello.Origin)
	}
	if !h.raft.IsLeader() {
		id, _ := h.raft.Leader()
		return &syncproto.RedirectError{LeaderID: id}
	}
	return nil
}

// LeadershipCheck spaces the checks of watchLeadership: a store on a
// deposed leader moves within about this long plus its reconnect, well
// inside Raft's own election time.
const LeadershipCheck = 100 * time.Millisecond

// watchLeadership ends the store sessions of this node when it stops
// leading. Only the leader admits stores (admit), but a session admitted
// before an election stays up: a store that sends nothing is never told
// to move and would hear nothing more if this node is cut off. Ending the
// sessions makes every store reconnect and be redirected to the leader.
func (h *HQ) watchLeadership(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(LeadershipCheck)
	defer t.Stop()
	was := h.raft.IsLeader()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		is := h.raft.IsLeader()
		if was && !is {
			n := h.server.EndSessions()
			log.Info("chain: lost Raft leadership; store sessions ended so stores move to the new leader", "sessions", n)
		}
		was = is
	}
}

// Raft is the Raft member, for admin commands and status.
func (h *HQ) Raft() *hq.Node { return h.raft }

// Sessions reports the store sessions this node serves.
func (h *HQ) Sessions() []syncproto.LinkState { return h.server.Sessions() }

// ListenerStats reports the DTLS listener's handshake counts (refused
// stores among them).
func (h *HQ) ListenerStats() transport.ListenerStats { return h.listener.Stats() }

// Close stops serving, leaves Raft and waits for every goroutine.
func (h *HQ) Close() error {
	h.closeMu.Lock()
	if h.closed {
		h.closeMu.Unlock()
		return nil
	}
	h.closed = true
	h.closeMu.Unlock()
	h.cancel()
	err := errors.Join(h.server.Close(), h.listener.Close())
	h.wg.Wait()
	// The socket is closed last and always: a restarted node binds the
	// same port again at once.
	return errors.Join(err, h.raft.Close(), h.syncConn.Close())
}

// raftApplier commits a store's batch through Raft before the session
// acknowledges it.
type raftApplier struct{ n *hq.Node }

func (a raftApplier) Apply(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	for {
		vv, err := a.n.AppendEvents(ctx, events)
		if err == nil {
			return vv, nil
		}
		if r := redirect(err); r != nil {
			return nil, r
		}
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue // events are idempotent by (origin, seq): propose again
		}
		return nil, err
	}
}

// raftHolds decides holds through Raft.
type raftHolds struct{ n *hq.Node }

func (r raftHolds) PlaceHold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	for {
		d, err := r.n.PlaceHold(ctx, h)
		if err == nil {
			return d, nil
		}
		if re := redirect(err); re != nil {
			return d, re
		}
		if errors.Is(err, hq.ErrInvalid) {
			return d, fmt.Errorf("%w: %w", syncproto.ErrInvalidHold, err)
		}
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue // a hold id decides once: asking again returns the decision
		}
		return d, err
	}
}

func (r raftHolds) VoidHold(ctx context.Context, id string) error {
	for {
		err := r.n.VoidHold(ctx, id)
		if err == nil {
			return nil
		}
		if re := redirect(err); re != nil {
			return re
		}
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// redirect turns Raft's "not the leader" into the sync protocol's
// redirect. The leader's sync address is not known here (Raft knows its
// Raft address), so the store tries its other HQ addresses.
func redirect(err error) error {
	var nl *hq.NotLeaderError
	if errors.As(err, &nl) {
		return &syncproto.RedirectError{LeaderID: nl.LeaderID}
	}
	return nil
}
