package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the console is mounted; Handler serves the paths under it.
const Path = "/console/"

// DefaultAPI is where the admin JSON API is mounted.
const DefaultAPI = "/api/v1"

// contentSecurityPolicy allows the console's own script, style and API,
// inline SVG images, and WebSocket connections to the till listener (any
// host: it is another port, and may be another name).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Config configures the console. The zero value is valid.
type Config struct {
	// API is the path prefix of the admin JSON API. Default DefaultAPI.
	API string
	// Node names the node in the page title and header, such as
	// "store S001" or "HQ". Default "Patron".
	Node string
	// TillURL is the till endpoint the demo till page dials, such as
	// ws://127.0.0.1:7070/pos/v1. Default: empty, the operator types it.
	// A loopback or unspecified host is replaced in the browser by the
	// host the console was loaded from, when that is not loopback.
	TillURL string
	// TillToken is a terminal token the demo till page fills in. It is
	// written into the page for whoever can load it: set it only for a
	// demo node. Default: empty, the operator types it.
	TillToken string
	// Logger receives template failures (programming errors). Default
	// slog.Default().
	Logger *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is one console page.
type page struct {
	Name  string // URL path segment and template name
	Title string
	nav   bool // listed in the navigation bar
}

// pages are the console's pages in navigation order.
var pages = []page{
	{"members", "Members", true},
	{"programme", "Programme", true},
	{"campaigns", "Campaigns", true},
	{"reports", "Reports", true},
	{"stores", "Stores", true},
	{"till", "Demo till", true},
	{"login", "Log in", false},
}

// pageData is what a page template is rendered with.
type pageData struct {
	Base      string // Path without its trailing slash
	API       string
	Node      string
	Page      string
	Title     string
	Nav       []page
	TillURL   string
	TillToken string
	Assets    map[string]string // asset name → URL with a content hash
}

// asset is one embedded static file, served with an ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	cfg    Config
	log    *slog.Logger
	tmpl   map[string]*template.Template
	assets map[string]asset
	urls   map[string]string
}

// Handler returns the console's handler. It serves Path and everything
// under it, GET and HEAD only; mount it at Path.
func Handler(cfg Config) http.Handler {
	if cfg.API == "" {
		cfg.API = DefaultAPI
	}
	cfg.API = strings.TrimSuffix(cfg.API, "/")
	if cfg.Node == "" {
		cfg.Node = "Patron"
	}
	h := &handler{cfg: cfg, log: cfg.Logger, tmpl: map[string]*template.Template{},
		assets: map[string]asset{}, urls: map[string]string{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	// The embedded files are part of the binary: failing to read or parse
	// them is a build mistake, which the package's tests catch.
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := path.Base(p)
		tag := hex.EncodeToString(sum[:8])
		h.assets[name] = asset{body: body, ctype: contentType(name), etag: `"` + tag + `"`}
		h.urls[name] = Path + "static/" + name + "?v=" + tag
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("console: embedded assets: %v", err))
	}
	for _, p := range pages {
		h.tmpl[p.Name] = template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+p.Name+".html"))
	}
	return h
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok {
		if r.URL.Path == strings.TrimSuffix(Path, "/") {
			http.Redirect(w, r, Path, http.StatusFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	if name, ok := strings.CutPrefix(rest, "static/"); ok {
		h.serveAsset(w, r, name)
		return
	}
	if rest == "" {
		http.Redirect(w, r, Path+pages[0].Name, http.StatusFound)
		return
	}
	for _, p := range pages {
		if p.Name == rest {
			h.servePage(w, r, p)
			return
		}
	}
	http.NotFound(w, r)
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	// The pages link each asset with its content hash, so a new binary's
	// pages fetch the new file; revalidating keeps a stale tab honest.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request, p page) {
	var nav []page
	for _, q := range pages {
		if q.nav {
			nav = append(nav, q)
		}
	}
	data := pageData{Base: strings.TrimSuffix(Path, "/"), API: h.cfg.API, Node: h.cfg.Node,
		Page: p.Name, Title: p.Title, Nav: nav, Assets: h.urls}
	if p.Name == "till" {
		data.TillURL, data.TillToken = h.cfg.TillURL, h.cfg.TillToken
	}
	var buf bytes.Buffer
	if err := h.tmpl[p.Name].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.Error("console: render page", "page", p.Name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes()) // a failed write is the client gone
}
