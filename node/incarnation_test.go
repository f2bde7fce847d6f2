package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/patron/patron/engine"
)

var incarnated = regexp.MustCompile(`^S001\.[1-9][0-9]{8}$`)

func openAt(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewFileGetsAnIncarnationThatLasts(t *testing.T) {
	clock := &fakeClock{t: testStart}
	cfg := Config{Path: filepath.Join(t.TempDir(), "p.db"), Store: "S001", Now: clock.Now, NoSync: true}
	n := openAt(t, cfg)
	origin := n.Origin()
	if !incarnated.MatchString(origin) || engine.OriginStore(origin) != "S001" {
		t.Fatalf("origin %q: want S001.<9 digits>", origin)
	}
	if _, err := n.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatal(err)
	}
	n.Close()
	n = openAt(t, cfg)
	defer n.Close()
	if n.Origin() != origin {
		t.Fatalf("reopened with origin %q, was %q", n.Origin(), origin)
	}
	if vv, _ := n.VersionVector(ctx); vv[origin] != 1 {
		t.Fatalf("vv %v", vv)
	}
	// Another store's file is refused, not silently renamed.
	n.Close()
	other := cfg
	other.Store = "S002"
	if _, err := Open(ctx, other); !errors.Is(err, ErrWrongStore) {
		t.Fatalf("open as S002: %v, want ErrWrongStore", err)
	}
}

// A file made before incarnations holds events under the bare store id:
// it keeps that origin, since its events are named so everywhere.
func TestLegacyFileKeepsTheBareOrigin(t *testing.T) {
	clock := &fakeClock{t: testStart}
	cfg := Config{Path: filepath.Join(t.TempDir(), "p.db"), Store: "S001", Origin: "S001", Now: clock.Now, NoSync: true}
	n := openAt(t, cfg)
	if _, err := n.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatal(err)
	}
	n.Close()
	cfg.Origin = ""
	n = openAt(t, cfg)
	defer n.Close()
	if n.Origin() != "S001" {
		t.Fatalf("legacy file opened with origin %q, want S001", n.Origin())
	}
}

func TestStoreIDTooLongForAnIncarnation(t *testing.T) {
	long := "S" + fmt.Sprintf("%0*d", MaxIncarnatedStoreIDLen, 1)
	_, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "p.db"), Store: long, NoSync: true})
	if !errors.Is(err, ErrStoreIDTooLong) {
		t.Fatalf("store id of %d characters: %v, want ErrStoreIDTooLong", len(long), err)
	}
}

// The hazard incarnations remove: a store that lost its disk and numbered
// new events from 1 under its old origin would hand HQ identities HQ
// holds for other events. HQ now refuses them loudly (before incarnations
// it skipped them as duplicates: lost without a trace); the replacement,
// a new incarnation, has its events applied.
func TestReplacementNeverReusesAnEventIdentity(t *testing.T) {
	clock := &fakeClock{t: testStart}
	hq := newPeer(t, "HQ1", clock, nil)
	dir := t.TempDir()
	first := openAt(t, Config{Path: filepath.Join(dir, "first.db"), Store: "S001", Now: clock.Now, NoSync: true})
	defer first.Close()
	if _, err := first.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := first.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	sync := func(from *Node) error {
		evs, err := from.EventsAfter(ctx, from.Origin(), 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = hq.ApplyEvents(ctx, evs)
		return err
	}
	if err := sync(first); err != nil {
		t.Fatal(err)
	}

	// Reusing the old origin on an empty disk: refused as a conflict.
	reused := openAt(t, Config{Path: filepath.Join(dir, "reused.db"), Store: "S001", Origin: first.Origin(), Now: clock.Now, NoSync: true})
	defer reused.Close()
	if _, err := reused.LoadProgramme(ctx, testProgramme("v2", "off")); err != nil {
		t.Fatal(err)
	}
	if err := sync(reused); !errors.Is(err, engine.ErrEventConflict) || !errors.Is(err, engine.ErrBadEvent) {
		t.Fatalf("reused identity at HQ: %v, want ErrEventConflict", err)
	}

	// The replacement as it happens: an empty file, a new incarnation.
	replacement := openAt(t, Config{Path: filepath.Join(dir, "replacement.db"), Store: "S001", Now: clock.Now, NoSync: true})
	defer replacement.Close()
	if replacement.Origin() == first.Origin() {
		t.Fatal("the replacement drew the same incarnation")
	}
	if _, err := replacement.LoadProgramme(ctx, testProgramme("v2", "off")); err != nil {
		t.Fatal(err)
	}
	if err := sync(replacement); err != nil {
		t.Fatal(err)
	}
	vv, _ := hq.VersionVector(ctx)
	if vv[first.Origin()] != 2 || vv[replacement.Origin()] != 1 {
		t.Fatalf("HQ holds %v", vv)
	}
}

func TestReincarnateAndCatchUp(t *testing.T) {
	clock := &fakeClock{t: testStart}
	hq := newPeer(t, "HQ1", clock, nil)
	if _, err := hq.LoadProgramme(ctx, testProgramme("v1", "off")); err != nil {
		t.Fatal(err)
	}
	m := "+919800000001"
	if _, err := hq.Enroll(ctx, "T01", EnrollRequest{Mobile: m, Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.db")
	cfg := Config{Path: path, Store: "S001", Now: clock.Now, NoSync: true, CatchUpFromHQ: true}
	n := openAt(t, cfg)
	before := n.Origin()
	// A new file of a store that syncs with HQ serves no till yet.
	if !n.CatchingUp() {
		t.Fatal("a new store file is not catching up")
	}
	target, _ := hq.VersionVector(ctx)
	if err := n.CatchUpTo(ctx, target); err != nil {
		t.Fatal(err)
	}
	evs, err := hq.EventsAfter(ctx, hq.Origin(), 0, 0, 0)
	if err != nil || len(evs) != 2 {
		t.Fatalf("HQ events %d, %v", len(evs), err)
	}
	// The programme has arrived, the enrolment not yet.
	if _, err := n.ApplyEvents(ctx, evs[:1]); err != nil {
		t.Fatal(err)
	}
	if !n.CatchingUp() {
		t.Fatal("caught up before holding HQ's events")
	}
	if _, err := n.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)}); !errors.Is(err, ErrCatchingUp) {
		t.Fatalf("identify while catching up: %v, want ErrCatchingUp", err)
	}
	// Every till method waits, the ones that need no programme first too:
	// a retried sale must find the original once HQ's copy is here.
	if _, err := n.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "1", Basket: books(1, 1000), Member: mobile(m)}); !errors.Is(err, ErrCatchingUp) {
		t.Fatalf("sale while catching up: %v, want ErrCatchingUp", err)
	}
	if _, err := n.Void(ctx, "T01", VoidRequest{ReceiptID: "S001-T01-1"}); !errors.Is(err, ErrCatchingUp) {
		t.Fatalf("void while catching up: %v, want ErrCatchingUp", err)
	}
	if _, err := n.Ledger(ctx, "T01", LedgerRequest{MemberID: m}); !errors.Is(err, ErrCatchingUp) {
		t.Fatalf("ledger while catching up: %v, want ErrCatchingUp", err)
	}
	if _, err := n.ApplyEvents(ctx, evs[1:]); err != nil {
		t.Fatal(err)
	}
	if n.CatchingUp() {
		t.Fatal("still catching up after applying everything HQ held")
	}
	if _, err := n.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(m)}); err != nil {
		t.Fatalf("identify after catching up: %v", err)
	}
	n.Close()
	// Reopened: the mark is gone for good.
	n = openAt(t, cfg)
	if n.CatchingUp() {
		t.Fatal("catching up again after a restart")
	}
	n.Close()

	// A restore: a new incarnation, catching up again.
	origin, err := Reincarnate(path, "S001")
	if err != nil {
		t.Fatal(err)
	}
	if origin == before || engine.OriginStore(origin) != "S001" {
		t.Fatalf("reincarnated as %q, was %q", origin, before)
	}
	if _, err := Reincarnate(path, "S002"); !errors.Is(err, ErrWrongStore) {
		t.Fatalf("reincarnate as another store: %v", err)
	}
	n = openAt(t, cfg)
	defer n.Close()
	if n.Origin() != origin || !n.CatchingUp() {
		t.Fatalf("after reincarnation: origin %q catching up %v", n.Origin(), n.CatchingUp())
	}
	if got, err := FileOrigin(path); err == nil {
		t.Fatalf("FileOrigin of an open file: %q, want ErrLocked", got)
	}
	// Without HQ (patron dev) a reincarnated file has nothing to wait for.
	n.Close()
	dev := cfg
	dev.CatchUpFromHQ = false
	n = openAt(t, dev)
	if n.CatchingUp() {
		t.Fatal("a node without HQ waits to catch up")
	}
	n.Close()
}
