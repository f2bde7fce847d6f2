package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// previousFormatCommit is the last commit whose build writes only chain
// format 1 and has a strict event decoder that refuses anything newer:
// the "previous format" a mixed-version chain must keep syncing with.
const previousFormatCommit = "24fa7499cd1daf66584b44d2798efe22c67069af"

// buildPatronAt builds cmd/patron from the repository at commit into a
// temporary directory. A clone without that commit (a shallow one) cannot
// run the test: it says so and skips.
func buildPatronAt(t *testing.T, commit string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Skipf("the previous format's commit %s is not in this clone (%v: %s); a full clone runs this test", commit[:12], err, out)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", root, commit, src))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	bin := filepath.Join(t.TempDir(), "patron-previous")
	build := exec.Command("go", "build", "-o", bin, "./cmd/patron")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous format's patron: %v\n%s", err, out)
	}
	return bin
}

// TestMixedVersionChainKeepsSyncing runs a chain of the previous build (3
// HQ nodes, 2 stores) with tills trading, then upgrades it one node at a
// time as the runbook says — the HQ nodes first, then the stores — with
// the tills trading between steps: old stores keep syncing with new HQ
// nodes and with a new store through them, nothing is lost, and the
// chain converges after every step. The chain format stays 1 (new nodes
// write nothing the old decoder refuses) until every node runs the new
// build and the upgrade is finalized; then it is 2 everywhere. The
// checker runs over every node's file at the end.
func TestMixedVersionChainKeepsSyncing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two patron binaries and runs five real processes")
	}
	old := buildPatronAt(t, previousFormatCommit)
	current := filepath.Join(t.TempDir(), "patron")
	if out, err := exec.Command("go", "build", "-o", current, "../cmd/patron").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := StartProcChain(ctx, ProcOptions{Bin: old, Dir: t.TempDir(), HQ: 3, Stores: 2, TillsPerStore: 1, Seed: 41})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := &Recorder{}
	stores := p.StoreProcs()
	tills := make([]*Till, len(stores))
	for i, pr := range stores {
		tills[i] = NewTill(pr.Store(), pr.Store().Tills[0], rec, uint64(i+1))
		defer tills[i].Close()
	}
	member := Mobile(41)
	if op := tills[0].Enroll(ctx, member, 0); op.Outcome != Acked {
		t.Fatalf("enrol on the previous build: %v %s", op.Outcome, op.Refusal)
	}
	if _, err := p.WaitConverged(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	receipt := 0
	trade := func(step string) {
		t.Helper()
		for i, tl := range tills {
			receipt++
			if op := tl.Sale(ctx, fmt.Sprint(receipt), member, 1, 0, 0); op.Outcome != Acked {
				t.Fatalf("%s: sale at %s: %v %s", step, stores[i].Name, op.Outcome, op.Refusal)
			}
		}
		if _, err := p.WaitConverged(ctx, 30*time.Second); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		t.Logf("%s: traded at both stores, converged", step)
	}
	upgrade := func(pr *Proc) {
		t.Helper()
		if err := p.StopProc(pr); err != nil {
			t.Fatal(err)
		}
		p.SetBinary(pr, current)
		if err := p.Restart(ctx, pr); err != nil {
			t.Fatalf("start %s on the new build: %v", pr.Name, err)
		}
	}
	formats := func() map[string]int {
		out := map[string]int{}
		for _, pr := range p.Procs {
			st, err := p.status(ctx, pr)
			if err != nil {
				t.Fatal(err)
			}
			out[pr.Name] = st.ChainFormat // 0: the previous build does not report one
		}
		return out
	}

	trade("all on the previous build")
	for _, pr := range p.HQProcs() {
		upgrade(pr)
		trade(pr.Name + " upgraded")
	}
	upgrade(stores[0])
	trade(stores[0].Name + " upgraded, " + stores[1].Name + " still on the previous build")
	for name, f := range formats() {
		if f > engine.ChainFormat1 {
			t.Errorf("%s writes chain format %d while a node of the previous build remains", name, f)
		}
	}
	upgrade(stores[1])
	trade("every node upgraded")

	// Finalize: the chain writes the current format.
	admins := make([]string, 0, 3)
	for _, pr := range p.HQProcs() {
		admins = append(admins, pr.Admin)
	}
	out, err := exec.CommandContext(ctx, current, "hq", "upgrade", "finalize", "--admin", strings.Join(admins, ","),
		"--token-file", p.token).CombinedOutput()
	if err != nil {
		t.Fatalf("patron hq upgrade finalize: %v\n%s", err, out)
	}
	if err := poll(ctx, 30*time.Second, "chain format 2 on every node", func() bool {
		for _, f := range formats() {
			if f != engine.CurrentChainFormat {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("%v: %v", err, formats())
	}
	trade("finalized")

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	views, err := p.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Check(rec.Ops(), views, Limits{}) {
		t.Error(v)
	}
	t.Logf("%d till ops over a rolling upgrade, checked on %d nodes", len(rec.Ops()), len(views))
}
