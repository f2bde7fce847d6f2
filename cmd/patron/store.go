package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/adminapi"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/syncproto"
)

// storeOptions are the flags of patron store.
type storeOptions struct {
	store       string
	data        string
	hq          string
	key         string
	keyFile     string
	posListen   string
	adminListen string
	front       frontFlags
	peers       multiFlag
	peerKeys    multiFlag
	peerKeyFile string
	peerListen  string
	inbox       string
	outbox      string
	programme   string
	link        linkFlags
	logFormat   string
	logLevel    string
	sms         smsFlags
}

// storeFlags registers patron store's flags into a new flag set.
func storeFlags(o *storeOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("patron store", flag.ContinueOnError)
	fs.StringVar(&o.store, "store", "", "store id, e.g. S001: its node's id, event origin and DTLS identity at HQ (required)")
	fs.StringVar(&o.data, "data", "", "data directory (the bbolt file lives here) (required)")
	fs.StringVar(&o.hq, "hq", "", "HQ nodes' sync addresses `HOST:PORT,...` (UDP, their --sync-listen) (required)")
	fs.StringVar(&o.key, "key", "", "this store's pre-shared key in hex, as HQ holds it (--store-key)")
	fs.StringVar(&o.keyFile, "key-file", "", "file holding the store's key in hex (instead of --key)")
	fs.StringVar(&o.posListen, "pos-listen", ":7070", "address for tills (WebSocket, path /pos/v1)")
	fs.StringVar(&o.adminListen, "admin-listen", ":8080", "address for /healthz, /readyz, /metrics and /status")
	o.front.register(fs)
	fs.Var(&o.peers, "peer", "a peer store `ID=HOST:PORT` (its --peer-listen) to sync with while HQ is unreachable (repeatable)")
	fs.Var(&o.peerKeys, "peer-key", "the key this store shares with a peer, `ID=HEX`; both stores give the same one (repeatable)")
	fs.StringVar(&o.peerKeyFile, "peer-keys", "", "file of peer keys, one ID=HEX a line (# comments allowed), instead of --peer-key")
	fs.StringVar(&o.peerListen, "peer-listen", "", "UDP address peer stores sync with (default: peers are only dialled)")
	fs.StringVar(&o.inbox, "inbox", "", "folder legacy tills drop POSLog or bill XML files into (default: no file bridge)")
	fs.StringVar(&o.outbox, "outbox", "", "folder the file bridge writes offer files to (default: none)")
	fs.StringVar(&o.programme, "programme", "", "programme file to start with when the store has none yet (default: wait for HQ's)")
	o.sms.register(fs, smsNone)
	o.link.register(fs)
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return fs
}

func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o storeOptions
	fs := storeFlags(&o)
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("patron store: unexpected argument %q (flags only; see patron store -h)", fs.Arg(0))
	}
	c, err := o.resolve()
	if err != nil {
		return err
	}
	logger, _ := newLogger(stderr, o.logFormat, o.logLevel) // checked by resolve
	return serveStore(ctx, c, stdout, logger)
}

// storeConfig is patron store's options, checked and loaded.
type storeConfig struct {
	storeOptions
	frontConfig
	hqAddrs   []string
	key       []byte
	peers     []chain.Peer
	programme []byte // nil: none given
}

// resolve checks the options, reporting every problem at once, and reads
// the files they name.
func (o storeOptions) resolve() (storeConfig, error) {
	c := storeConfig{storeOptions: o}
	var errs []error
	if o.store == "" {
		errs = append(errs, errors.New("--store is required"))
	}
	if o.data == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	if c.hqAddrs = splitList(o.hq); len(c.hqAddrs) == 0 {
		errs = append(errs, errors.New("--hq is required"))
	}
	keyHex := o.key
	switch {
	case o.key != "" && o.keyFile != "":
		errs = append(errs, errors.New("give --key or --key-file, not both"))
	case o.keyFile != "":
		s, err := readSecret(o.keyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--key-file: %w", err))
		}
		keyHex = s
	case o.key == "":
		errs = append(errs, errors.New("--key or --key-file is required"))
	}
	if keyHex != "" {
		k, err := parseHexKey("--key", keyHex)
		if err != nil {
			errs = append(errs, err)
		}
		c.key = k
	}
	peers, err := parsePeers(o.peers, o.peerKeys, o.peerKeyFile)
	if err != nil {
		errs = append(errs, err)
	}
	c.peers = peers
	if o.peerListen != "" && len(peers) == 0 {
		errs = append(errs, errors.New("--peer-listen needs at least one --peer with its --peer-key"))
	}
	if o.outbox != "" && o.inbox == "" {
		errs = append(errs, errors.New("--outbox needs --inbox"))
	}
	fc, ferrs := o.front.resolve()
	c.frontConfig, errs = fc, append(errs, ferrs...)
	errs = append(errs, checkListen("pos-listen", o.posListen), checkListen("admin-listen", o.adminListen),
		checkListen("peer-listen", o.peerListen))
	if o.programme != "" {
		if c.programme, err = programmeBytes(o.programme); err != nil {
			errs = append(errs, err)
		} else if err := checkProgramme(o.programme, c.programme); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, o.sms.check())
	if _, err := newLogger(io.Discard, o.logFormat, o.logLevel); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("patron store: %w", err)
	}
	return c, nil
}

// parsePeers pairs --peer ID=ADDR with --peer-key ID=HEX (and the keys
// of the --peer-keys file, if any).
func parsePeers(peers, peerKeys []string, keyFile string) ([]chain.Peer, error) {
	keys := map[string][]byte{}
	if err := parseKeyPairs("peer-key", peerKeys, keys); err != nil {
		return nil, err
	}
	if keyFile != "" {
		file := map[string][]byte{}
		if err := readKeyFile(keyFile, file); err != nil {
			return nil, fmt.Errorf("--peer-keys: %w", err)
		}
		for id, k := range file {
			if _, dup := keys[id]; dup {
				return nil, fmt.Errorf("--peer-keys: %s is also given by --peer-key", id)
			}
			keys[id] = k
		}
	}
	var out []chain.Peer
	seen := map[string]bool{}
	for _, p := range peers {
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peer %q: want ID=HOST:PORT", p)
		}
		if seen[id] {
			return nil, fmt.Errorf("--peer: %s given twice", id)
		}
		seen[id] = true
		k, ok := keys[id]
		if !ok {
			return nil, fmt.Errorf("--peer %s: no --peer-key %s=HEX", id, id)
		}
		out = append(out, chain.Peer{ID: id, Addr: addr, Key: k})
	}
	for id := range keys {
		if !seen[id] {
			return nil, fmt.Errorf("--peer-key %s: no --peer %s=HOST:PORT", id, id)
		}
	}
	return out, nil
}

// serveStore runs a store node until ctx ends: its node, its link to HQ
// (and peers), tills, the file bridge and the admin listener.
func serveStore(ctx context.Context, c storeConfig, stdout io.Writer, logger *slog.Logger) error {
	reg := newRegistry()
	auth := chain.NewAuthority()
	n, closeNode, err := openNode(ctx, nodeOptions{data: c.data, store: c.store, authority: auth, sms: c.sms, catchUp: true}, logger, reg)
	if err != nil {
		return err
	}
	defer closeNode()
	if c.programme != nil && n.Programme() == nil {
		if _, err := n.LoadProgramme(ctx, c.programme); err != nil {
			return fmt.Errorf("programme: %w", err)
		}
	}
	if err := addTerminals(ctx, n, c.terminals); err != nil {
		return err
	}

	sf, err := openStoreFront(n, c.frontConfig, c.posListen, c.adminListen, c.inbox, c.outbox, logger, reg)
	if err != nil {
		return err
	}
	var peerConn net.PacketConn
	if c.peerListen != "" {
		if peerConn, err = net.ListenPacket("udp", c.peerListen); err != nil {
			sf.close()
			return fmt.Errorf("peer listener: %w", err)
		}
	}
	sc := chain.StoreConfig{Node: n, Authority: auth, Key: c.key, HQ: c.hqAddrs, Peers: c.peers,
		Link: c.link.config(), Logger: logger, Metrics: reg}
	if peerConn != nil {
		sc.PeerConn = peerConn
	}
	sc.Client.OnHQSession = func(hq engine.VersionVector) {
		if err := n.CatchUpTo(ctx, hq); err != nil {
			logger.Warn("catch-up target", "err", err)
		}
	}
	link, err := chain.StartStore(ctx, sc)
	if err != nil {
		sf.close()
		if peerConn != nil {
			peerConn.Close()
		}
		return err
	}
	defer link.Close()
	registerStoreMetrics(reg, link)

	status := &storeAdmin{node: n, link: link, auth: auth, store: c.store}
	sf.tokenRole, sf.stores = adminapi.RoleStoreManager, status
	printStoreBanner(stdout, c, sf.url(), sf.adminLn.Addr(), peerConn)
	logger.Info("store node up", "store", c.store, "pos", sf.posLn.Addr().String(), "admin", sf.adminLn.Addr().String(),
		"hq", strings.Join(c.hqAddrs, ","), "peers", len(c.peers), "programme", n.Programme() != nil, "tls", sf.posTLS != nil)
	if n.Programme() == nil {
		logger.Info("no programme yet: tills are answered unavailable until HQ sends one")
	}
	err = sf.run(ctx, n, c.frontConfig, mountConsole(status.routes(adminMux(reg, nodeReady(n))), storeConsole(c.store, sf.url())), logger)
	logger.Info("store node stopping")
	return err
}

func printStoreBanner(w io.Writer, c storeConfig, url string, admin net.Addr, peer net.PacketConn) {
	fmt.Fprintf(w, "patron %s: store %s, data in %s, HQ %s\n", version, c.store, c.data, strings.Join(c.hqAddrs, ","))
	fmt.Fprintf(w, "pos listening on %s\n", url)
	fmt.Fprintf(w, "admin listening on http://%s (/healthz, /readyz, /metrics, /status, /backup)\n", dialable(admin))
	if peer != nil {
		fmt.Fprintf(w, "peer sync listening on udp %s\n", peer.LocalAddr())
	}
	printTerminals(w, c.terminals, c.generated)
}

// registerStoreMetrics exports the HQ link's state: catch-up progress is
// patron_store_hq_behind_events falling to zero.
func registerStoreMetrics(reg prometheus.Registerer, link *chain.Store) {
	gauge := func(name, help string, f func(syncproto.ClientState) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(link.State()) })
	}
	reg.MustRegister(
		gauge("patron_store_hq_connected", "1 while a sync session with the HQ leader is up.",
			func(s syncproto.ClientState) float64 { return boolGauge(s.HQ.Connected) }),
		gauge("patron_store_hq_behind_events", "Events HQ holds that this store lacks, as of HQ's last version vector (catch-up progress).",
			func(s syncproto.ClientState) float64 { return float64(s.HQ.Behind) }),
		gauge("patron_store_hq_lag_events", "Events of this store HQ has not acknowledged.",
			func(s syncproto.ClientState) float64 { return float64(s.HQ.Lag) }),
		gauge("patron_store_hq_last_seen_timestamp_seconds", "When the last message from HQ arrived (Unix time; 0 never).",
			func(s syncproto.ClientState) float64 { return unixSeconds(linkLastSeen(s.HQ, time.Now())) }),
		gauge("patron_store_peer_sessions", "Peer store sessions running (only while HQ is unreachable).",
			func(s syncproto.ClientState) float64 { return float64(len(s.Peers)) }),
	)
}

// linkLastSeen is when the link's peer was last heard from: the link's
// own record when it keeps one; now while it is up; when it went down
// (Since) after it was up once; zero if never.
func linkLastSeen(l syncproto.LinkState, now time.Time) time.Time {
	switch {
	case !l.LastSeen.IsZero():
		return l.LastSeen
	case l.Connected:
		return now
	default:
		return l.Since
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// storeAdmin serves a store's /status and readiness.
type storeAdmin struct {
	node  *node.Node
	link  *chain.Store
	auth  *chain.Authority
	store string
}

func (a *storeAdmin) routes(mux *http.ServeMux) *http.ServeMux {
	mux.HandleFunc("GET /status", a.status)
	return mux
}

// storeStatus is GET /status of a store node.
type storeStatus struct {
	Role        string            `json:"role"` // "store"
	Store       string            `json:"store"`
	Origin      string            `json:"origin"` // this incarnation's event origin
	Version     string            `json:"version"`
	Programme   string            `json:"programme"` // current version, "" while waiting for HQ
	HQReachable bool              `json:"hq_reachable"`
	HQ          linkStatus        `json:"hq"`
	HQDownSince time.Time         `json:"hq_down_since,omitzero"`
	Peers       []linkStatus      `json:"peers"`
	CatchUp     catchUpStatus     `json:"catch_up"`
	Overdrafts  int               `json:"overdrafts"`
	Events      map[string]uint64 `json:"events"`       // version vector: events held per origin
	ChainFormat int               `json:"chain_format"` // the event format the chain writes (docs/upgrades.md)
	BuildFormat int               `json:"build_format"` // the newest this build writes
}

type catchUpStatus struct {
	// Behind is how many events HQ holds that this store lacks, as of
	// HQ's last version vector; Active while it is above zero.
	Behind uint64 `json:"behind"`
	Active bool   `json:"active"`
	// TillsWaiting: a new incarnation (replaced or restored) that does
	// not yet hold what HQ held at its first session serves no till.
	TillsWaiting bool `json:"tills_waiting"`
}

// linkStatus is one sync link.
type linkStatus struct {
	Addr           string    `json:"addr"`
	Peer           string    `json:"peer"`
	Connected      bool      `json:"connected"`
	Since          time.Time `json:"since,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	RTTMillis      float64   `json:"rtt_ms"`
	Lag            uint64    `json:"lag"`
	Behind         uint64    `json:"behind"`
	EventsSent     uint64    `json:"events_sent"`
	EventsReceived uint64    `json:"events_received"`
	LastError      string    `json:"last_error,omitempty"`
}

func toLinkStatus(l syncproto.LinkState, now time.Time) linkStatus {
	return linkStatus{Addr: l.Addr, Peer: l.PeerOrigin, Connected: l.Connected, Since: l.Since, LastSeen: linkLastSeen(l, now),
		RTTMillis: float64(l.RTT.Microseconds()) / 1000, Lag: l.Lag, Behind: l.Behind,
		EventsSent: l.EventsSent, EventsReceived: l.EventsReceived, LastError: l.LastError}
}

func (a *storeAdmin) status(w http.ResponseWriter, r *http.Request) {
	st := a.link.State()
	now := time.Now()
	s := storeStatus{Role: "store", Store: a.store, Origin: a.node.Origin(), Version: version, HQReachable: a.auth.Reachable(),
		ChainFormat: a.node.ChainFormat(), BuildFormat: engine.CurrentChainFormat,
		HQ: toLinkStatus(st.HQ, now), HQDownSince: st.HQDownSince, Peers: []linkStatus{},
		CatchUp: catchUpStatus{Behind: st.HQ.Behind, Active: (st.HQ.Connected && st.HQ.Behind > 0) || a.node.CatchingUp(),
			TillsWaiting: a.node.CatchingUp()}}
	for _, p := range st.Peers {
		s.Peers = append(s.Peers, toLinkStatus(p, now))
	}
	if p := a.node.Programme(); p != nil {
		s.Programme = p.Version
	}
	if ods, err := a.node.Overdrafts(r.Context()); err == nil {
		s.Overdrafts = len(ods)
	}
	vv, err := a.node.VersionVector(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "status: " + err.Error()})
		return
	}
	s.Events = vv
	writeJSON(w, http.StatusOK, s)
}
