package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// getPage fetches url without following redirects.
func getPage(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// TestConsoleMounted: every node kind serves the console on its admin
// listener, the root sends a browser there, and only patron dev fills in
// a terminal token on the demo till page.
func TestConsoleMounted(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), "--admin-token", "dev-admin-secret")
	_, _, hqSrv := singleHQ(t)
	for _, tc := range []struct {
		name, base, node, till string
		token                  bool
	}{
		{"dev", d.admin, "dev store S001", d.url, true},
		{"hq", hqSrv.URL, "HQ node HQ1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, loc, _ := getPage(t, tc.base+"/"); code != http.StatusFound || loc != "/console/" {
				t.Errorf("GET /: %d to %q, want 302 to /console/", code, loc)
			}
			code, _, body := getPage(t, tc.base+"/console/till")
			if code != http.StatusOK || !strings.Contains(body, "· "+tc.node+"</title>") {
				t.Fatalf("GET /console/till: %d, want 200 naming %q", code, tc.node)
			}
			if !strings.Contains(body, `id="till-url" type="url" size="32" value="`+tc.till+`"`) {
				t.Errorf("till URL %q not filled in", tc.till)
			}
			if got := strings.Contains(body, `value="`+d.token+`"`); got != tc.token {
				t.Errorf("terminal token filled in: %v, want %v", got, tc.token)
			}
		})
	}
	if sc := storeConsole("S002", "ws://127.0.0.1:7070/pos/v1"); sc.TillToken != "" || sc.TillURL == "" || sc.Node != "store S002" {
		t.Errorf("patron store's console %+v: want the till URL and no token", sc)
	}
}
