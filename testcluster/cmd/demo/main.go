// Package main is command demo, which shows what Patron does in one minute: a chain of three HQ
// nodes and three stores runs in this process, simulated tills trade at
// every store, and a script cuts and heals links while the terminal shows,
// refreshed every second, each store's link to HQ, how far behind HQ it
// is, when it last heard from HQ, and a few members' balances at HQ and at
// every store — diverging while a store is cut off, converging once it is
// healed. It ends with the invariant checker's verdict.
//
//	go run ./testcluster/cmd/demo                 # make demo
//	go run ./testcluster/cmd/demo -duration 30s -seed 7
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/testcluster"
)

// Shape of the demo chain.
const (
	demoStores   = 3
	demoMembers  = 6 // members the tills trade with
	shownMembers = 4 // members whose balances are shown
	allowance    = 50
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// step is one action of the script, at a fraction of the duration.
type step struct {
	at   float64
	say  string
	what string
	do   func(c *testcluster.Cluster)
}

// script cuts S2 from HQ and heals it, then cuts HQ from every store and
// heals that.
var script = []step{
	{0.12, "cutting S2 from HQ…", "S2 trades offline: its sales earn, redemptions stay within the offline allowance, its events queue up",
		func(c *testcluster.Cluster) { c.Partition("S2", testcluster.BothWays) }},
	{0.35, "healing S2…", "S2 redials HQ and both sides send what the other lacks",
		func(c *testcluster.Cluster) { c.Heal("S2") }},
	{0.50, "cutting HQ from every store…", "every store trades offline; stores do not see each other's sales until HQ is back",
		func(c *testcluster.Cluster) { c.PartitionHQ() }},
	{0.72, "healing every link…", "the stores catch up through HQ; balances converge everywhere",
		func(c *testcluster.Cluster) { c.HealAll() }},
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	duration := fs.Duration("duration", 60*time.Second, "how long the script runs")
	seed := fs.Uint64("seed", 0, "seed of the tills (default drawn from the time)")
	refresh := fs.Duration("refresh", time.Second, "how often the screen is redrawn")
	ansi := fs.Bool("ansi", true, "clear the screen before each redraw (false: append, for logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	fmt.Fprintf(out, "demo: starting 3 HQ nodes and %d stores in this process (seed %d)…\n", demoStores, *seed)
	c, err := testcluster.New(ctx, testcluster.Options{Seed: *seed, Stores: demoStores, OfflineAllowance: allowance})
	if err != nil {
		return err
	}
	defer c.Close()

	rec := &testcluster.Recorder{}
	tradeCtx, stopTrade := context.WithCancel(ctx)
	traded := make(chan struct{})
	go func() {
		defer close(traded)
		c.Trade(tradeCtx, rec, *seed, demoMembers)
	}()
	d := &display{c: c, out: out, ansi: *ansi, start: time.Now()}
	err = d.play(ctx, *duration, *refresh)
	stopTrade()
	<-traded
	if err != nil {
		return err
	}
	return d.finish(ctx, rec)
}

// display draws the chain's state; one goroutine uses it.
type display struct {
	c     *testcluster.Cluster
	out   io.Writer
	ansi  bool
	start time.Time
	said  []string // script lines so far
}

// play runs the script for duration, redrawing every refresh.
func (d *display) play(ctx context.Context, duration, refresh time.Duration) error {
	next := 0
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		elapsed := time.Since(d.start)
		for next < len(script) && elapsed >= time.Duration(script[next].at*float64(duration)) {
			s := script[next]
			s.do(d.c)
			d.said = append(d.said, fmt.Sprintf("%5.1fs  %s %s", elapsed.Seconds(), s.say, s.what))
			next++
		}
		d.draw(ctx, fmt.Sprintf("t=%.0fs of %.0fs", elapsed.Seconds(), duration.Seconds()))
		if elapsed >= duration {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C: stop the show, still check
		case <-t.C:
		}
	}
}

// finish heals, waits for convergence and runs the checker.
func (d *display) finish(ctx context.Context, rec *testcluster.Recorder) error {
	d.c.HealAll()
	d.said = append(d.said, fmt.Sprintf("%5.1fs  tills stopped; waiting for every node to hold the same events…", time.Since(d.start).Seconds()))
	took, cerr := d.c.WaitConverged(context.WithoutCancel(ctx), testcluster.ConvergeBound)
	d.draw(ctx, "done")
	if cerr != nil {
		fmt.Fprintf(d.out, "\nnot converged: %v\n", cerr)
	} else {
		fmt.Fprintf(d.out, "\nconverged %v after the last till stopped: every node holds the same events and balances\n", took.Round(time.Millisecond))
	}
	views, err := d.c.Views(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	ops := rec.Ops()
	vs := testcluster.Check(ops, views, testcluster.Limits{OfflineAllowance: allowance, MaxPartitionedStores: demoStores})
	fmt.Fprintf(d.out, "checker: %d till operations, %d nodes, %d violations\n", len(ops), len(views), len(vs))
	for _, v := range vs {
		fmt.Fprintf(d.out, "  %v\n", v)
	}
	if len(vs) > 0 || cerr != nil {
		return fmt.Errorf("%d violations", len(vs))
	}
	return nil
}

// draw writes one frame.
func (d *display) draw(ctx context.Context, title string) {
	var b strings.Builder
	if d.ansi {
		b.WriteString("\x1b[H\x1b[2J")
	}
	hq, leader := d.hqVector(ctx)
	fmt.Fprintf(&b, "Patron demo — %s — HQ leader %s, %d events at HQ\n\n", title, leader, total(hq))
	fmt.Fprintf(&b, "%-6s %-8s %-12s %-14s %-12s %s\n", "store", "HQ link", "behind HQ", "HQ lacks", "last seen", "events held")
	now := time.Now()
	for _, s := range d.c.Stores {
		n, link := s.Node(), s.Link()
		if n == nil || link == nil {
			fmt.Fprintf(&b, "%-6s %-8s\n", s.ID, "down")
			continue
		}
		vv, err := n.VersionVector(ctx)
		if err != nil {
			fmt.Fprintf(&b, "%-6s %v\n", s.ID, err)
			continue
		}
		st := link.State().HQ
		state := "offline"
		if st.Connected {
			state = "online"
		}
		fmt.Fprintf(&b, "%-6s %-8s %-12s %-14s %-12s %d\n", s.ID, state,
			fmt.Sprintf("%d events", missing(hq, vv)), fmt.Sprintf("%d events", missing(vv, hq)),
			lastSeen(st.LastSeen, st.Since, st.Connected, now), total(vv))
	}
	fmt.Fprintf(&b, "\n%-15s %8s", "member", "HQ")
	for _, s := range d.c.Stores {
		fmt.Fprintf(&b, " %8s", s.ID)
	}
	b.WriteString("\n")
	for i := range shownMembers {
		d.memberRow(ctx, &b, testcluster.Mobile(i))
	}
	b.WriteString("\n")
	for _, s := range d.said {
		b.WriteString(s + "\n")
	}
	io.WriteString(d.out, b.String())
}

// memberRow writes a member's balance at the HQ leader and every store,
// marking a row whose nodes disagree.
func (d *display) memberRow(ctx context.Context, b *strings.Builder, mobile string) {
	fmt.Fprintf(b, "%-15s", mobile)
	var cells []string
	if l := d.c.Leader(); l >= 0 {
		cells = append(cells, balance(ctx, d.c.HQs[l].Node(), mobile))
	} else {
		cells = append(cells, "?")
	}
	for _, s := range d.c.Stores {
		cells = append(cells, balance(ctx, s.Node(), mobile))
	}
	same := true
	for _, c := range cells {
		fmt.Fprintf(b, " %8s", c)
		same = same && c == cells[0]
	}
	if !same {
		b.WriteString("   ≠ converging")
	}
	b.WriteString("\n")
}

// hqVector is the leader's version vector (or the largest HQ node's while
// there is none) and the leader's id.
func (d *display) hqVector(ctx context.Context) (engine.VersionVector, string) {
	leader := "none"
	if l := d.c.Leader(); l >= 0 {
		leader = d.c.HQs[l].ID
		if n := d.c.HQs[l].Node(); n != nil {
			if vv, err := n.VersionVector(ctx); err == nil {
				return vv, leader
			}
		}
	}
	var best engine.VersionVector
	for _, m := range d.c.HQs {
		if n := m.Node(); n != nil {
			if vv, err := n.VersionVector(ctx); err == nil && total(vv) >= total(best) {
				best = vv
			}
		}
	}
	return best, leader
}

// balance is a member's balance at n, "·" before the member is known
// there.
func balance(ctx context.Context, n *node.Node, mobile string) string {
	if n == nil {
		return "down"
	}
	entries, bal, err := n.Entries(ctx, mobile)
	switch {
	case err != nil:
		return "?"
	case len(entries) == 0 && bal == 0:
		return "·"
	}
	return fmt.Sprint(int64(bal))
}

// missing counts the events of a that b lacks.
func missing(a, b engine.VersionVector) uint64 {
	var n uint64
	for o, seq := range a {
		if seq > b[o] {
			n += seq - b[o]
		}
	}
	return n
}

func total(v engine.VersionVector) uint64 {
	var n uint64
	for _, seq := range v {
		n += seq
	}
	return n
}

// lastSeen says when the store last heard from HQ.
func lastSeen(seen, since time.Time, connected bool, now time.Time) string {
	switch {
	case !seen.IsZero():
	case connected:
		seen = now
	default:
		seen = since
	}
	if seen.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.1fs ago", now.Sub(seen).Seconds())
}
