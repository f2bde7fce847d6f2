package testcluster

import (
	"fmt"
	"testing"
)

// The negative controls: the same builder with a deliberately broken
// store. The checker must report them, or it passes everything silently.

func TestNegativeControlAckBeforeCommit(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 1, Broken: AckBeforeCommit})
	rec := &Recorder{}
	tl := till(t, c, rec, "S1", "T1")
	member := Mobile(1)
	want(t, tl.Enroll(ctx, member, 0), Acked)
	for i := range 5 {
		want(t, tl.Sale(ctx, fmt.Sprint(i+1), member, 1, 0, 0), Acked)
	}
	// The store crashes while the acknowledged sales wait in memory.
	if err := c.CrashStore("S1"); err != nil {
		t.Fatal(err)
	}
	v, _ := converge(t, ctx, c, rec, Limits{})
	requireCaught(t, v, "no-acked-loss")
}

func TestNegativeControlNoDedup(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t, ctx, Options{Seed: 2, Broken: NoDedup})
	rec := &Recorder{}
	tl := till(t, c, rec, "S1", "T1")
	member := Mobile(2)
	want(t, tl.Enroll(ctx, member, 0), Acked)
	for i := range 5 {
		// Two dropped connections, then the retry: each reaches the
		// store as a second request of the same receipt.
		want(t, tl.Sale(ctx, fmt.Sprint(i+1), member, 1, 0, 2), Acked)
	}
	v, _ := converge(t, ctx, c, rec, Limits{})
	requireCaught(t, v, "conservation")
}

// requireCaught fails unless the violations name inv.
func requireCaught(t *testing.T, v []Violation, inv string) {
	t.Helper()
	for _, x := range v {
		t.Logf("caught: %v", x)
	}
	for _, x := range v {
		if x.Invariant == inv {
			return
		}
	}
	t.Fatalf("the checker missed the broken store: no %s violation among %d", inv, len(v))
}
