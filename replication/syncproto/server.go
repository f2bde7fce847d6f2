package syncproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/patron/patron/replication"
)

// AcceptFunc returns the next incoming connection. It returns an error
// only when no more will come (the listener closed); a transport must
// absorb a failed handshake itself.
type AcceptFunc func(ctx context.Context) (MsgConn, error)

// ServerConfig configures a Server. The zero value of every field but Log
// is valid and documents its default.
type ServerConfig struct {
	// Log is this node's event log. Required.
	Log replication.EventLog
	// Role is this node's role in accepted sessions: RoleHQ on HQ (peers
	// must be stores), RolePeer on a store accepting peer stores. Default
	// RoleHQ.
	Role Role
	// Applier commits received batches: on HQ, through Raft. Default
	// LogApplier{Log}.
	Applier Applier
	// Feed wakes sessions on commits; share one with the node's Client.
	// Default: the Server makes and runs its own.
	Feed *Feed
	// Holds decides hold requests (HQ). Default nil: answered unavailable.
	Holds HoldServer
	// Admit vets each peer's Hello (for instance, that its origin is the
	// transport's authenticated identity). Default nil: all admitted.
	Admit AdmitFunc
	// Session tunes every session.
	Session SessionConfig
	// MaxSessions bounds concurrent sessions; a connection beyond it is
	// closed at once. Default 1024 (stores per HQ node, with room).
	MaxSessions int
}

// Server accepts sessions and runs each in its own goroutine until its
// end, ctx's or Close.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu       sync.Mutex // guards following
	sessions map[*Session]struct{}
	cancel   context.CancelFunc // of the running Serve
	closed   bool
}

// NewServer validates cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	var errs []error
	if cfg.Log == nil {
		errs = append(errs, errors.New("syncproto: server config: Log is required"))
	}
	if cfg.Role != 0 && cfg.Role != RoleHQ && cfg.Role != RolePeer {
		errs = append(errs, fmt.Errorf("syncproto: server config: Role %s: want hq or peer", cfg.Role))
	}
	if cfg.MaxSessions < 0 {
		errs = append(errs, errors.New("syncproto: server config: MaxSessions negative"))
	}
	errs = append(errs, cfg.Session.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	setDefault(&cfg.Role, RoleHQ)
	setDefault(&cfg.MaxSessions, 1024)
	cfg.Session = cfg.Session.withDefaults()
	return &Server{
		cfg:      cfg,
		log:      cfg.Session.Logger.With("component", "sync-server"),
		sessions: make(map[*Session]struct{}),
	}, nil
}

// Serve accepts connections until ctx is done, Close is called or accept
// fails, and runs a session on each. It returns once every session has
// ended: ErrServerClosed after Close or ctx, else accept's error.
func (s *Server) Serve(ctx context.Context, accept AcceptFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.closed || s.cancel != nil {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.cancel = cancel
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	feed := s.cfg.Feed
	if feed == nil {
		feed = NewFeed(s.cfg.Log)
		wg.Go(func() { feed.Run(ctx) })
	}
	local := Local{Log: s.cfg.Log, Role: s.cfg.Role, Applier: s.cfg.Applier, Feed: feed, Holds: s.cfg.Holds, Admit: s.cfg.Admit}
	for {
		conn, err := accept(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return ErrServerClosed
		}
		if err != nil {
			return fmt.Errorf("syncproto: accept: %w", err)
		}
		sess, err := s.admitConn(conn, local)
		if err != nil {
			s.log.Warn("session refused", "peer", conn.Peer(), "err", err)
			conn.Close()
			continue
		}
		wg.Go(func() {
			err := sess.Run(ctx)
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
			if ctx.Err() == nil {
				s.log.Info("session ended", "peer", conn.Peer(), "err", err)
			}
		})
	}
}

func (s *Server) admitConn(conn MsgConn, local Local) (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= s.cfg.MaxSessions {
		return nil, fmt.Errorf("syncproto: %d sessions already", len(s.sessions))
	}
	sess, err := NewSession(conn, local, s.cfg.Session)
	if err != nil {
		return nil, err
	}
	s.sessions[sess] = struct{}{}
	return sess, nil
}

// Close stops Serve; Serve returns once every session has ended.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}

// EndSessions ends every running session by closing its connection; the
// server keeps accepting, and the peers reconnect (a store's Client does at
// once). An HQ node calls it when it loses Raft leadership: a store with
// nothing to send would otherwise stay with a node that can no longer
// commit, or that a partition cut off, and hear nothing new. It returns
// how many sessions it ended.
func (s *Server) EndSessions() int {
	s.mu.Lock()
	conns := make([]MsgConn, 0, len(s.sessions))
	for sess := range s.sessions {
		conns = append(conns, sess.conn)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// Sessions reports the running sessions.
func (s *Server) Sessions() []LinkState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LinkState, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess.State())
	}
	return out
}
