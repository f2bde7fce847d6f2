package adminapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestAuthentication: no token, an unknown one or another scheme is 401
// with a challenge; a bearer token or the session cookie names the role.
func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name      string
		headers   []string
		wantRole  Role
		wantStore string
	}{
		{"no token", nil, "", ""},
		{"unknown token", []string{"Authorization", "Bearer not-a-token-at-all-0000"}, "", ""},
		{"basic scheme", []string{"Authorization", "Basic " + adminToken}, "", ""},
		{"token prefix", []string{"Authorization", "Bearer " + adminToken[:10]}, "", ""},
		{"unknown cookie", []string{"Cookie", CookieName + "=nope-nope-nope-nope"}, "", ""},
		{"hq admin", []string{"Authorization", "Bearer " + adminToken}, RoleHQAdmin, ""},
		{"store manager", []string{"Authorization", "Bearer " + s1Token}, RoleStoreManager, "S001"},
		{"cookie", []string{"Cookie", CookieName + "=" + s2Token}, RoleStoreManager, "S002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do("GET", "/api/v1/whoami", "", nil, tc.headers...)
			if tc.wantRole == "" {
				a.wantError(t, http.StatusUnauthorized, codeUnauthorized, "")
				if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("no Bearer challenge: %q", a.header.Get("WWW-Authenticate"))
				}
				return
			}
			var who whoamiAnswer
			a.decode(t, http.StatusOK, &who)
			if who.Role != tc.wantRole || who.Store != tc.wantStore || who.Node != "S001" || who.ProgrammeVersion != "test-1" {
				t.Errorf("whoami %+v, want role %s store %q on S001 with test-1", who, tc.wantRole, tc.wantStore)
			}
		})
	}
}

// TestSession: logging in sets an HttpOnly, SameSite=Strict cookie that
// authenticates; logging out clears it; a wrong token sets nothing; a
// cross-site login is refused.
func TestSession(t *testing.T) {
	h := newHarness(t)
	a := h.do("POST", "/api/v1/session", "", map[string]string{"token": "wrong-token-wrong-token"})
	a.wantError(t, http.StatusUnauthorized, codeUnauthorized, "")
	if c := a.header.Get("Set-Cookie"); c != "" {
		t.Errorf("a failed login set a cookie: %s", c)
	}
	h.do("POST", "/api/v1/session", "", map[string]string{"token": s1Token, "role": "hq-admin"}).
		wantError(t, http.StatusBadRequest, codeBadRequest, "role")
	h.do("POST", "/api/v1/session", "", map[string]string{"token": adminToken}, "Sec-Fetch-Site", "cross-site").
		wantError(t, http.StatusForbidden, codeForbidden, "")

	a = h.do("POST", "/api/v1/session", "", map[string]string{"token": s1Token})
	var who whoamiAnswer
	a.decode(t, http.StatusOK, &who)
	if who.Role != RoleStoreManager || who.Store != "S001" {
		t.Errorf("login answered %+v", who)
	}
	res := &http.Response{Header: a.header}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != CookieName || c.Value != s1Token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v", c)
	}
	h.do("GET", "/api/v1/whoami", "", nil, "Cookie", c.String()).decode(t, http.StatusOK, &who)
	if who.Store != "S001" {
		t.Errorf("whoami by cookie %+v", who)
	}

	a = h.do("DELETE", "/api/v1/session", "", nil)
	if a.status != http.StatusNoContent {
		t.Fatalf("logout status %d", a.status)
	}
	cleared := (&http.Response{Header: a.header}).Cookies()
	if len(cleared) != 1 || cleared[0].Name != CookieName || cleared[0].MaxAge >= 0 {
		t.Errorf("logout cookies %+v", cleared)
	}
}

// TestRoles: what each role may do, and the 403s of a store manager who
// asks for another store.
func TestRoles(t *testing.T) {
	states := fakeStores{
		{Store: "S001", Kind: "store", Online: true, LagEvents: 3},
		{Store: "S002", Kind: "store", Online: false, LagEvents: 40},
		{Store: "S003", Kind: "store", Online: true},
	}
	h := newHarness(t, func(c *Config) { c.Stores = states })
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"admin loads programmes", "POST", "/api/v1/programme", adminToken, string(testProgramme("test-2")), 200},
		{"manager may not", "POST", "/api/v1/programme", s1Token, string(testProgramme("test-3")), 403},
		{"manager reads the programme", "GET", "/api/v1/programme", s1Token, nil, 200},
		{"manager's own store report", "GET", "/api/v1/reports/sales-vs-redemption?store=S001", s1Token, nil, 200},
		{"another store's report", "GET", "/api/v1/reports/sales-vs-redemption?store=S002", s1Token, nil, 403},
		{"another store's export", "POST", "/api/v1/exports", s1Token,
			map[string]any{"report": "item-sales", "filters": map[string]any{"store": "S002"}}, 403},
		{"admin any store", "GET", "/api/v1/reports/sales-vs-redemption?store=S002", adminToken, nil, 200},
		{"manager of another node's store posts a sale", "POST", "/api/v1/sales", s2Token, sale("ERP", "1", 1), 403},
		{"manager of this node's store posts a sale", "POST", "/api/v1/sales", s1Token, sale("ERP", "2", 1), 200},
		{"members are chain-wide", "GET", "/api/v1/members/%2B919800000001", s2Token, nil, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do(tc.method, tc.path, tc.token, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.status == 403 {
				a.wantError(t, 403, codeForbidden, "")
			}
		})
	}

	t.Run("stores are filtered", func(t *testing.T) {
		for token, want := range map[string][]string{adminToken: {"S001", "S002", "S003"}, s1Token: {"S001"}, s2Token: {"S002"}} {
			var got []StoreState
			h.do("GET", "/api/v1/stores", token, nil).decode(t, 200, &got)
			var ids []string
			for _, s := range got {
				ids = append(ids, s.Store)
			}
			if strings.Join(ids, ",") != strings.Join(want, ",") {
				t.Errorf("stores %v, want %v", ids, want)
			}
		}
	})
	t.Run("report applies the manager's store", func(t *testing.T) {
		var rep reportAnswer
		h.do("GET", "/api/v1/reports/sales-vs-redemption", s1Token, nil).decode(t, 200, &rep)
		if rep.Filters.Store != "S001" {
			t.Errorf("applied filters %+v, want store S001", rep.Filters)
		}
		var all reportAnswer
		h.do("GET", "/api/v1/reports/sales-vs-redemption", adminToken, nil).decode(t, 200, &all)
		if all.Filters.Store != "" {
			t.Errorf("admin's applied filters %+v, want every store", all.Filters)
		}
	})
	t.Run("campaigns of the manager's store", func(t *testing.T) {
		for token, want := range map[string]string{adminToken: "C1,C2", s1Token: "C1", s2Token: "C1,C2"} {
			var got []campaignAnswer
			h.do("GET", "/api/v1/campaigns", token, nil).decode(t, 200, &got)
			var ids []string
			for _, c := range got {
				ids = append(ids, c.ID)
			}
			if strings.Join(ids, ",") != want {
				t.Errorf("campaigns %v, want %s", ids, want)
			}
		}
	})
}

type fakeStores []StoreState

func (f fakeStores) Stores(context.Context) []StoreState { return f }

// TestParseTokens: good files, and bad lines named by number without
// the token.
func TestParseTokens(t *testing.T) {
	good := "# admin\nhq-admin  0123456789abcdef0123\n\nstore-manager:S001 manager-one-token-000\n  store-manager:S_2.x\tmanager-two-token-000  \n"
	got, err := ParseTokens([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{RoleHQAdmin, "", "0123456789abcdef0123"}, {RoleStoreManager, "S001", "manager-one-token-000"},
		{RoleStoreManager, "S_2.x", "manager-two-token-000"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("token %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	const secret = "secret-secret-secret"
	bad := []struct{ file, want string }{
		{"hq-admin\n", "line 1: want ROLE[:STORE] TOKEN"},
		{"# x\nhq-admin a b\n", "line 2: want ROLE[:STORE] TOKEN"},
		{"root " + secret, "line 1: unknown role"},
		{secret + " hq-admin", "line 1: unknown role"},
		{"hq-admin:S001 " + secret, "line 1: hq-admin takes no store"},
		{"store-manager " + secret, "line 1: store-manager needs a store"},
		{"store-manager:S-1 " + secret, "line 1: store-manager needs a store"},
		{"hq-admin short", "line 1: token shorter than 16"},
		{"hq-admin " + secret + "\nstore-manager:S1 " + secret, "line 2: the token of line 1 given again"},
	}
	for _, tc := range bad {
		_, err := ParseTokens([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadTokens) {
			t.Errorf("%q: got %v, want %q", tc.file, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error shows the token: %v", tc.file, err)
		}
	}
}

// TestKeyringLookup: only an exact token matches.
func TestKeyringLookup(t *testing.T) {
	k := newKeyring(testTokens)
	for _, tc := range []struct {
		candidate string
		ok        bool
		store     string
	}{
		{adminToken, true, ""}, {s2Token, true, "S002"}, {"", false, ""}, {s1Token + " ", false, ""}, {strings.ToUpper(s1Token), false, ""},
	} {
		p, ok := k.lookup(tc.candidate)
		if ok != tc.ok || p.Store != tc.store {
			t.Errorf("lookup(%q) = %+v, %v; want ok %v store %q", tc.candidate, p, ok, tc.ok, tc.store)
		}
	}
	if _, ok := newKeyring(nil).lookup(""); ok {
		t.Error("an empty keyring matched an empty token")
	}
}
