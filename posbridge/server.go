package posbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/patron/patron/node"
)

// Path is where the server answers WebSocket upgrades.
const Path = "/pos/v1"

// Subprotocol is the WebSocket subprotocol of POS protocol v1.
const Subprotocol = "patron.pos.v1"

// ErrServerClosed is returned by [Server.Serve] after [Server.Shutdown].
var ErrServerClosed = errors.New("posbridge: server closed")

// Limits of the HTTP side, before a connection is upgraded.
const (
	// readHeaderTimeout bounds reading an upgrade request's headers, so a
	// half-open socket cannot hold a listener goroutine.
	readHeaderTimeout = 10 * time.Second
	// ioBufferBytes is the size of each connection's read and write
	// buffers; frames larger than this are simply read in pieces.
	ioBufferBytes = 4 << 10
	// closeGrace is how long a gracefully closed connection waits for the
	// till to answer the close frame before the socket is closed.
	closeGrace = time.Second
)

// Server is the POS WebSocket JSON-RPC server. Create it with [New]; serve
// it with [Server.Serve] or mount [Server.Handler]; end it with
// [Server.Shutdown], which also ends its subscription to the service.
type Server struct {
	svc         Service
	cfg         Config
	log         *slog.Logger
	met         *metrics
	upgrader    websocket.Upgrader
	unsubscribe func()

	mu      sync.Mutex // guards following
	closed  bool
	conns   map[*conn]struct{}
	pending int // connections admitted and not yet released, upgrading ones included
	drained chan struct{}
	isDrain bool
	servers map[*http.Server]struct{}
}

// New returns a server over svc and subscribes to its member changes. It
// panics if cfg is invalid (call cfg.Validate first for configuration read
// from outside); zero fields take their defaults.
func New(svc Service, cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		svc:     svc,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "posbridge"),
		met:     newMetrics(cfg.Metrics),
		conns:   make(map[*conn]struct{}),
		drained: make(chan struct{}),
		servers: make(map[*http.Server]struct{}),
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: readHeaderTimeout,
		ReadBufferSize:   ioBufferBytes,
		WriteBufferSize:  ioBufferBytes,
		Subprotocols:     []string{Subprotocol},
		// Any origin: tills are not browsers, and the credential is a
		// bearer token the client presents, never an ambient cookie.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.unsubscribe = svc.Subscribe(s.memberChanged)
	return s
}

// Handler returns the HTTP handler that serves [Path].
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, s.serveWS)
	return mux
}

// Serve accepts connections on ln until [Server.Shutdown] is called, when
// it returns [ErrServerClosed] (Shutdown goes on to drain connections), or
// until ctx is done, when it closes every connection at once and returns
// ctx's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.servers[hs] = struct{}{}
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return ErrServerClosed
		}
		return fmt.Errorf("posbridge: serve: %w", err)
	case <-ctx.Done():
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(expired)
		<-errc
		return ctx.Err()
	}
}

// Shutdown stops accepting connections and reading requests, lets the
// requests in flight finish and flushes their responses, then closes each
// connection with 1001 (going away). It returns when every connection is
// closed, or when ctx is done: then it closes the rest at once (cancelling
// their requests' contexts) and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	servers := make([]*http.Server, 0, len(s.servers))
	for hs := range s.servers {
		servers = append(servers, hs)
	}
	conns := s.connsLocked()
	s.maybeDrainedLocked()
	s.mu.Unlock()

	if first {
		s.unsubscribe()
	}
	for _, hs := range servers {
		// Upgraded connections are hijacked, so this only closes the
		// listeners and idle HTTP connections.
		_ = hs.Shutdown(ctx)
	}
	for _, c := range conns {
		c.stop()
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	conns = s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.force("shutdown deadline")
	}
	return fmt.Errorf("posbridge: shutdown: %w", ctx.Err())
}

func (s *Server) connsLocked() []*conn {
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) maybeDrainedLocked() {
	if s.closed && s.pending == 0 && !s.isDrain {
		s.isDrain = true
		close(s.drained)
	}
}

// serveWS authenticates, upgrades and serves one till connection; the HTTP
// server's goroutine for the request is the connection's reader.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	terminal, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if offered := websocket.Subprotocols(r); len(offered) > 0 && !slices.Contains(offered, Subprotocol) {
		http.Error(w, "unsupported subprotocol; this server speaks "+Subprotocol, http.StatusBadRequest)
		return
	}
	if err := s.admit(); err != nil {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	defer s.release()
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	c := newConn(s, ws, terminal)
	if !s.register(c) {
		c.closeNow(websocket.CloseGoingAway, "server shutting down")
		return
	}
	defer s.unregister(c)
	c.run()
}

// authenticate finds the terminal from the bearer token in the
// Authorization header or, failing a header, the token query parameter.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	token := r.URL.Query().Get("token")
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, found := strings.Cut(h, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		token = strings.TrimSpace(t)
	}
	if token == "" {
		return "", false
	}
	return s.svc.AuthenticateTerminal(token)
}

var errTooMany = errors.New("posbridge: too many connections")

// admit reserves a connection slot.
func (s *Server) admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrServerClosed
	case s.pending >= s.cfg.MaxConnections:
		return errTooMany
	}
	s.pending++
	return nil
}

// release returns the slot taken by admit.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	s.maybeDrainedLocked()
}

// register adds an upgraded connection, unless the server is closing.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.met.connections.Inc()
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.met.connections.Dec()
}

// memberChanged pushes member.changed to every connection watching the
// member. It never blocks: a connection whose queue is full is dropped.
func (s *Server) memberChanged(ch node.MemberChange) {
	if ch.Member.MemberID == "" {
		return
	}
	frame, err := json.Marshal(notification{JSONRPC: jsonrpcVersion, Method: "member.changed", Params: ch})
	if err != nil {
		s.log.Error("posbridge: encode member.changed", "err", err)
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.watching(ch.Member.MemberID, now) {
			c.enqueue(frame)
		}
	}
}

// numConns is the number of registered connections, for tests.
func (s *Server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
