package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge/filedrop"
)

const samplesDir = "../../../shared/samples/poslog"

// usdProgramme is the demo programme with the samples' currency.
func usdProgramme(t *testing.T) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(demoProgramme, &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"], doc["currency"], doc["default_country_code"] = "usd-1", "USD", "+1"
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "programme.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBridgeReplay replays the real samples twice into a data directory
// and checks the JSON report; then replays with the node open elsewhere.
func TestBridgeReplay(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{Path: filepath.Join(data, "patron.db"), Store: "9"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	files := []string{filepath.Join(samplesDir, "ncr-acs-2.1-store9.xml"), filepath.Join(samplesDir, "ncr-acs-2.1-small.xml")}
	args := append([]string{"bridge", "replay", "--data", data, "--store", "9", "--programme", usdProgramme(t)}, files...)
	for round := 0; round < 2; round++ {
		var stdout, stderr bytes.Buffer
		if err := run(ctx, args, &stdout, &stderr); err != nil {
			t.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		var reports []filedrop.Report
		if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
			t.Fatalf("report: %v\n%s", err, stdout.String())
		}
		if len(reports) != 2 || reports[0].Sales != 42 || reports[0].Skipped != 9 || reports[1].Sales != 1 {
			t.Fatalf("round %d: reports %+v", round, reports)
		}
	}

	n, err = node.Open(ctx, node.Config{Path: filepath.Join(data, "patron.db"), Store: "9"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"bridge", "replay", "--data", data, "--store", "9", files[1]}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "stop the patron node") {
		t.Errorf("replay on a locked data file: %v", err)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("got a usage error")
	}
}
