package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
)

// loadtest measures what a till feels: round trips for basket.evaluate and
// sale.complete next to a raw WebSocket echo on the same machine, and
// durable sales per second at several numbers of concurrent tills.

type loadOptions struct {
	url       string
	token     string
	tills     string
	duration  time.Duration
	roundTrip int
	data      string
}

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o loadOptions
	fs := flag.NewFlagSet("patron loadtest", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "", "till endpoint of a running node (default: start one in-process on a temporary directory)")
	fs.StringVar(&o.token, "token", os.Getenv("PATRON_TOKEN"), "terminal token for --url; each simulated till uses it")
	fs.StringVar(&o.tills, "tills", "1,8,64", "comma-separated numbers of concurrent tills for the throughput runs")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each throughput run")
	fs.IntVar(&o.roundTrip, "round-trips", 2000, "requests per latency measurement")
	fs.StringVar(&o.data, "data", "", "data directory for the in-process node (default: a temporary one, removed after)")
	if err := parseFlags(fs, args, stderr); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	tills, err := parseCounts(o.tills)
	if err != nil {
		return err
	}
	inProcess := o.url == ""
	if inProcess {
		url, token, stop, err := startLoadNode(ctx, o.data, false)
		if err != nil {
			return err
		}
		defer stop()
		o.url, o.token = url, token
	}
	echoURL, stopEcho, err := startEcho()
	if err != nil {
		return err
	}
	defer stopEcho()

	fmt.Fprintf(stdout, "loadtest: %s, %d round trips per latency figure, %s per throughput run\n", o.url, o.roundTrip, o.duration)
	echo, err := echoLatency(ctx, echoURL, o.roundTrip)
	if err != nil {
		return fmt.Errorf("echo baseline: %w", err)
	}
	printLatency(stdout, "raw websocket echo", echo)

	c, err := posbridge.Dial(ctx, o.url, o.token)
	if err != nil {
		return err
	}
	defer c.Close()
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	eval, err := callLatency(ctx, o.roundTrip, func(i int) error {
		return c.Call(ctx, "basket.evaluate", evaluateParams(), nil)
	})
	if err != nil {
		return fmt.Errorf("basket.evaluate: %w", err)
	}
	printLatency(stdout, "basket.evaluate", eval)
	member, err := ensureMember(ctx, c, 0)
	if err != nil {
		return err
	}
	sale, err := callLatency(ctx, o.roundTrip, func(i int) error {
		return c.Call(ctx, "sale.complete", saleParams(fmt.Sprintf("L%s-%d", run, i), member), nil)
	})
	if err != nil {
		return fmt.Errorf("sale.complete: %w", err)
	}
	printLatency(stdout, "sale.complete", sale)

	for _, n := range tills {
		rate, err := salesPerSecond(ctx, o.url, o.token, n, o.duration, run)
		if err != nil {
			return fmt.Errorf("%d tills: %w", n, err)
		}
		fmt.Fprintf(stdout, "durable sales/s with %2d tills: %8.0f  (group commit)\n", n, rate)
	}
	if !inProcess {
		return nil
	}
	// The baseline: the same node committing each sale on its own fsync.
	url, token, stop, err := startLoadNode(ctx, "", true)
	if err != nil {
		return err
	}
	defer stop()
	for _, n := range tills {
		rate, err := salesPerSecond(ctx, url, token, n, o.duration, run)
		if err != nil {
			return fmt.Errorf("baseline, %d tills: %w", n, err)
		}
		fmt.Fprintf(stdout, "durable sales/s with %2d tills: %8.0f  (baseline: one fsync per sale)\n", n, rate)
	}
	return nil
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--tills %q: want numbers from 1 to 1024", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// startLoadNode runs a real node (fsync on) with the demo programme;
// commitEach selects the one-fsync-per-sale baseline.
func startLoadNode(ctx context.Context, dir string, commitEach bool) (url, token string, stop func(), err error) {
	cleanup := func() {}
	if dir == "" {
		dir, err = os.MkdirTemp("", "patron-loadtest-")
		if err != nil {
			return "", "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
	}
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(dir, "patron.db")
	cfg.Store = "S001"
	cfg.CommitEach = commitEach
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := node.Open(ctx, cfg)
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	token = "loadtest-token"
	if _, err = n.LoadProgramme(ctx, demoProgramme); err == nil {
		err = n.AddTerminal(ctx, "T01", token)
	}
	if err != nil {
		n.Close()
		cleanup()
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		cleanup()
		return "", "", nil, err
	}
	pcfg := posbridge.DefaultConfig()
	pcfg.Logger = cfg.Logger
	srv := posbridge.New(n, pcfg)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
		n.Close()
		cleanup()
	}
	return "ws://" + ln.Addr().String() + "/pos/v1", token, stop, nil
}

// startEcho serves a plain gorilla WebSocket echo: the floor under any
// till round trip on this machine.
func startEcho() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var up websocket.Upgrader
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			mt, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return "ws://" + ln.Addr().String() + "/", func() { srv.Close(); <-done }, nil
}

func echoLatency(ctx context.Context, url string, n int) ([]time.Duration, error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"basket.evaluate","params":{"basket":{"lines":[{"line":1,"sku":"A1","qty":1,"unit_price":100000}]}}}`)
	return callLatency(ctx, n, func(int) error {
		if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			return err
		}
		_, _, err := conn.ReadMessage()
		return err
	})
}

func callLatency(ctx context.Context, n int, call func(i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := call(i); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func printLatency(w io.Writer, label string, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	fmt.Fprintf(w, "%-20s p50 %8s  p99 %8s  (n=%d)\n", label, p(0.50).Round(time.Microsecond), p(0.99).Round(time.Microsecond), len(d))
}

func evaluateParams() map[string]any {
	return map[string]any{"basket": map[string]any{"lines": []any{
		map[string]any{"line": 1, "sku": "A1", "qty": 1, "unit_price": 100000},
		map[string]any{"line": 2, "sku": "A2", "qty": 1, "unit_price": 76000},
		map[string]any{"line": 3, "sku": "BK1", "qty": 2, "unit_price": 45000},
	}}}
}

// saleParams is a sale of evaluateParams' basket, which no demo campaign
// discounts: net 266000.
func saleParams(receiptNo, member string) map[string]any {
	p := evaluateParams()
	p["receipt_no"] = receiptNo
	p["member"] = map[string]any{"mobile": member}
	p["tenders"] = []any{map[string]any{"type": "cash", "amount": 266000}}
	return p
}

// ensureMember enrols the load test's i-th member, or finds it from an
// earlier run.
func ensureMember(ctx context.Context, c *posbridge.Client, i int) (string, error) {
	mobile := fmt.Sprintf("+9198%08d", 70000000+i)
	err := c.Call(ctx, "member.enroll", map[string]any{
		"mobile": mobile, "first_name": "Load", "last_name": strconv.Itoa(i),
		"consents": map[string]any{"programme_terms": true},
	}, nil)
	var rpcErr *posbridge.RPCError
	if err != nil && !(errors.As(err, &rpcErr) && rpcErr.Reason() == "member_exists") {
		return "", fmt.Errorf("enrol load member: %w", err)
	}
	return mobile, nil
}

// salesPerSecond runs n tills, each on its own connection and member,
// completing sales back to back for d.
func salesPerSecond(ctx context.Context, url, token string, n int, d time.Duration, run string) (float64, error) {
	clients := make([]*posbridge.Client, n)
	members := make([]string, n)
	for i := range clients {
		c, err := posbridge.Dial(ctx, url, token)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		clients[i] = c
		if members[i], err = ensureMember(ctx, c, i); err != nil {
			return 0, err
		}
	}
	var sales atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				receipt := fmt.Sprintf("T%s-%d-%d-%d", run, n, i, k)
				if err := c.Call(ctx, "sale.complete", saleParams(receipt, members[i]), nil); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				sales.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(sales.Load()) / time.Since(start).Seconds(), nil
}
