package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/patron/patron/engine"
)

// A store loses its disk mid-day and is replaced by a machine with an
// empty data directory: it becomes a new incarnation (a new event origin),
// pulls its members, ledger and programme back from HQ, answers a till's
// retry of a sale acknowledged before the loss with that sale, and trades
// on. Its new events would have reused the sequence numbers HQ holds for
// its earlier ones under the bare store id; under the new origin they
// reach every node, nothing is lost or shadowed, and the checker's
// invariants hold.
func TestScenarioStoreReplacedAfterDiskLoss(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 31})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	m := Mobile(31)
	want(t, a.Enroll(ctx, m, 0), Acked)
	var last TillOp
	for i := range 5 {
		last = a.Sale(ctx, fmt.Sprint(i+1), m, 1, 0, 0)
		want(t, last, Acked)
	}
	// What a dead disk takes with it is what never left it; wait until
	// HQ holds all of S1's events, as it does within a second in trade.
	s1 := c.Store("S1").Node()
	oldOrigin := s1.Origin()
	own, err := s1.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, ConvergeBound, "S1's events at HQ", func() bool {
		return c.leaderHolds(ctx, oldOrigin, own[oldOrigin])
	}); err != nil {
		t.Fatal(err)
	}

	if err := c.ReplaceStore(ctx, "S1"); err != nil {
		t.Fatal(err)
	}
	newOrigin := c.Store("S1").Node().Origin()
	if newOrigin == oldOrigin || engine.OriginStore(newOrigin) != "S1" {
		t.Fatalf("replaced S1's origin %q (was %q): want a new incarnation of S1", newOrigin, oldOrigin)
	}
	// The till retries the last sale (its answer was lost with the
	// cable, say): the replaced store knows it from HQ's copy.
	retry := a.Sale(ctx, "5", m, 1, 0, 0)
	want(t, retry, Acked)
	if got, was := receiptOf(t, retry), receiptOf(t, last); got != was {
		t.Errorf("retried sale after the replacement answered %+v, the original %+v", got, was)
	}
	if c.Store("S1").Node().CatchingUp() {
		t.Error("S1 answered a till while still catching up")
	}
	// Trading on, at both stores.
	for i := 6; i <= 8; i++ {
		want(t, a.Sale(ctx, fmt.Sprint(i), m, 1, 0, 0), Acked)
	}
	want(t, b.Sale(ctx, "1", m, 1, 0, 0), Acked)
	mustCheck(t, ctx, c, rec, Limits{})

	// Every node holds both incarnations' events; the new one's from seq 1.
	holdBothIncarnations(t, ctx, c, oldOrigin, own[oldOrigin], newOrigin)
	after, err := b.Identify(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("S1 replaced: %s → %s; member balance at S2 %d after 9 sales", oldOrigin, newOrigin, after.Points.Balance)
}

// receiptSummary is what a retried sale must answer as the original did.
type receiptSummary struct {
	ReceiptID string `json:"receipt_id"`
	Points    struct {
		Earned int64 `json:"earned"`
	} `json:"points"`
}

func receiptOf(t *testing.T, op TillOp) receiptSummary {
	t.Helper()
	var r receiptSummary
	if len(op.Answers) == 0 {
		t.Fatalf("%s %s: no answer", op.Method, op.Ref)
	}
	if err := json.Unmarshal([]byte(op.Answers[0]), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// A store goes back to a backup taken while it traded (patron restore):
// the sales it made after the backup are at HQ under its old incarnation.
// The restored store is a new incarnation, catches up on them before it
// serves tills, answers a till's retry of one of them with that sale, and
// trades on; nothing is lost or counted twice.
func TestScenarioStoreRestoredFromBackup(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 32})
	rec := &Recorder{}
	a, b := till(t, c, rec, "S1", "T1"), till(t, c, rec, "S2", "T1")
	m := Mobile(32)
	want(t, a.Enroll(ctx, m, 0), Acked)
	for i := 1; i <= 3; i++ {
		want(t, a.Sale(ctx, fmt.Sprint(i), m, 1, 0, 0), Acked)
	}
	s1 := c.Store("S1").Node()
	backup := filepath.Join(t.TempDir(), "S1.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.WriteSnapshot(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// After the backup: more sales, which reach HQ.
	var last TillOp
	for i := 4; i <= 6; i++ {
		last = a.Sale(ctx, fmt.Sprint(i), m, 1, 0, 0)
		want(t, last, Acked)
	}
	oldOrigin := s1.Origin()
	own, err := s1.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, ConvergeBound, "S1's events at HQ", func() bool {
		return c.leaderHolds(ctx, oldOrigin, own[oldOrigin])
	}); err != nil {
		t.Fatal(err)
	}

	if err := c.RestoreStore(ctx, "S1", backup); err != nil {
		t.Fatal(err)
	}
	newOrigin := c.Store("S1").Node().Origin()
	if newOrigin == oldOrigin || engine.OriginStore(newOrigin) != "S1" {
		t.Fatalf("restored S1's origin %q (was %q): want a new incarnation of S1", newOrigin, oldOrigin)
	}
	// A sale made after the backup, retried: the restored store knows it
	// from HQ, so it is the same sale, not a second one.
	retry := a.Sale(ctx, "6", m, 1, 0, 0)
	want(t, retry, Acked)
	if got, was := receiptOf(t, retry), receiptOf(t, last); got != was {
		t.Errorf("retried sale after the restore answered %+v, the original %+v", got, was)
	}
	for i := 7; i <= 8; i++ {
		want(t, a.Sale(ctx, fmt.Sprint(i), m, 1, 0, 0), Acked)
	}
	want(t, b.Sale(ctx, "1", m, 1, 0, 0), Acked)
	mustCheck(t, ctx, c, rec, Limits{})
	holdBothIncarnations(t, ctx, c, oldOrigin, own[oldOrigin], newOrigin)
}

// holdBothIncarnations fails unless every node holds the old incarnation's
// events up to held and some of the new one's.
func holdBothIncarnations(t *testing.T, ctx context.Context, c *Cluster, oldOrigin string, held uint64, newOrigin string) {
	t.Helper()
	views, err := c.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if v.Vector[oldOrigin] != held || v.Vector[newOrigin] == 0 {
			t.Errorf("%s holds %s:%d and %s:%d; want %d and the new incarnation's events", v.Name,
				oldOrigin, v.Vector[oldOrigin], newOrigin, v.Vector[newOrigin], held)
		}
	}
}
