package testcluster

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// newCluster starts a cluster for a scenario and closes it at the end.
func newCluster(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	if *verboseFlag {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	c, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	return c
}

// till returns till id of store, closed at the end.
func till(t *testing.T, c *Cluster, rec *Recorder, store, id string) *Till {
	tl := NewTill(c.Store(store), id, rec, uint64(len(store)+len(id)))
	t.Cleanup(tl.Close)
	return tl
}

// converge heals, restarts what is down, waits for convergence and
// returns the checker's verdict and the time it took.
func converge(t *testing.T, ctx context.Context, c *Cluster, rec *Recorder, lim Limits, except ...string) ([]Violation, time.Duration) {
	t.Helper()
	c.HealAll()
	if err := c.RestartAll(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.WaitConverged(ctx, ConvergeBound, except...)
	if err != nil {
		t.Fatalf("after %v: %v", d, err)
	}
	views, err := c.Views(ctx, except...)
	if err != nil {
		t.Fatal(err)
	}
	var ops []TillOp
	for _, op := range rec.Ops() {
		if !contains(except, op.Store) {
			ops = append(ops, op)
		}
	}
	return Check(ops, views, lim), d
}

// mustCheck fails on any violation.
func mustCheck(t *testing.T, ctx context.Context, c *Cluster, rec *Recorder, lim Limits, except ...string) time.Duration {
	t.Helper()
	v, d := converge(t, ctx, c, rec, lim, except...)
	for _, x := range v {
		t.Error(x)
	}
	t.Logf("converged %v after heal; %d till ops checked; faults: %v", d.Round(time.Millisecond), len(rec.Ops()), c.Faults())
	return d
}

// want fails unless op had outcome o.
func want(t *testing.T, op TillOp, o Outcome) {
	t.Helper()
	if op.Outcome != o {
		t.Fatalf("%s %s %s: outcome %v (%s), want %v", op.Store, op.Method, op.Ref, op.Outcome, op.Refusal, o)
	}
}

// testCtx is a scenario's deadline.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
