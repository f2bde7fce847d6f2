package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patron/patron/node/adminapi"
	"github.com/patron/patron/node/hqevents"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
)

const hqUsage = `Usage:
  patron hq [flags]          run an HQ node (see patron hq -h)
  patron hq certs --out DIR --nodes HQ1,HQ2,HQ3 [--hosts HOST,...]
                             write a cluster CA and a certificate per HQ node
  patron hq programme load --admin URL[,URL...] --token T FILE
                             load a programme at HQ; it reaches every store
  patron hq join   --admin URL[,URL...] --token T --id HQ4 --raft-addr ADDR
                             add an HQ node (started without --bootstrap) as a voter
  patron hq remove --admin URL[,URL...] --token T --id HQ3
                             remove an HQ node from the cluster
  patron hq overdrafts --admin URL [--token T]
                             list the overdrafts HQ found (JSON)
  patron hq status --admin URL
                             print a node's /status (JSON)
  patron hq upgrade finalize --admin URL[,URL...] --token T
                             after every node runs this build: let the chain
                             write this build's event format (docs/upgrades.md)
`

// hqOptions are the flags of patron hq.
type hqOptions struct {
	id             string
	data           string
	raftListen     string
	raftAdvertise  string
	syncListen     string
	adminListen    string
	bootstrap      string
	storeKeys      multiFlag
	storeKeysFile  string
	tlsDir         string
	tlsCert        string
	tlsKey         string
	tlsCA          string
	adminToken     string
	adminTokenFile string
	adminTokens    string // --admin-tokens-file
	heartbeat      time.Duration
	election       time.Duration
	link           linkFlags
	logFormat      string
	logLevel       string
	sms            smsFlags
}

func runHQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "certs":
			return runHQCerts(args[1:], stdout, stderr)
		case "programme":
			if len(args) < 2 || args[1] != "load" {
				fmt.Fprint(stderr, hqUsage)
				return errUsage
			}
			return runHQProgrammeLoad(ctx, args[2:], stdout, stderr)
		case "join":
			return runHQJoin(ctx, args[1:], stdout, stderr)
		case "remove":
			return runHQRemove(ctx, args[1:], stdout, stderr)
		case "overdrafts":
			return runHQGet(ctx, "patron hq overdrafts", "/overdrafts", args[1:], stdout, stderr)
		case "status":
			return runHQGet(ctx, "patron hq status", "/status", args[1:], stdout, stderr)
		case "upgrade":
			return runHQUpgrade(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, hqUsage)
			return nil
		}
	}
	var o hqOptions
	fs := hqFlags(&o)
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("patron hq: unexpected argument %q (flags only; see patron hq -h)", fs.Arg(0))
	}
	cfg, err := o.resolve()
	if err != nil {
		return err
	}
	logger, _ := newLogger(stderr, o.logFormat, o.logLevel) // checked by resolve
	return serveHQ(ctx, cfg, stdout, logger)
}

// hqFlags registers patron hq's flags into a new flag set.
func hqFlags(o *hqOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("patron hq", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), hqUsage+"\nFlags of patron hq (any of them may come from --config FILE):\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.id, "id", "", "this node's id in the HQ cluster, e.g. HQ1 (required; also its event origin)")
	fs.StringVar(&o.data, "data", "", "data directory: patron.db (the node) and raft/ (the Raft log and snapshots) (required)")
	o.sms.register(fs, smsNone)
	fs.StringVar(&o.raftListen, "raft-listen", "", "TCP address for Raft between HQ nodes, mutual TLS (required)")
	fs.StringVar(&o.raftAdvertise, "raft-advertise", "", "Raft address the other HQ nodes dial (default: this node's --bootstrap entry, else --raft-listen)")
	fs.StringVar(&o.syncListen, "sync-listen", "", "UDP address stores sync with (DTLS, pre-shared keys) (required)")
	fs.StringVar(&o.adminListen, "admin-listen", "", "address for /healthz, /readyz, /metrics, /status and the admin API (required)")
	fs.StringVar(&o.bootstrap, "bootstrap", "", "initial voters `HQ1=ADDR,HQ2=ADDR,HQ3=ADDR` (Raft addresses, this node included; same list on each; used only on first start). Omit on a node that joins later")
	fs.Var(&o.storeKeys, "store-key", "a store's pre-shared key `ID=HEX` (repeatable; at least 16 bytes)")
	fs.StringVar(&o.storeKeysFile, "store-keys", "", "file of store keys, one ID=HEX per line (# comments allowed)")
	fs.StringVar(&o.tlsDir, "tls-dir", "", "directory holding ca.pem, <id>.pem and <id>-key.pem (as patron hq certs writes them)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "this node's certificate, PEM (default <tls-dir>/<id>.pem)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "this node's private key, PEM (default <tls-dir>/<id>-key.pem)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "the cluster CA certificate, PEM (default <tls-dir>/ca.pem)")
	fs.StringVar(&o.adminToken, "admin-token", "", "token the admin API's POSTs require (Authorization: Bearer); without one they are refused. It is also an hq-admin token of the admin API under /api/v1/")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "file holding the admin token")
	fs.StringVar(&o.adminTokens, "admin-tokens-file", "", "file of /api/v1/ admin API tokens, one `ROLE[:STORE] TOKEN` a line (hq-admin, store-manager:S001; # comments allowed)")
	fs.DurationVar(&o.heartbeat, "raft-heartbeat", time.Second, "Raft heartbeat timeout (also its election timeout unless --raft-election)")
	fs.DurationVar(&o.election, "raft-election", 0, "Raft election timeout (default: --raft-heartbeat)")
	o.link.register(fs)
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return fs
}

// hqConfig is patron hq's options, checked and loaded.
type hqConfig struct {
	hqOptions
	servers    []hq.Server
	advertise  string
	keys       map[string][]byte // from --store-key; the file is the keyring's
	adminToken string
	apiTokens  []adminapi.Token // --admin-token's and --admin-tokens-file's
}

// resolve checks the options, reporting every problem at once, and reads
// the files they name.
func (o hqOptions) resolve() (hqConfig, error) {
	c := hqConfig{hqOptions: o, keys: map[string][]byte{}}
	var errs []error
	need := func(v, name string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s is required", name))
		}
	}
	need(o.id, "id")
	need(o.data, "data")
	need(o.raftListen, "raft-listen")
	need(o.syncListen, "sync-listen")
	need(o.adminListen, "admin-listen")
	if o.bootstrap != "" {
		var err error
		if c.servers, err = parseBootstrap(o.bootstrap); err != nil {
			errs = append(errs, err)
		}
	}
	c.advertise = o.raftAdvertise
	for _, s := range c.servers {
		if s.ID == o.id && c.advertise == "" {
			c.advertise = s.Addr
		}
	}
	if err := parseKeyPairs("store-key", o.storeKeys, c.keys); err != nil {
		errs = append(errs, err)
	}
	if o.storeKeysFile != "" {
		// Checked here so that its problems are listed with the others;
		// the keyring reads it for use.
		if _, err := (&storeKeyring{flags: c.keys, path: o.storeKeysFile}).read(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.tlsDir != "" && o.id != "" {
		setDefault(&c.tlsCert, filepath.Join(o.tlsDir, o.id+".pem"))
		setDefault(&c.tlsKey, filepath.Join(o.tlsDir, o.id+"-key.pem"))
		setDefault(&c.tlsCA, filepath.Join(o.tlsDir, "ca.pem"))
	}
	if c.tlsCert == "" || c.tlsKey == "" || c.tlsCA == "" {
		errs = append(errs, errors.New("Raft needs TLS: give --tls-dir, or --tls-cert, --tls-key and --tls-ca (patron hq certs makes them)"))
	} else if _, err := hq.LoadTLS(c.tlsCert, c.tlsKey, c.tlsCA); err != nil {
		errs = append(errs, err)
	}
	var err error
	if c.adminToken, err = secretFlag("admin-token", o.adminToken, o.adminTokenFile); err != nil {
		errs = append(errs, err)
	}
	if fileTokens, err := readAdminTokens(o.adminTokens); err != nil {
		errs = append(errs, err)
	} else if c.apiTokens, err = adminTokens(c.adminToken, adminapi.RoleHQAdmin, "", fileTokens); err != nil {
		errs = append(errs, err)
	}
	if o.heartbeat <= 0 || o.election < 0 {
		errs = append(errs, errors.New("--raft-heartbeat must be positive and --raft-election not negative"))
	}
	errs = append(errs, checkListen("raft-listen", o.raftListen), checkListen("sync-listen", o.syncListen),
		checkListen("admin-listen", o.adminListen), o.sms.check())
	if _, err := newLogger(io.Discard, o.logFormat, o.logLevel); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("patron hq: %w", err)
	}
	return c, nil
}

// parseBootstrap reads HQ1=ADDR,HQ2=ADDR.
func parseBootstrap(s string) ([]hq.Server, error) {
	var out []hq.Server
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--bootstrap %q: want ID=HOST:PORT,ID=HOST:PORT,...", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("--bootstrap: %s given twice", id)
		}
		seen[id] = true
		out = append(out, hq.Server{ID: id, Addr: addr})
	}
	return out, nil
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// serveHQ runs an HQ node until ctx ends: its node, Raft member, store
// sync listener and admin listener.
func serveHQ(ctx context.Context, c hqConfig, stdout io.Writer, logger *slog.Logger) error {
	tlsCfg, err := hq.LoadTLS(c.tlsCert, c.tlsKey, c.tlsCA)
	if err != nil {
		return err
	}
	keyring, err := newStoreKeyring(c.keys, c.storeKeysFile, logger)
	if err != nil {
		return err
	}
	if len(keyring.ids()) == 0 {
		logger.Warn("no store keys configured: every store will be refused (--store-key or --store-keys)")
	}
	reg := newRegistry()
	n, closeNode, err := openNode(ctx, nodeOptions{data: c.data, store: c.id, origin: c.id, sms: c.sms}, logger, reg)
	if err != nil {
		return err
	}
	defer closeNode()

	raftLn, err := listenTCP("raft", c.raftListen)
	if err != nil {
		return err
	}
	syncConn, err := net.ListenPacket("udp", c.syncListen)
	if err != nil {
		raftLn.Close()
		return fmt.Errorf("sync listener: %w", err)
	}
	adminLn, err := listenTCP("admin", c.adminListen)
	if err != nil {
		closeAll(raftLn, syncConn)
		return err
	}
	rc := hq.DefaultConfig()
	rc.ID, rc.Dir, rc.RaftListener, rc.AdvertiseAddr, rc.TLS = c.id, filepath.Join(c.data, "raft"), raftLn, c.advertise, tlsCfg
	rc.Bootstrap = c.servers
	rc.HeartbeatTimeout = c.heartbeat
	rc.ElectionTimeout = c.election
	if rc.ElectionTimeout == 0 {
		rc.ElectionTimeout = c.heartbeat
	}
	rc.LeaderLeaseTimeout = c.heartbeat / 2
	rc.Metrics = reg
	h, err := chain.StartHQ(ctx, chain.HQConfig{
		Node: n, Raft: rc, SyncConn: syncConn,
		StoreKeys: keyring.lookup,
		Link:      c.link.config(),
		Logger:    logger, Metrics: reg,
	})
	if err != nil {
		// StartHQ owns the listener and socket once called.
		adminLn.Close()
		return err
	}
	defer h.Close()

	admin := newHQAdmin(h, n, keyring.ids, c.adminToken, logger)
	admin.jobs = hqevents.NewScheduler(h.Raft(), time.Now, hqJobTick, logger.With("component", "hq jobs"),
		hqJobs(n, admin.events, logger)...)
	jobsCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "patron_hq_store_sessions", Help: "Store sessions this HQ node serves (only the Raft leader admits stores).",
	}, func() float64 { return float64(len(h.Sessions())) }))

	fmt.Fprintf(stdout, "patron %s: HQ node %s, data in %s\n", version, c.id, c.data)
	fmt.Fprintf(stdout, "raft listening on %s (advertised as %s)\n", raftLn.Addr(), h.Raft().Addr())
	fmt.Fprintf(stdout, "sync listening on udp %s (%d store keys)\n", syncConn.LocalAddr(), len(keyring.ids()))
	fmt.Fprintf(stdout, "admin listening on http://%s (/healthz, /readyz, /metrics, /status)\n", dialable(adminLn.Addr()))
	logger.Info("HQ node up", "id", c.id, "raft", h.Raft().Addr(), "sync", syncConn.LocalAddr().String(),
		"admin", adminLn.Addr().String(), "bootstrap", len(c.servers) > 0)

	mux := admin.routes(adminMux(reg, admin.ready))
	api := mountAdminAPI(mux, adminapi.Config{Node: n, Tokens: c.apiTokens, HQ: true, Programmes: hqProgrammes{admin},
		Stores: hqStores{admin}, MaxProgrammeBytes: maxProgrammeDocBytes}, logger)
	defer api.Close()
	stopWatch := make(chan struct{})
	comps := []component{
		httpComponent("admin", adminLn, mux),
		{
			name: "session book",
			run:  func() error { admin.book.run(stopWatch, h.Sessions); return nil },
			stop: func(context.Context) error { close(stopWatch); return nil },
		},
		{
			name: "hq jobs",
			run:  func() error { admin.jobs.Run(jobsCtx); return nil },
			stop: func(context.Context) error { stopJobs(); return nil },
		},
		failedComponent(h.Raft()),
	}
	err = runComponents(ctx, logger, comps...)
	logger.Info("HQ node stopping")
	return err
}

// failedComponent returns when the Raft member stopped itself because its
// store failed (see hq.ErrStoreFailed), so the process exits and its
// service manager restarts it.
func failedComponent(r *hq.Node) component {
	stop := make(chan struct{})
	return component{
		name: "raft",
		run: func() error {
			select {
			case <-r.Failed():
				return r.Err()
			case <-stop:
				return nil
			}
		},
		stop: func(context.Context) error { close(stop); return nil },
	}
}
