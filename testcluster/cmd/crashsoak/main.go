// Package main is command crashsoak, which runs a chain of real patron processes — three HQ
// nodes and three stores on loopback — kills one of them at random with
// SIGKILL under till load, again and again, restarting each on its data
// directory and ports, and ends with one summary line: kills by role,
// sales acknowledged, lost, duplicated and of unknown outcome, the time
// to converge, violations and the seed.
//
//	go run ./testcluster/cmd/crashsoak -kills 100          # make crashsoak KILLS=100
//	go run ./testcluster/cmd/crashsoak -seed 42 -v -keep   # replay, keep files and logs
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/patron/patron/testcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashsoak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("crashsoak", flag.ContinueOnError)
	kills := fs.Int("kills", 100, "SIGKILLs to deliver")
	seed := fs.Uint64("seed", 0, "seed of victims, pauses and tills (default drawn from the time)")
	bin := fs.String("bin", "", "patron binary (default: go build -o bin/patron ./cmd/patron first)")
	keep := fs.Bool("keep", false, "keep the chain's directory (data, keys, logs) and print it")
	verbose := fs.Bool("v", false, "print every kill and restart")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	if *bin == "" {
		*bin = filepath.Join("bin", "patron")
		if b, err := exec.Command("go", "build", "-o", *bin, "./cmd/patron").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w: %s", err, b)
		}
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	s := testcluster.CrashSoak{Bin: abs, Kills: *kills, Seed: *seed}
	if *keep {
		if s.Dir, err = os.MkdirTemp("", "crashsoak-keep-"); err != nil {
			return err
		}
	}
	if *verbose {
		s.Logf = func(format string, a ...any) { fmt.Fprintf(out, "  "+format+"\n", a...) }
	}
	fmt.Fprintf(out, "crashsoak: seed %d, %d kills (replay: go run ./testcluster/cmd/crashsoak -seed %d -kills %d)\n", *seed, *kills, *seed, *kills)
	start := time.Now()
	res, err := testcluster.RunCrashSoak(ctx, s)
	if err != nil {
		return fmt.Errorf("seed %d: %w", *seed, err)
	}
	for _, v := range res.Violations {
		fmt.Fprintf(out, "seed %d: %v\n", *seed, v)
	}
	for _, e := range res.Internal {
		fmt.Fprintf(out, "seed %d: internal error answered to a till: %s\n", *seed, e)
	}
	if *verbose {
		fmt.Fprintf(out, "  refused sales by reason: %v\n", res.Refusals)
	}
	if *keep {
		fmt.Fprintf(out, "files and logs kept in %s\n", res.Dir)
	}
	fmt.Fprintf(out, "%s took=%v\n", res.Summary(), time.Since(start).Round(time.Second))
	if n := len(res.Violations) + res.Lost + res.Duplicated; n > 0 {
		return fmt.Errorf("%d violations, %d lost, %d duplicated", len(res.Violations), res.Lost, res.Duplicated)
	}
	return nil
}
