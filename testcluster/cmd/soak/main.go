// Package main is command soak, which runs testcluster schedules, one seed after another, for a
// duration and ends with one summary line: schedules, events, faults
// injected by kind, violations and the seeds that had them.
//
//	go run ./testcluster/cmd/soak -duration 30m
//	go run ./testcluster/cmd/soak -seed 123456 -v   # replay one seed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/patron/patron/testcluster"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Minute, "how long to run schedules")
	seed := fs.Uint64("seed", 0, "first seed (default drawn from the time); with -n 1 it replays one schedule")
	n := fs.Int("n", 0, "stop after this many schedules (default: as many as fit the duration)")
	rounds := fs.Int("rounds", 3, "fault rounds per schedule")
	roundFor := fs.Duration("round", 3*time.Second, "trading under faults per round")
	verbose := fs.Bool("v", false, "print every schedule's fault actions and summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	fmt.Fprintf(out, "soak: first seed %d, duration %v (replay one: go run ./testcluster/cmd/soak -seed N -n 1 -v)\n", *seed, *duration)
	end := time.Now().Add(*duration)
	var (
		schedules, events, violations uint64
		faults                        testcluster.FaultCounts
		bad                           []string
		maxConverge                   time.Duration
	)
	for s := *seed; time.Now().Before(end) && (*n == 0 || schedules < uint64(*n)); s++ {
		if ctx.Err() != nil {
			break
		}
		sched := testcluster.Schedule{Seed: s, Rounds: *rounds, RoundFor: *roundFor}
		if *verbose {
			sched.Logf = func(format string, a ...any) { fmt.Fprintf(out, "  "+format+"\n", a...) }
		}
		res, err := testcluster.Run(ctx, sched)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				break
			}
			bad = append(bad, fmt.Sprintf("%d(harness: %v)", s, err))
			violations++
			continue
		}
		schedules++
		events += res.Events
		faults = faults.Add(res.Faults)
		for _, d := range res.Converged {
			maxConverge = max(maxConverge, d)
		}
		if len(res.Violations) > 0 {
			violations += uint64(len(res.Violations))
			bad = append(bad, fmt.Sprint(s))
			for _, v := range res.Violations {
				fmt.Fprintf(out, "seed %d: %v\n", s, v)
			}
		}
		if *verbose {
			fmt.Fprintln(out, res.Summary())
		}
	}
	seeds := "none"
	if len(bad) > 0 {
		seeds = strings.Join(bad, ",")
	}
	fmt.Fprintf(out, "soak: schedules=%d events=%d %v converge_max=%v violations=%d violating_seeds=%s\n",
		schedules, events, faults, maxConverge.Round(time.Millisecond), violations, seeds)
	if violations > 0 {
		return fmt.Errorf("%d violations", violations)
	}
	return nil
}
