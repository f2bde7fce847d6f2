package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPagesRender(t *testing.T) {
	h := Handler(Config{Node: "store S001"})
	for _, p := range pages {
		t.Run(p.Name, func(t *testing.T) {
			w := get(t, h, http.MethodGet, Path+p.Name)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", w.Code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			body := w.Body.String()
			for _, want := range []string{
				"<title>" + p.Title + " · store S001</title>",
				`data-page="` + p.Name + `"`,
				`data-api="/api/v1"`,
				`src="/console/static/console.js?v=`,
				`href="/console/static/console.css?v=`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
			// No inline script: the policy would block it.
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) {
				t.Error("page has an inline script")
			}
			if p.nav != strings.Contains(body, `href="/console/`+p.Name+`"`) && p.Name != "members" {
				t.Errorf("navigation link present = %v, want %v", !p.nav, p.nav)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	h := Handler(Config{})
	for _, tc := range []struct {
		method, target string
		status         int
		location       string
	}{
		{http.MethodGet, "/console", http.StatusFound, "/console/"},
		{http.MethodGet, "/console/", http.StatusFound, "/console/members"},
		{http.MethodHead, "/console/members", http.StatusOK, ""},
		{http.MethodGet, "/console/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/console/members/x", http.StatusNotFound, ""},
		{http.MethodGet, "/console/static/nope.js", http.StatusNotFound, ""},
		{http.MethodGet, "/console/static/../templates/layout.html", http.StatusNotFound, ""},
		{http.MethodGet, "/elsewhere", http.StatusNotFound, ""},
		{http.MethodPost, "/console/members", http.StatusMethodNotAllowed, ""},
		{http.MethodDelete, "/console/static/console.js", http.StatusMethodNotAllowed, ""},
	} {
		w := get(t, h, tc.method, tc.target)
		if w.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, w.Code, tc.status)
		}
		if loc := w.Header().Get("Location"); loc != tc.location {
			t.Errorf("%s %s: Location %q, want %q", tc.method, tc.target, loc, tc.location)
		}
	}
}

func TestAssets(t *testing.T) {
	h := Handler(Config{})
	for name, ctype := range map[string]string{
		"console.js":  "text/javascript; charset=utf-8",
		"console.css": "text/css; charset=utf-8",
	} {
		want, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w := get(t, h, http.MethodGet, Path+"static/"+name)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ctype {
			t.Fatalf("%s: status %d, Content-Type %q", name, w.Code, w.Header().Get("Content-Type"))
		}
		if got, _ := io.ReadAll(w.Body); string(got) != string(want) {
			t.Errorf("%s: served bytes differ from the embedded file", name)
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", name)
		}
		// The page links the asset with the same hash as its ETag.
		page := get(t, h, http.MethodGet, Path+"members").Body.String()
		if !strings.Contains(page, name+"?v="+strings.Trim(etag, `"`)) {
			t.Errorf("%s: the page does not link the served version %s", name, etag)
		}
		if w := get(t, h, http.MethodGet, Path+"static/"+name, "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Errorf("%s: revalidation with its ETag: status %d, want 304", name, w.Code)
		}
	}
}

// TestTillConfigOnlyOnTillPage: the till URL and token are written into
// the demo till page only, escaped.
func TestTillConfigOnlyOnTillPage(t *testing.T) {
	const token = `tok"<en>&`
	h := Handler(Config{TillURL: "ws://127.0.0.1:7070/pos/v1", TillToken: token, API: "/api/v2/"})
	till := get(t, h, http.MethodGet, Path+"till").Body.String()
	if !strings.Contains(till, `value="ws://127.0.0.1:7070/pos/v1"`) {
		t.Error("till page lacks the till URL")
	}
	if strings.Contains(till, token) || !strings.Contains(till, `value="tok&#34;&lt;en&gt;&amp;"`) {
		t.Error("till page lacks the escaped token")
	}
	if !strings.Contains(till, `data-api="/api/v2"`) {
		t.Error("API prefix not trimmed of its slash")
	}
	for _, p := range pages {
		if p.Name == "till" {
			continue
		}
		if body := get(t, h, http.MethodGet, Path+p.Name).Body.String(); strings.Contains(body, "tok&#34;") || strings.Contains(body, "7070") {
			t.Errorf("%s page carries the till configuration", p.Name)
		}
	}
}

// TestScriptParses checks console.js with node's parser where node is
// installed (CI installs it for the SMPP test); the browser test runs it.
func TestScriptParses(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the browser test (cmd/patron) runs the script")
	}
	out, err := exec.Command(nodeBin, "--check", filepath.Join("static", "console.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node --check console.js: %v\n%s", err, out)
	}
}
