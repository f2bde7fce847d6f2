package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron/patron/node/adminapi"
)

// apiCall sends one admin API request and decodes its JSON answer.
func apiCall(t *testing.T, method, url, token, body string, into any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// TestDevServesAdminAPI: patron dev serves /api/v1/ on its admin
// listener; --admin-token is an hq-admin token there and the tokens
// file adds store managers.
func TestDevServesAdminAPI(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "admin-tokens")
	writeFile(t, tokens, "# managers\nstore-manager:S001 manager-of-S001-000000\n")
	d := startDev(t, filepath.Join(dir, "data"), "--admin-token", "dev-admin-secret", "--admin-tokens-file", tokens)
	base := d.admin + "/api/v1/"
	for token, want := range map[string]string{"dev-admin-secret": "hq-admin/", "manager-of-S001-000000": "store-manager/S001"} {
		var who struct{ Role, Store, Node string }
		if code := apiCall(t, "GET", base+"whoami", token, "", &who); code != 200 || who.Role+"/"+who.Store != want || who.Node != "S001" {
			t.Errorf("whoami %d %+v, want %s on S001", code, who, want)
		}
	}
	if code := apiCall(t, "GET", base+"whoami", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	var stores []adminapi.StoreState
	if code := apiCall(t, "GET", base+"stores", "dev-admin-secret", "", &stores); code != 200 || len(stores) != 1 || stores[0].Store != "S001" {
		t.Errorf("stores %d %+v", code, stores)
	}
}

// TestAdminTokensFlag: the tokens file is read and checked with the
// other flags; the --admin-token may not also be in it.
func TestAdminTokensFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFile(t, good, "hq-admin admin-token-0000000000\nstore-manager:S002 manager-token-000000\n")
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "hq-admin admin-token-0000000000\nstore-manager manager-token-000000\n")
	tests := []struct {
		name, file, token, want string
	}{
		{"good", good, "", ""},
		{"good with the flag's token", good, "another-secret", ""},
		{"bad line", bad, "", "line 2: store-manager needs a store"},
		{"token twice", good, "admin-token-0000000000", "holds the --admin-token too"},
		{"missing", filepath.Join(dir, "missing"), "", "--admin-tokens-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := devOptions{data: dir, posListen: ":0", adminListen: ":0", logFormat: "text", logLevel: "info",
				front: frontFlags{adminTokensFile: tc.file, adminToken: tc.token}}
			c, err := o.resolve()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.adminTokens) != 2 || c.adminTokens[1].Store != "S002" {
					t.Errorf("tokens %+v", c.adminTokens)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "manager-token-000000") {
				t.Errorf("the error shows a token: %v", err)
			}
		})
	}
	var o hqOptions
	hqFlags(&o)
	o.adminTokens, o.adminToken = good, "hq-flag-secret"
	c, _ := o.resolve() // other flags are missing; the tokens still resolve
	if len(c.apiTokens) != 3 || c.apiTokens[0] != (adminapi.Token{Role: adminapi.RoleHQAdmin, Secret: "hq-flag-secret"}) {
		t.Errorf("HQ tokens %+v", c.apiTokens)
	}
	st, err := adminTokens("store-secret", adminapi.RoleStoreManager, "S009", nil)
	if err != nil || len(st) != 1 || st[0].Store != "S009" || st[0].Role != adminapi.RoleStoreManager {
		t.Errorf("a store's --admin-token: %+v %v", st, err)
	}
}

// TestHQAdminAPIv1: on HQ the admin API loads programmes through Raft
// (problems come back with their paths), lists the configured stores and
// takes no sales.
func TestHQAdminAPIv1(t *testing.T) {
	a, n, _ := singleHQ(t)
	mux := http.NewServeMux()
	api := mountAdminAPI(mux, adminapi.Config{Node: n, HQ: true, Programmes: hqProgrammes{a}, Stores: hqStores{a},
		Tokens: []adminapi.Token{{Role: adminapi.RoleHQAdmin, Secret: "hq-secret"}}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); api.Close() })
	base := srv.URL + "/api/v1/"

	var loaded struct{ Version string }
	if code := apiCall(t, "POST", base+"programme", "hq-secret", string(programmeVersion(t, "v1-api")), &loaded); code != 200 || loaded.Version != "v1-api" {
		t.Fatalf("load: %d %+v", code, loaded)
	}
	if p := n.Programme(); p == nil || p.Version != "v1-api" {
		t.Errorf("HQ's programme %v", p)
	}
	var bad struct {
		Errors []struct{ Path, Message string }
	}
	if code := apiCall(t, "POST", base+"programme", "hq-secret", `{"version": "v2", "currency": "INR"}`, &bad); code != 422 || len(bad.Errors) == 0 {
		t.Errorf("invalid programme: %d %+v", code, bad)
	}
	var e struct{ Error struct{ Code string } }
	if code := apiCall(t, "POST", base+"programme", "hq-secret", strings.Replace(string(programmeVersion(t, "v1-api")), "INR", "USD", 1), &e); code != 409 {
		t.Errorf("conflict: %d %+v", code, e)
	}
	var stores []adminapi.StoreState
	if code := apiCall(t, "GET", base+"stores", "hq-secret", "", &stores); code != 200 || len(stores) != 1 || stores[0].Store != "S001" || stores[0].Online {
		t.Errorf("stores %d %+v", code, stores)
	}
	if code := apiCall(t, "POST", base+"sales", "hq-secret", `{}`, &e); code != http.StatusNotImplemented || e.Error.Code != "not_supported" {
		t.Errorf("sale at HQ: %d %+v", code, e)
	}
}
