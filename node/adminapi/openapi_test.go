package adminapi

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIPath is the API's description, kept in the repository's docs.
const openAPIPath = "../../docs/openapi.yaml"

// openAPIDoc is the part of an OpenAPI 3.0 document the test reads.
type openAPIDoc struct {
	OpenAPI string                               `yaml:"openapi"`
	Paths   map[string]map[string]map[string]any `yaml:"paths"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedRoutes lists "METHOD /path" of every operation in the file.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("%s: openapi %q, want 3.0.x", openAPIPath, doc.OpenAPI)
	}
	var out []string
	for path, item := range doc.Paths {
		for key, op := range item {
			if !slices.Contains(httpMethods, key) {
				continue // parameters, summary: not operations
			}
			if op["responses"] == nil {
				t.Errorf("%s %s documents no responses", key, path)
			}
			out = append(out, strings.ToUpper(key)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIMatchesRoutes: docs/openapi.yaml documents exactly the
// routes the API registers.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t)
	var registered []string
	for _, rt := range h.api.routes() {
		registered = append(registered, rt.method+" "+rt.path)
	}
	slices.Sort(registered)
	documented := documentedRoutes(t)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in %s", r, openAPIPath)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("%s documents %s, which the API does not serve", openAPIPath, d)
		}
	}
}

// TestDocumentedRoutesAnswer: every documented route, called with an
// hq-admin token and real path parameters, is served (neither 404 for
// want of a route nor 405); an undocumented one is a JSON 404 or 405.
func TestDocumentedRoutesAnswer(t *testing.T) {
	h := newHarness(t)
	h.sell(t, 1)
	var ex exportAnswer
	h.do("POST", "/api/v1/exports", adminToken, map[string]any{"report": "item-sales"}).decode(t, 202, &ex)
	h.waitExport(t, adminToken, ex.ID)
	params := map[string]string{"{id}": url.PathEscape(asha), "{name}": "item-sales"}
	for _, route := range documentedRoutes(t) {
		t.Run(route, func(t *testing.T) {
			method, path, _ := strings.Cut(route, " ")
			if strings.HasPrefix(path, "/api/v1/exports/") {
				path = strings.Replace(path, "{id}", ex.ID, 1)
			}
			for k, v := range params {
				path = strings.ReplaceAll(path, k, v)
			}
			var body any
			if method == "POST" {
				body = "{}"
			}
			a := h.do(method, path, adminToken, body)
			if a.status == 404 || a.status == 405 {
				t.Errorf("%s %s: %d %s", method, path, a.status, a.body)
			}
		})
	}
	h.do("GET", "/api/v1/nothing", adminToken, nil).wantError(t, 404, codeNotFound, "")
	a := h.do("PUT", "/api/v1/programme", adminToken, "{}")
	a.wantError(t, 405, codeMethodNotAllowed, "")
	if a.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", a.header.Get("Allow"))
	}
}
