// Package main is command chainbench, which runs the chain benchmarks of package bench (HQ
// throughput, store-to-store visibility, catch-up after an outage, hold
// round trip) on loopback and prints their figures as a table. make bench
// runs it with the defaults, sized to finish in about two minutes on a
// 2-core machine; the flags run larger or smaller ones, e.g.
//
//	go run ./testcluster/bench/cmd/chainbench -run visibility -vis.load 100x10 -vis.duration 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/patron/patron/testcluster/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chainbench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	run      string
	dir      string
	noSync   bool
	sockBuf  int
	timeout  time.Duration
	cpuProf  string
	tp       bench.ThroughputConfig
	vis      bench.VisibilityConfig
	visLoads string
	loads    []load
	cu       bench.CatchUpConfig
	holds    bench.HoldConfig
}

// load is one visibility load: stores selling at rate sales/s each.
type load struct {
	stores int
	rate   float64
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chainbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.run, "run", "throughput,visibility,catchup,holds", "scenarios to run, comma-separated")
	fs.StringVar(&o.dir, "dir", "", "directory for the nodes' files (default: a temporary one, removed after)")
	fs.BoolVar(&o.noSync, "nosync", false, "turn fsync off everywhere (the figures then mean little)")
	fs.IntVar(&o.sockBuf, "sockbuf", 0, "UDP buffer bytes for the HQ sync sockets (default: the OS default, as cmd/patron)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.IntVar(&o.tp.Events, "tp.events", 60000, "throughput: sale events to commit")
	fs.IntVar(&o.tp.Callers, "tp.callers", 64, "throughput: concurrent AppendEvents callers (one origin each)")
	fs.IntVar(&o.tp.PerCall, "tp.percall", 16, "throughput: events per AppendEvents call")
	fs.StringVar(&o.visLoads, "vis.load", "100x1,10x10", "visibility: loads to run, each STORESxSALES_PER_SECOND_PER_STORE")
	fs.DurationVar(&o.vis.Duration, "vis.duration", 15*time.Second, "visibility: how long the stores sell")
	fs.DurationVar(&o.vis.Drain, "vis.drain", 30*time.Second, "visibility: how long to wait for the last sales to arrive")
	fs.IntVar(&o.cu.Events, "cu.events", 50000, "catch-up: events accumulated while the store is offline")
	fs.IntVar(&o.cu.Origins, "cu.origins", 50, "catch-up: stores those events come from")
	fs.IntVar(&o.holds.Rounds, "holds.rounds", 300, "holds: bare holds, redemption sales and plain sales, each")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, l := range strings.Split(o.visLoads, ",") {
		var stores int
		var rate float64
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "%dx%g", &stores, &rate); err != nil || stores < 1 || rate <= 0 {
			return o, fmt.Errorf("-vis.load %q: want STORESxRATE, e.g. 100x10", l)
		}
		o.loads = append(o.loads, load{stores, rate})
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	root := o.dir
	if root == "" {
		if root, err = os.MkdirTemp("", "chainbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	fmt.Fprintf(out, "chainbench: %d HQ nodes (Raft, mutual TLS) and store nodes (bbolt) in one process, DTLS on loopback\n", bench.HQNodes)
	fmt.Fprintf(out, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, fsync %s; every node shares this machine's CPU and disk,\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, onOff(!o.noSync))
	fmt.Fprintf(out, "so the figures are a floor for a deployment where HQ nodes and stores have their own.\n\n")
	scenarios := map[string]func(context.Context, bench.ChainConfig, options, io.Writer) error{
		"throughput": throughput, "visibility": visibility, "catchup": catchUp, "holds": holds,
	}
	for i, name := range strings.Split(o.run, ",") {
		fn, ok := scenarios[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown scenario %q (throughput, visibility, catchup, holds)", name)
		}
		dir, err := os.MkdirTemp(root, fmt.Sprintf("%d-%s-", i, strings.TrimSpace(name)))
		if err != nil {
			return err
		}
		if err := fn(ctx, bench.ChainConfig{Dir: dir, NoSync: o.noSync, SocketBuffer: o.sockBuf}, o, out); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

func throughput(ctx context.Context, cc bench.ChainConfig, o options, out io.Writer) error {
	r, err := bench.RunThroughput(ctx, cc, o.tp)
	if err != nil {
		return err
	}
	c := r.Config
	row(out, "HQ events committed", fmt.Sprintf("%.0f events/s", r.EventsPerSecond()),
		fmt.Sprintf("%d sale events of %d B, %d callers × %d per call, %.0f events per Raft entry, %s, %d retries",
			r.Events, r.EventBytes, c.Callers, c.PerCall, r.EventsPerEntry(), r.Elapsed.Round(time.Millisecond), r.Retries))
	return nil
}

func visibility(ctx context.Context, cc bench.ChainConfig, o options, out io.Writer) error {
	for i, l := range o.loads {
		cfg := o.vis
		cfg.Stores, cfg.Rate = l.stores, l.rate
		lc := cc
		lc.Dir = filepath.Join(cc.Dir, strconv.Itoa(i))
		r, err := bench.RunVisibility(ctx, lc, cfg)
		if err != nil {
			return err
		}
		visibilityRows(out, r)
	}
	return nil
}

func visibilityRows(out io.Writer, r bench.VisibilityResult) {
	c := r.Config
	load := fmt.Sprintf("%d stores × %g sales/s for %s: %d of %d sales (%.0f/s), setup %s",
		c.Stores, c.Rate, c.Duration, r.Sales, r.Target(), r.SalesPerSecond(), r.Setup.Round(time.Millisecond))
	row(out, "store→HQ→store visibility", pcts(r.Visibility), load)
	if r.Unseen > 0 {
		row(out, "", fmt.Sprintf("%d UNSEEN", r.Unseen), fmt.Sprintf("sales not at the observer within %s", c.Drain))
	}
	if short := r.Target() - r.Sales; float64(short) > 0.02*float64(r.Target()) {
		row(out, "", "RATE NOT SUSTAINED", fmt.Sprintf("%d sales short of the target: the tills could not keep up", short))
	}
	row(out, "  first hop: store→HQ leader", pcts(r.ToHQ), "until the event is in the HQ leader's store (committed through Raft)")
	row(out, "  sale.complete at the store", pcts(r.Sale), "the store's fsynced commit, under the same load")
}

func catchUp(ctx context.Context, cc bench.ChainConfig, o options, out io.Writer) error {
	r, err := bench.RunCatchUp(ctx, cc, o.cu)
	if err != nil {
		return err
	}
	row(out, "catch-up after an outage", fmt.Sprintf("%s, %.0f events/s", r.Elapsed.Round(time.Millisecond), r.EventsPerSecond()),
		fmt.Sprintf("%d events of %d origins accumulated at HQ in %s while the store was offline",
			r.Events, r.Config.Origins, r.Accumulate.Round(time.Millisecond)))
	return nil
}

func holds(ctx context.Context, cc bench.ChainConfig, o options, out io.Writer) error {
	r, err := bench.RunHolds(ctx, cc, o.holds)
	if err != nil {
		return err
	}
	row(out, "hold round trip (bare)", pcts(r.Bare), "Authority.Hold: store → HQ leader → Raft entry → reply, idle chain")
	row(out, "sale with redemption", pcts(r.Redemption), "sale.complete: hold round trip + the store's fsynced commit")
	row(out, "sale without redemption", pcts(r.Sale), "sale.complete: the store's fsynced commit only (baseline)")
	return nil
}

// row prints one line of the table.
func row(out io.Writer, what, figure, detail string) {
	fmt.Fprintf(out, "%-30s %-34s %s\n", what, figure, detail)
}

// pcts formats p50 and p99 (and n).
func pcts(l bench.Latencies) string {
	if len(l) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p99 %s  (n=%d)", msf(l.Percentile(50)), msf(l.Percentile(99)), len(l))
}

func msf(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
