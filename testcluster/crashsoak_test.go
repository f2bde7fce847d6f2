package testcluster

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// crashSoakKills is the short crash soak's budget: a chain of real
// processes starts in a few seconds and each kill costs about a second.
const crashSoakKills = 5

// TestCrashSoakShort builds patron and runs a short crash soak of real
// processes: a few SIGKILLs of HQ nodes and stores under till load, then
// the checker over every node's bbolt file. make crashsoak runs the long
// one. It takes about 15 s on 2 cores (the patron binary is built
// without the race detector; this test's own code runs under it).
func TestCrashSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds patron and runs six real processes")
	}
	seed := uint64(time.Now().UnixNano() % 1_000_000_000)
	t.Logf("seed %d (replay: go run ./testcluster/cmd/crashsoak -seed %d -kills %d)", seed, seed, crashSoakKills)
	bin := filepath.Join(t.TempDir(), "patron")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/patron").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := RunCrashSoak(ctx, CrashSoak{Bin: bin, Dir: t.TempDir(), Kills: crashSoakKills, Seed: seed, Logf: t.Logf})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Log(res.Summary())
	for _, v := range res.Violations {
		t.Errorf("seed %d: %v", seed, v)
	}
	for _, e := range res.Internal {
		t.Errorf("seed %d: internal error answered to a till: %s", seed, e)
	}
	if res.Lost != 0 || res.Duplicated != 0 {
		t.Errorf("seed %d: %d acknowledged sales lost, %d sales duplicated", seed, res.Lost, res.Duplicated)
	}
	if got := res.Kills["hq"] + res.Kills["store"]; got != crashSoakKills {
		t.Errorf("%d kills, want %d", got, crashSoakKills)
	}
	if res.SalesAcked < 50 {
		t.Errorf("only %d sales acknowledged: the soak proves little", res.SalesAcked)
	}
}
