// Package acceptance_test runs the acceptance cases — the public ones in
// ../shared/acceptance and the project's own in cases/ — each against a real
// store node on a temporary bbolt file, through a real WebSocket, exactly as
// a till would.
package acceptance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
)

// caseFile is the "patron acceptance cases v1" format.
type caseFile struct {
	Format string          `json:"format"`
	Cases  []acceptCase    `json:"cases"`
	Notes  json.RawMessage `json:"notes"`
}

type acceptCase struct {
	Name      string          `json:"name"`
	Source    string          `json:"source"`
	Programme json.RawMessage `json:"programme"`
	Store     string          `json:"store"`
	At        time.Time       `json:"at"`
	Steps     []step          `json:"steps"`
}

type step struct {
	Call        string          `json:"call"`
	Params      json.RawMessage `json:"params"`
	Expect      json.RawMessage `json:"expect"`
	ExpectError string          `json:"expect_error"`
	// At, an extension of this repo's cases, moves the node's clock before
	// the step (for expiry and time-window rules).
	At *time.Time `json:"at"`
}

const (
	caseFormat = "patron acceptance cases v1"
	terminalID = "T01"
	token      = "acceptance-token"
)

// sharedDir finds the read-only shared folder: $PATRON_SHARED, else
// ../../shared from this package (the repo's sibling).
func sharedDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PATRON_SHARED"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "shared"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSharedAcceptanceCases(t *testing.T) {
	path := filepath.Join(sharedDir(t), "acceptance", "seed-cases.json")
	runFile(t, path)
}

func TestOwnAcceptanceCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("cases", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no cases in acceptance/cases")
	}
	sort.Strings(files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runFile(t, f) })
	}
}

func runFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("acceptance cases: %v", err)
	}
	var f caseFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f.Format != caseFormat {
		t.Fatalf("%s: format %q, want %q", path, f.Format, caseFormat)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) { runCase(t, c) })
	}
}

// clock is the node's clock for one case: it reads the case's `at` and
// moves only when a step says so.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func runCase(t *testing.T, c acceptCase) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clk := &clock{now: c.At}
	url := startNode(ctx, t, c, clk)
	client, err := posbridge.Dial(ctx, url, token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer client.Close()
	for i, s := range c.Steps {
		if s.At != nil {
			clk.now = *s.At
		}
		var result json.RawMessage
		err := client.Call(ctx, s.Call, s.Params, &result)
		label := fmt.Sprintf("step %d (%s)", i+1, s.Call)
		if s.ExpectError != "" {
			var rpcErr *posbridge.RPCError
			if !errors.As(err, &rpcErr) {
				t.Fatalf("%s: got result %s, err %v; want error %s", label, result, err, s.ExpectError)
			}
			if got := rpcErr.Reason(); got != s.ExpectError {
				t.Fatalf("%s: got error reason %q (%v), want %q", label, got, rpcErr, s.ExpectError)
			}
			if len(s.Expect) > 0 {
				matchJSON(t, label+" error data", rpcErr.Data, s.Expect)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if len(s.Expect) > 0 {
			var got any
			if err := json.Unmarshal(result, &got); err != nil {
				t.Fatalf("%s: result is not JSON: %v", label, err)
			}
			matchJSON(t, label, got, s.Expect)
		}
	}
}

func startNode(ctx context.Context, t *testing.T, c acceptCase, clk *clock) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "patron.db")
	cfg.Store = c.Store
	cfg.Now = clk.Now
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.LoadProgramme(ctx, c.Programme); err != nil {
		t.Fatalf("load programme: %v", err)
	}
	if err := n.AddTerminal(ctx, terminalID, token); err != nil {
		t.Fatalf("add terminal: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := posbridge.New(n, posbridge.DefaultConfig())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	})
	return "ws://" + ln.Addr().String() + "/pos/v1"
}

// matchJSON checks got against want by the cases' rule: every key of a
// wanted object must be present and equal (objects match partially, at any
// depth); arrays must have the same length and match element by element,
// in order; other values must be equal.
func matchJSON(t *testing.T, label string, got any, wantRaw json.RawMessage) {
	t.Helper()
	want, err := decodeNumbers(wantRaw)
	if err != nil {
		t.Fatalf("%s: expect is not JSON: %v", label, err)
	}
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	gotNorm, err := decodeNumbers(gotJSON)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if diffs := match("$", gotNorm, want); len(diffs) > 0 {
		t.Errorf("%s:\n  %s\n  got: %s", label, strings.Join(diffs, "\n  "), gotJSON)
	}
}

// decodeNumbers keeps numbers as their literal text, so amounts compare
// exactly.
func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func match(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %v, want an object", path, got)}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var diffs []string
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diffs = append(diffs, match(path+"."+k, gv, w[k])...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %v, want an array", path, got)}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %d elements, want %d", path, len(g), len(w))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, match(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return diffs
	default:
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		return nil
	}
}
