package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/adminapi"
	"github.com/patron/patron/node/programmeyaml"
	"github.com/patron/patron/posbridge"
	"github.com/patron/patron/posbridge/filedrop"
	"github.com/patron/patron/replication/transport"
)

// The wiring every node process shares (patron dev, patron store, patron
// hq): a metrics registry, the node on its data directory, the till front
// (WebSocket tills, legacy till files, admin HTTP) and a runner that stops
// every component and waits for it.

// shutdownGrace bounds how long a stopping node waits for in-flight till
// requests: long enough for a sale's commit, short enough for a service
// manager's stop timeout.
const shutdownGrace = 10 * time.Second

// programmeWaitPoll is how often a store without a programme checks
// whether HQ has sent one, before it starts its file bridge.
const programmeWaitPoll = 250 * time.Millisecond

// newRegistry returns a registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// nodeOptions say where a process's node lives and who it is.
type nodeOptions struct {
	data      string             // data directory; the bbolt file is data/patron.db
	store     string             // store id
	origin    string             // event origin; default store
	authority node.HoldAuthority // HQ for online redemptions; nil: the node decides itself
	sms       smsFlags           // the SMS gateway of the outbox (sms.go)
	catchUp   bool               // a store syncing with HQ: a new incarnation catches up before serving tills
}

// openNode creates the data directory and opens the node in it with its
// SMS gateway. closeNode closes the node, then the gateway.
func openNode(ctx context.Context, o nodeOptions, logger *slog.Logger, reg prometheus.Registerer) (n *node.Node, closeNode func() error, err error) {
	if err := os.MkdirAll(o.data, 0o750); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	gw, err := o.sms.build(logger)
	if err != nil {
		return nil, nil, err
	}
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(o.data, "patron.db")
	cfg.Store = o.store
	cfg.Origin = o.origin
	cfg.Authority = o.authority
	cfg.CatchUpFromHQ = o.catchUp
	cfg.Logger = logger
	cfg.Metrics = reg
	cfg.SMS = gw.sender
	if n, err = node.Open(ctx, cfg); err != nil {
		return nil, nil, errors.Join(err, gw.close())
	}
	gw.attach(n)
	return n, func() error { return errors.Join(n.Close(), gw.close()) }, nil
}

// addTerminals registers the tills' tokens (idempotent: a restart with the
// same flags changes nothing).
func addTerminals(ctx context.Context, n *node.Node, terminals []terminal) error {
	for _, t := range terminals {
		if err := n.AddTerminal(ctx, t.id, t.token); err != nil {
			return err
		}
	}
	return nil
}

// component is one long-running part of a process. run blocks until the
// component fails or stop makes it return; stop must make run return
// within its ctx.
type component struct {
	name string
	run  func() error
	stop func(ctx context.Context) error
}

// runComponents runs every component until ctx ends or one of them
// returns, then stops them all (each within shutdownGrace) and waits for
// every run to return. It returns the first failure, if any.
func runComponents(ctx context.Context, logger *slog.Logger, comps ...component) error {
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(comps))
	for _, c := range comps {
		go func() { results <- result{c.name, c.run()} }()
	}
	var first error
	pending := len(comps)
	select {
	case <-ctx.Done():
	case r := <-results:
		pending--
		if r.err != nil && !isClosed(r.err) {
			first = fmt.Errorf("%s: %w", r.name, r.err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for i := len(comps) - 1; i >= 0; i-- {
		if err := comps[i].stop(shutdownCtx); err != nil && !isClosed(err) {
			logger.Warn("stop", "component", comps[i].name, "err", err)
		}
	}
	for ; pending > 0; pending-- {
		r := <-results
		if first == nil && r.err != nil && !isClosed(r.err) && !errors.Is(r.err, context.Canceled) {
			first = fmt.Errorf("%s: %w", r.name, r.err)
		}
	}
	return first
}

// isClosed reports the errors servers return when they were stopped.
func isClosed(err error) bool {
	return errors.Is(err, http.ErrServerClosed) || errors.Is(err, posbridge.ErrServerClosed)
}

// httpComponent serves h on ln.
func httpComponent(name string, ln net.Listener, h http.Handler) component {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	return component{name: name, run: func() error { return srv.Serve(ln) }, stop: srv.Shutdown}
}

// tillFront is what a store node serves: tills over WebSocket and, when
// an inbox is configured, legacy till files.
type tillFront struct {
	pos   *posbridge.Server
	posLn net.Listener
	drop  *filedrop.Bridge // nil without an inbox
	node  *node.Node
	log   *slog.Logger
}

// newTillFront builds the till front of n; it does not serve yet.
func newTillFront(n *node.Node, posLn net.Listener, inbox, outbox string, logger *slog.Logger, reg prometheus.Registerer) (*tillFront, error) {
	pcfg := posbridge.DefaultConfig()
	pcfg.Logger = logger
	pcfg.Metrics = reg
	f := &tillFront{pos: posbridge.New(n, pcfg), posLn: posLn, node: n, log: logger}
	if inbox != "" {
		var err error
		f.drop, err = filedrop.New(n, filedrop.Config{Inbox: inbox, Outbox: outbox, Logger: logger, Metrics: reg})
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// components are the till front's runnable parts.
func (f *tillFront) components(ctx context.Context) []component {
	posCtx, stopPos := context.WithCancel(context.WithoutCancel(ctx))
	comps := []component{{
		name: "pos",
		run:  func() error { return f.pos.Serve(posCtx, f.posLn) },
		stop: func(sctx context.Context) error {
			err := f.pos.Shutdown(sctx)
			stopPos()
			return err
		},
	}}
	if f.drop != nil {
		dropCtx, stopDrop := context.WithCancel(context.WithoutCancel(ctx))
		comps = append(comps, component{
			name: "file bridge",
			run: func() error {
				// The bridge needs a programme to price files; a new store
				// gets its first from HQ. Files wait in the inbox meanwhile.
				if !f.waitForProgramme(dropCtx) {
					return nil
				}
				return f.drop.Run(dropCtx)
			},
			stop: func(context.Context) error { stopDrop(); return nil },
		})
	}
	return comps
}

// waitForProgramme polls until the node has a programme (true) or ctx
// ends (false).
func (f *tillFront) waitForProgramme(ctx context.Context) bool {
	if f.node.Programme() != nil {
		return true
	}
	f.log.Info("file bridge waits for a programme from HQ")
	t := time.NewTicker(programmeWaitPoll)
	defer t.Stop()
	for f.node.Programme() == nil {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// adminMux serves the admin endpoints every node has: /healthz (the
// process answers), /readyz (ready says whether it can serve; nil: always)
// and /metrics.
func adminMux(reg *prometheus.Registry, ready func() error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// readyTimeout bounds a readiness probe's look at the node.
const readyTimeout = 2 * time.Second

// nodeReady is a store node's readiness: the node is open and its data
// file readable, and it has a programme to price with. HQ being
// unreachable does not count: a store serves offline.
func nodeReady(n *node.Node) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		if err := n.Ping(ctx); err != nil {
			return err
		}
		if n.CatchingUp() {
			return errors.New("catching up from HQ (a new incarnation: replaced or restored); tills wait")
		}
		if n.Programme() == nil {
			return errors.New("no programme yet (waiting for HQ)")
		}
		return nil
	}
}

// checkProgramme parses a programme document as the node will.
func checkProgramme(path string, doc []byte) error {
	if _, err := programmeyaml.ParseProgramme(doc, time.LoadLocation); err != nil {
		if path == "" {
			path = "built-in demo"
		}
		return fmt.Errorf("programme %s: %w", path, err)
	}
	return nil
}

// linkFlags tune the DTLS links of store sync (both ends).
type linkFlags struct {
	handshakeTimeout time.Duration
	flightInterval   time.Duration
}

func (l *linkFlags) register(fs *flag.FlagSet) {
	d := transport.DefaultLinkConfig()
	fs.DurationVar(&l.handshakeTimeout, "handshake-timeout", d.HandshakeTimeout,
		"bound on a sync link's DTLS+SCTP handshake; a peer with a wrong key is refused (and counted) when it expires")
	fs.DurationVar(&l.flightInterval, "flight-interval", d.FlightInterval,
		"DTLS handshake retransmission interval (1s suits a WAN; tens of ms on loopback)")
}

func (l linkFlags) config() transport.LinkConfig {
	return transport.LinkConfig{HandshakeTimeout: l.handshakeTimeout, FlightInterval: l.flightInterval}
}

// listenTCP listens on addr, naming what for in the error.
func listenTCP(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", what, err)
	}
	return ln, nil
}

// closeAll closes listeners and sockets on an error path.
func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// storeFront is what every store-like node (dev, store) serves: the till
// listener (TLS optional), the admin listener and the till front on them.
type storeFront struct {
	posTLS  *certReloader // nil: plain ws://
	posLn   net.Listener
	adminLn net.Listener
	front   *tillFront
	// tokenRole is the admin API role of --admin-token (default
	// hq-admin; a store's is store-manager), and stores the status the
	// API reports (nil: the node alone). The caller sets them before run.
	tokenRole adminapi.Role
	stores    adminapi.StoreStatus
}

// openStoreFront opens the till and admin listeners and the till front.
// On error nothing is left open.
func openStoreFront(n *node.Node, fc frontConfig, posListen, adminListen, inbox, outbox string,
	logger *slog.Logger, reg prometheus.Registerer) (*storeFront, error) {
	posTLS, err := newPOSTLS(fc, logger)
	if err != nil {
		return nil, err
	}
	posLn, err := listenPOS(posListen, posTLS)
	if err != nil {
		return nil, err
	}
	adminLn, err := listenTCP("admin", adminListen)
	if err != nil {
		posLn.Close()
		return nil, err
	}
	front, err := newTillFront(n, posLn, inbox, outbox, logger, reg)
	if err != nil {
		closeAll(posLn, adminLn)
		return nil, err
	}
	return &storeFront{posTLS: posTLS, posLn: posLn, adminLn: adminLn, front: front}, nil
}

// url is the till endpoint tills dial.
func (s *storeFront) url() string { return posURL(s.posLn.Addr(), s.posTLS != nil) }

// close closes the listeners of a front that will not run.
func (s *storeFront) close() { closeAll(s.posLn, s.adminLn) }

// run serves the till front and mux (with GET /backup added behind the
// admin token) until ctx ends.
func (s *storeFront) run(ctx context.Context, n *node.Node, fc frontConfig, mux *http.ServeMux, logger *slog.Logger) error {
	mux.HandleFunc("GET "+backupPath, requireToken(fc.adminToken, "--admin-token or --admin-token-file", backupHandler(n, logger)))
	role := cmp.Or(s.tokenRole, adminapi.RoleHQAdmin)
	tokens, err := adminTokens(fc.adminToken, role, n.Hello(ctx, "").Store, fc.adminTokens)
	if err != nil {
		s.close()
		return err
	}
	api := mountAdminAPI(mux, storeAPIConfig(n, tokens, s.stores), logger)
	defer api.Close()
	comps := append(s.front.components(ctx), httpComponent("admin", s.adminLn, mux))
	if s.posTLS != nil {
		comps = append(comps, s.posTLS.component())
	}
	return runComponents(ctx, logger, comps...)
}
