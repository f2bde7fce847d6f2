package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// TestProgrammeUpload: a valid document (JSON or YAML) becomes current;
// an invalid one is 422 listing each problem with its path and changes
// nothing; a version reused with other content is 409; an oversized
// document is 413.
func TestProgrammeUpload(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxProgrammeBytes = 64 << 10 })

	var doc map[string]any
	if err := json.Unmarshal(testProgramme("test-2"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["campaigns"].([]any)[0].(map[string]any)["reward"] = map[string]any{}
	doc["redeem"].(map[string]any)["point_value"] = -1
	var e apiErr
	h.do("POST", "/api/v1/programme", adminToken, doc).decode(t, http.StatusUnprocessableEntity, &e)
	if e.Error.Code != codeInvalidProgramme || len(e.Errors) < 2 {
		t.Fatalf("answer %+v", e)
	}
	paths := map[string]bool{}
	for _, p := range e.Errors {
		paths[p.Path] = true
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
	}
	if !paths["campaigns[0].reward"] || !paths["redeem.point_value"] {
		t.Errorf("problem paths %v, want campaigns[0].reward and redeem.point_value", paths)
	}
	if v := h.node.Programme().Version; v != "test-1" {
		t.Errorf("an invalid programme changed the current one to %s", v)
	}

	yaml := strings.Replace(string(testProgramme("test-1")), `"version":"test-1"`, `"version":"test-3"`, 1)
	yaml = "# YAML: a flow mapping is YAML too\n" + yaml
	var loaded loadedAnswer
	h.do("POST", "/api/v1/programme", adminToken, yaml).decode(t, 200, &loaded)
	if loaded.Version != "test-3" || h.node.Programme().Version != "test-3" {
		t.Errorf("loaded %+v, current %s", loaded, h.node.Programme().Version)
	}
	var got programmeAnswer
	h.do("GET", "/api/v1/programme", s1Token, nil).decode(t, 200, &got)
	p, err := engine.ParseProgramme(got.Document, time.LoadLocation)
	if err != nil {
		t.Fatalf("GET /programme's document does not parse: %v", err)
	}
	if got.Version != "test-3" || !got.Current || p.Version != "test-3" || len(p.Campaigns) != 2 {
		t.Errorf("programme %s current %v, parsed %s with %d campaigns", got.Version, got.Current, p.Version, len(p.Campaigns))
	}
	h.do("GET", "/api/v1/programme?version=test-1", s1Token, nil).decode(t, 200, &got)
	if got.Version != "test-1" || got.Current {
		t.Errorf("old version answered %s current %v", got.Version, got.Current)
	}
	h.do("GET", "/api/v1/programme?version=nope", s1Token, nil).wantError(t, 404, "not_found", "")

	other := strings.Replace(yaml, `"otp":"off"`, `"otp":"required"`, 1)
	h.do("POST", "/api/v1/programme", adminToken, other).wantError(t, http.StatusConflict, codeProgrammeExists, "")
	h.do("POST", "/api/v1/programme", adminToken, strings.Repeat(" ", 65<<10)).wantError(t, http.StatusRequestEntityTooLarge, codeTooLarge, "")
	h.do("POST", "/api/v1/programme", adminToken, "").wantError(t, http.StatusBadRequest, codeBadRequest, "body")
}

// TestProgrammeLoaderErrors: an injected loader's errors keep their
// meaning (HQ's not-the-leader is 409, its Raft failing 503).
func TestProgrammeLoaderErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: the leader is HQ2", ErrConflict), 409, codeConflict},
		{fmt.Errorf("%w: event of 2 MiB", ErrTooLarge), 413, codeTooLarge},
		{errors.New("raft: timed out"), 503, codeUnavailable},
		{&engine.ValidationError{Problems: []engine.Problem{{Path: "version", Message: "required"}}}, 422, codeInvalidProgramme},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Programmes = failingLoader{tc.err} })
			e := h.do("POST", "/api/v1/programme", adminToken, testProgramme("x")).wantError(t, tc.status, tc.code, "")
			if !strings.Contains(e.Error.Message, strings.TrimPrefix(tc.err.Error(), "adminapi: ")) && tc.status != 422 {
				t.Errorf("message %q does not carry %q", e.Error.Message, tc.err)
			}
		})
	}
}

type failingLoader struct{ err error }

func (f failingLoader) LoadProgramme(context.Context, []byte) (string, error) { return "", f.err }

// TestCampaignsLive: live follows the validity window in the programme's
// zone at at= (default the clock).
func TestCampaignsLive(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		at     string
		c1Live bool
	}{
		{"", true},                           // the clock: Wednesday 15:30 in Kolkata
		{"2026-06-03T12:31:00Z", false},      // 18:01 in Kolkata
		{"2026-06-03T03:30:00Z", true},       // 09:00
		{"2026-06-06T10:00:00Z", false},      // a Saturday
		{"2026-07-01T05:00:00+05:30", false}, // after June
		{"2026-06-01", false},                // midnight: before 09:00
	}
	for _, tc := range tests {
		t.Run(tc.at, func(t *testing.T) {
			var got []campaignAnswer
			h.do("GET", "/api/v1/campaigns?at="+strings.ReplaceAll(tc.at, "+", "%2B"), adminToken, nil).decode(t, 200, &got)
			if len(got) != 2 || got[0].ID != "C1" || got[1].ID != "C2" {
				t.Fatalf("campaigns %+v", got)
			}
			if got[0].Live != tc.c1Live || !got[1].Live {
				t.Errorf("C1 live %v (want %v), C2 live %v (always)", got[0].Live, tc.c1Live, got[1].Live)
			}
			if got[0].Kind != "percent" || got[1].Kind != "bonus_points" || got[0].Programme != "test-1" {
				t.Errorf("kinds %s %s, programme %s", got[0].Kind, got[1].Kind, got[0].Programme)
			}
		})
	}
	h.do("GET", "/api/v1/campaigns?at=noon", adminToken, nil).wantError(t, 400, codeBadRequest, "at")
}
