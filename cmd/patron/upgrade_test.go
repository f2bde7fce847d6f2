package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron/patron/node"
	"go.etcd.io/bbolt"
)

// setSchema rewrites a stopped node's schema version, as a file of
// another build would carry it.
func setSchema(t *testing.T, path string, v uint32) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, v))
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	path := filepath.Join(data, dataFileName)
	n, err := node.Open(ctx, node.Config{Path: path, Store: "S001", NoSync: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	migrate := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"migrate", "--data", data}, args...), &out, &out)
		return out.String(), err
	}
	if out, err := migrate(); err != nil || !strings.Contains(out, "nothing to migrate") {
		t.Fatalf("current file: %v\n%s", err, out)
	}

	// A file of the oldest schema this build migrates.
	setSchema(t, path, node.MinMigratableSchemaVersion)
	if out, err := migrate("--check"); err != nil || !strings.Contains(out, fmt.Sprintf("would migrate schema %d → %d", node.MinMigratableSchemaVersion, node.SchemaVersion)) {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	if info, _ := node.Inspect(path); info.Schema != node.MinMigratableSchemaVersion {
		t.Fatalf("--check changed the file: schema %d", info.Schema)
	}
	if out, err := migrate(); err != nil || !strings.Contains(out, "migrated schema") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if info, _ := node.Inspect(path); info.Schema != node.SchemaVersion {
		t.Fatalf("after migrate: schema %d", info.Schema)
	}

	// A file newer than this build: refused, unchanged.
	setSchema(t, path, node.SchemaVersion+1)
	if out, err := migrate(); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("newer file: %v\n%s", err, out)
	}
	if info, _ := node.Inspect(path); info.Schema != node.SchemaVersion+1 {
		t.Fatalf("a refused migration changed the file: schema %d", info.Schema)
	}
	if err := run(ctx, []string{"migrate"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("migrate without --data succeeded")
	}
}
