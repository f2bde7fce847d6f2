package node

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// asFirstBuildFile makes path look like a file the first released build
// made: no chain format recorded.
func asFirstBuildFile(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaChainFormat) }); err != nil {
		t.Fatal(err)
	}
}

func TestChainFormatGatesNewEvents(t *testing.T) {
	clock := &fakeClock{t: testStart}
	path := filepath.Join(t.TempDir(), "p.db")
	cfg := Config{Path: path, Store: "S001", Origin: "S001", Now: clock.Now, NoSync: true, SMS: &smsBox{}}
	n := openAt(t, cfg)
	if n.ChainFormat() != engine.CurrentChainFormat {
		t.Fatalf("new file at format %d, want %d", n.ChainFormat(), engine.CurrentChainFormat)
	}
	n.Close()
	asFirstBuildFile(t, path)
	n = openAt(t, cfg)
	if n.ChainFormat() != engine.ChainFormat1 {
		t.Fatalf("first-build file at format %d, want 1", n.ChainFormat())
	}
	if _, err := n.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatalf("a format-1 event in a format-1 chain: %v", err)
	}
	// A programme with settings the first build's decoder refuses.
	var doc map[string]any
	if err := json.Unmarshal(testProgramme("v2", "off"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["earn"].(map[string]any)["expire_after_days"] = 365
	lots, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.LoadProgramme(ctx, lots); !errors.Is(err, ErrChainFormat) {
		t.Fatalf("a programme with lot settings at format 1: %v, want ErrChainFormat", err)
	}
	if _, err := n.PrepareProgrammeEvent(ctx, lots); !errors.Is(err, ErrChainFormat) {
		t.Fatalf("preparing it at format 1: %v, want ErrChainFormat", err)
	}
	newer := engine.Event{Kind: engine.EventMemberUpdated, Member: "+919800000001",
		Profile: map[string]string{"language": "sl"}}
	if _, err := n.PrepareEvent(ctx, newer); !errors.Is(err, ErrChainFormat) {
		t.Fatalf("a profile field the first build rejects, at format 1: %v, want ErrChainFormat", err)
	}
	if n.CanWrite("member.erased") || !n.CanWrite(engine.EventSaleCompleted) {
		t.Error("CanWrite at format 1")
	}

	// HQ finalizes the upgrade: the chain.format event raises the node.
	hq := newPeer(t, "HQ1", clock, nil)
	fin, err := hq.PrepareEvent(ctx, engine.Event{Kind: engine.EventChainFormat,
		Format: &engine.ChainFormatChange{Version: engine.CurrentChainFormat}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ApplyEvents(ctx, []engine.RawEvent{fin}); err != nil {
		t.Fatal(err)
	}
	if n.ChainFormat() != engine.CurrentChainFormat {
		t.Fatalf("after chain.format: %d", n.ChainFormat())
	}
	if _, err := n.PrepareEvent(ctx, newer); errors.Is(err, ErrChainFormat) {
		t.Fatalf("at the current format: %v", err)
	}
	if _, err := n.LoadProgramme(ctx, lots); err != nil {
		t.Fatalf("the programme with lot settings at the current format: %v", err)
	}
	n.Close()
	n = openAt(t, cfg)
	defer n.Close()
	if n.ChainFormat() != engine.CurrentChainFormat {
		t.Fatalf("reopened at %d", n.ChainFormat())
	}
	// A later, lower format never lowers it.
	if _, err := hq.ApplyEvents(ctx, []engine.RawEvent{fin}); err != nil {
		t.Fatal(err)
	}
	low, err := hq.PrepareEvent(ctx, engine.Event{Kind: engine.EventChainFormat, Format: &engine.ChainFormatChange{Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ApplyEvents(ctx, []engine.RawEvent{low}); err != nil {
		t.Fatal(err)
	}
	if n.ChainFormat() != engine.CurrentChainFormat {
		t.Fatalf("lowered to %d", n.ChainFormat())
	}
}
