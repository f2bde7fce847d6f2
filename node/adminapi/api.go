package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// Limits with their reasons.
const (
	// MaxBodyBytes bounds a JSON request body (a sale of MaxBasketLines
	// lines is well under it).
	MaxBodyBytes = 1 << 20
	// DefaultMaxProgrammeBytes is the largest programme document taken
	// by default: its programme.loaded event carries it in base64 and
	// must fit the 1 MiB a store sync carries in one event, as on HQ.
	DefaultMaxProgrammeBytes = 768 << 10
	// DefaultMaxExports bounds the exports kept (running and finished).
	DefaultMaxExports = 16
	// DefaultMaxRunningExports bounds the exports running at once: each
	// scans the node's data on one core.
	DefaultMaxRunningExports = 2
	// DefaultExportTTL is how long a finished export stays for download.
	DefaultExportTTL = time.Hour
	// DefaultMaxExportBytes bounds one export file on disk.
	DefaultMaxExportBytes = 1 << 30
	// MaxJSONReportRows bounds a report answered as JSON (rows are held
	// in memory); past it the answer says truncated: use format=csv or
	// an export for the rest.
	MaxJSONReportRows = 10_000
	// MaxStatementEntries bounds a statement (held in memory to render).
	MaxStatementEntries = 50_000
	// CookieName is the session cookie holding the token.
	CookieName = "patron_admin"
)

// ProgrammeLoader loads a programme document (JSON or YAML) and returns
// its version. Validation problems are an *engine.ValidationError; wrap
// ErrConflict, ErrTooLarge or ErrBadRequest to choose the status of
// others (any other error answers 503).
type ProgrammeLoader interface {
	LoadProgramme(ctx context.Context, doc []byte) (version string, err error)
}

// StoreState is one store (or, on a store node, its link to HQ) as the
// node sees it.
type StoreState struct {
	Store string `json:"store"`
	// Kind is "store", or "hq" for a store node's link to HQ.
	Kind   string `json:"kind"`
	Online bool   `json:"online"`
	// LagEvents is how many events the other side has not yet
	// acknowledged: on HQ, HQ's events the store lacks; on a store node,
	// the store's events HQ lacks (and on its HQ entry, HQ's events the
	// store lacks).
	LagEvents uint64    `json:"lag_events"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// StoreStatus reports replication status.
type StoreStatus interface {
	Stores(ctx context.Context) []StoreState
}

// Config configures an API. The zero value of every field but Node is
// valid and documents its default.
type Config struct {
	// Node is the node served. Required.
	Node *node.Node
	// Tokens are the admin tokens accepted. Default none: every request
	// is refused 401.
	Tokens []Token
	// Programmes loads programmes (POST /api/v1/programme). Default the
	// node's own LoadProgramme (patron dev and patron store); HQ injects
	// its Raft path.
	Programmes ProgrammeLoader
	// Stores reports replication status (GET /api/v1/stores). Default
	// the node alone, online.
	Stores StoreStatus
	// HQ marks an HQ replica, which takes no back-office sales or
	// returns (they would bypass Raft). Default false: a store node.
	HQ bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives failures. Default slog.Default().
	Logger *slog.Logger
	// TempDir is where the export directory is made (and removed by
	// Close). Default os.TempDir().
	TempDir string
	// MaxExports, MaxRunningExports, ExportTTL and MaxExportBytes bound
	// exports. Defaults DefaultMaxExports, DefaultMaxRunningExports,
	// DefaultExportTTL, DefaultMaxExportBytes.
	MaxExports        int
	MaxRunningExports int
	ExportTTL         time.Duration
	MaxExportBytes    int64
	// MaxProgrammeBytes bounds a programme document. Default
	// DefaultMaxProgrammeBytes.
	MaxProgrammeBytes int64
}

// DefaultConfig returns a Config with the defaults filled in; Node is
// left for the caller.
func DefaultConfig() Config {
	return Config{
		Now:               time.Now,
		Logger:            slog.Default(),
		TempDir:           os.TempDir(),
		MaxExports:        DefaultMaxExports,
		MaxRunningExports: DefaultMaxRunningExports,
		ExportTTL:         DefaultExportTTL,
		MaxExportBytes:    DefaultMaxExportBytes,
		MaxProgrammeBytes: DefaultMaxProgrammeBytes,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.TempDir == "" {
		c.TempDir = d.TempDir
	}
	if c.MaxExports <= 0 {
		c.MaxExports = d.MaxExports
	}
	if c.MaxRunningExports <= 0 {
		c.MaxRunningExports = d.MaxRunningExports
	}
	c.MaxRunningExports = min(c.MaxRunningExports, c.MaxExports)
	if c.ExportTTL <= 0 {
		c.ExportTTL = d.ExportTTL
	}
	if c.MaxExportBytes <= 0 {
		c.MaxExportBytes = d.MaxExportBytes
	}
	if c.MaxProgrammeBytes <= 0 {
		c.MaxProgrammeBytes = d.MaxProgrammeBytes
	}
	if c.Programmes == nil {
		c.Programmes = nodeLoader{c.Node}
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Node == nil {
		errs = append(errs, errors.New("adminapi: config: Node is required"))
	}
	for i, t := range c.Tokens {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("adminapi: config: token %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// API serves the admin API of one node.
type API struct {
	cfg     Config
	node    *node.Node
	store   string // the node's store id
	keys    *keyring
	log     *slog.Logger
	exports *exportJobs
	handler http.Handler
}

// errClosed answers requests that need the API after Close.
var errClosed = errors.New("adminapi: closed")

// New returns the API of cfg.Node. It panics on a Config that fails
// Validate: tokens and node come from the process's own wiring, which
// checks them first.
func New(cfg Config) *API {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	a := &API{cfg: cfg, node: cfg.Node, store: cfg.Node.Hello(context.Background(), "").Store,
		keys: newKeyring(cfg.Tokens), log: cfg.Logger}
	a.exports = newExportJobs(a)
	a.handler = a.buildHandler()
	return a
}

// Handler serves every route under /api/v1/.
func (a *API) Handler() http.Handler { return a.handler }

// Close stops running exports, waits for them and removes their files.
// Export requests after it answer 503.
func (a *API) Close() error { return a.exports.close() }

// access says who may call a route.
type access int

const (
	public  access = iota // no token (logging in)
	anyRole               // any valid token
	hqAdminOnly
)

// route is one entry of the route table; docs/openapi.yaml documents
// exactly these (openapi_test.go).
type route struct {
	method, path string // path as in OpenAPI and http.ServeMux: /api/v1/members/{id}
	access       access
	handle       func(w http.ResponseWriter, r *http.Request, p principal) error
}

// routes is the route table.
func (a *API) routes() []route {
	return []route{
		{"GET", "/api/v1/whoami", anyRole, a.whoami},
		{"POST", "/api/v1/session", public, a.login},
		{"DELETE", "/api/v1/session", public, a.logout},
		{"GET", "/api/v1/members", anyRole, a.findMember},
		{"GET", "/api/v1/members/{id}", anyRole, a.member},
		{"GET", "/api/v1/members/{id}/ledger", anyRole, a.ledger},
		{"GET", "/api/v1/members/{id}/statement", anyRole, a.statement},
		{"GET", "/api/v1/members/{id}/patterns", anyRole, a.patterns},
		{"GET", "/api/v1/programme", anyRole, a.programme},
		{"POST", "/api/v1/programme", hqAdminOnly, a.loadProgramme},
		{"GET", "/api/v1/campaigns", anyRole, a.campaigns},
		{"GET", "/api/v1/stores", anyRole, a.stores},
		{"GET", "/api/v1/reports", anyRole, a.reports},
		{"GET", "/api/v1/reports/{name}", anyRole, a.report},
		{"GET", "/api/v1/exports", anyRole, a.listExports},
		{"POST", "/api/v1/exports", anyRole, a.startExport},
		{"GET", "/api/v1/exports/{id}", anyRole, a.exportStatus},
		{"GET", "/api/v1/exports/{id}/download", anyRole, a.downloadExport},
		{"POST", "/api/v1/sales", anyRole, a.sale},
		{"POST", "/api/v1/returns", anyRole, a.saleReturn},
	}
}

func (a *API) buildHandler() http.Handler {
	mux := http.NewServeMux()
	methods := map[string]bool{}
	for _, rt := range a.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, a.serve(rt))
		methods[rt.method] = true
	}
	// Anything else under the prefix: 405 when another method has the
	// path, else 404, as JSON like every other answer.
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/api/v1/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			slices.Sort(allow)
			w.Header().Set("Allow", strings.Join(allow, ", "))
			a.fail(w, r, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s %s: allowed %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		a.fail(w, r, errorf(http.StatusNotFound, codeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	// Browsers send the session cookie with cross-site requests too;
	// CrossOriginProtection refuses unsafe cross-origin ones (by
	// Sec-Fetch-Site and Origin), which API clients never send.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, forbidden("cross-origin request refused"))
	}))
	return cop.Handler(mux)
}

// serve authenticates, authorises and runs one route.
func (a *API) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		var p principal
		if rt.access != public {
			var err error
			if p, err = a.authenticate(r); err != nil {
				a.fail(w, r, err)
				return
			}
			if rt.access == hqAdminOnly && p.Role != RoleHQAdmin {
				a.fail(w, r, forbidden("%s %s needs an hq-admin token", rt.method, rt.path))
				return
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			a.fail(w, r, err)
		}
	}
}

// authenticate finds the principal of a request's bearer token, or else
// of its session cookie.
func (a *API) authenticate(r *http.Request) (principal, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return principal{}, errorf(http.StatusUnauthorized, codeUnauthorized, "Authorization: want Bearer TOKEN")
		}
		token = strings.TrimSpace(t)
	} else if c, err := r.Cookie(CookieName); err == nil {
		token = c.Value
	}
	if token == "" {
		return principal{}, errorf(http.StatusUnauthorized, codeUnauthorized, "admin token required (Authorization: Bearer TOKEN, or log in with POST /api/v1/session)")
	}
	p, ok := a.keys.lookup(token)
	if !ok {
		return principal{}, errorf(http.StatusUnauthorized, codeUnauthorized, "unknown admin token")
	}
	return p, nil
}

// confine returns the store a request may look at: a store manager's own
// (asking for another is 403); for an HQ admin, the one asked for ("" is
// every store).
func confine(p principal, asked string) (string, error) {
	if p.Role == RoleStoreManager {
		if asked != "" && asked != p.Store {
			return "", forbidden("a store manager of %s may not see store %s", p.Store, truncate(asked, 32))
		}
		return p.Store, nil
	}
	return asked, nil
}

// whoamiAnswer is GET /api/v1/whoami.
type whoamiAnswer struct {
	Role             Role   `json:"role"`
	Store            string `json:"store"`             // a store manager's store; "" for an HQ admin
	Node             string `json:"node"`              // this node's store (or HQ node) id
	HQ               bool   `json:"hq"`                // this node is an HQ replica
	ProgrammeVersion string `json:"programme_version"` // the current programme, "" before one
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.who(p))
	return nil
}

func (a *API) who(p principal) whoamiAnswer {
	ans := whoamiAnswer{Role: p.Role, Store: p.Store, Node: a.store, HQ: a.cfg.HQ}
	if pr := a.node.Programme(); pr != nil {
		ans.ProgrammeVersion = pr.Version
	}
	return ans
}

// sessionRequest is POST /api/v1/session's body.
type sessionRequest struct {
	Token string `json:"token"`
}

// login checks a token and sets it as an HttpOnly, SameSite=Strict
// cookie, so the web console never holds it in script.
func (a *API) login(w http.ResponseWriter, r *http.Request, _ principal) error {
	var req sessionRequest
	if err := decodeJSON(w, r, 4<<10, &req); err != nil {
		return err
	}
	p, ok := a.keys.lookup(req.Token)
	if !ok {
		return errorf(http.StatusUnauthorized, codeUnauthorized, "unknown admin token")
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: req.Token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, a.who(p))
	return nil
}

// logout clears the cookie; it needs no token (a stale cookie may be
// cleared too).
func (a *API) logout(w http.ResponseWriter, r *http.Request, _ principal) error {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nodeLoader is the default ProgrammeLoader: the node loads it itself
// (patron dev; on patron store the event then replicates to HQ).
type nodeLoader struct{ n *node.Node }

func (l nodeLoader) LoadProgramme(ctx context.Context, doc []byte) (string, error) {
	p, err := l.n.LoadProgramme(ctx, doc)
	if err != nil {
		return "", err
	}
	return p.Version, nil
}

// programmeZone is the current programme's zone, UTC before one.
func (a *API) programmeZone() *time.Location {
	if p := a.node.Programme(); p != nil && p.Location != nil {
		return p.Location
	}
	return time.UTC
}

// current is the current programme or a 503.
func (a *API) current() (*engine.Programme, error) {
	if p := a.node.Programme(); p != nil {
		return p, nil
	}
	return nil, node.ErrNoProgramme
}
