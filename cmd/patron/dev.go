package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
	"github.com/patron/patron/posbridge/filedrop"
)

// shutdownGrace bounds how long a stopping node waits for in-flight till
// requests: long enough for a sale's commit, short enough for a service
// manager's stop timeout.
const shutdownGrace = 10 * time.Second

// devOptions are the flags of patron dev.
type devOptions struct {
	data        string
	store       string
	programme   string
	posListen   string
	adminListen string
	terminals   multiFlag
	logFormat   string
	logLevel    string
	inbox       string
	outbox      string
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o devOptions
	fs := flag.NewFlagSet("patron dev", flag.ContinueOnError)
	fs.StringVar(&o.data, "data", "./data", "data directory (the bbolt file lives here)")
	fs.StringVar(&o.store, "store", "S001", "store id")
	fs.StringVar(&o.programme, "programme", "", "programme file, JSON or YAML (default: the built-in demo programme)")
	fs.StringVar(&o.posListen, "pos-listen", ":7070", "address for tills (WebSocket, path /pos/v1)")
	fs.StringVar(&o.adminListen, "admin-listen", ":8080", "address for /healthz, /readyz and /metrics")
	fs.Var(&o.terminals, "terminal", "terminal `ID=TOKEN` (repeatable; with none, T01 is created and its token printed)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.inbox, "inbox", "", "folder legacy tills drop POSLog or bill XML files into (default: no file bridge)")
	fs.StringVar(&o.outbox, "outbox", "", "folder the file bridge writes offer files to (default: none)")
	if err := parseFlags(fs, args, stderr); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	return serveDev(ctx, o, stdout, logger)
}

func serveDev(ctx context.Context, o devOptions, stdout io.Writer, logger *slog.Logger) error {
	terminals, generated, err := parseTerminals(o.terminals)
	if err != nil {
		return err
	}
	programme, err := programmeBytes(o.programme)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(o.data, "patron.db")
	cfg.Store = o.store
	cfg.Logger = logger
	cfg.Metrics = reg
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if _, err := n.LoadProgramme(ctx, programme); err != nil {
		return fmt.Errorf("programme: %w", err)
	}
	for _, t := range terminals {
		if err := n.AddTerminal(ctx, t.id, t.token); err != nil {
			return err
		}
	}

	posLn, err := net.Listen("tcp", o.posListen)
	if err != nil {
		return fmt.Errorf("pos listener: %w", err)
	}
	adminLn, err := net.Listen("tcp", o.adminListen)
	if err != nil {
		posLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}

	pcfg := posbridge.DefaultConfig()
	pcfg.Logger = logger
	pcfg.Metrics = reg
	pos := posbridge.New(n, pcfg)
	var drop *filedrop.Bridge
	if o.inbox != "" {
		if drop, err = filedrop.New(n, filedrop.Config{Inbox: o.inbox, Outbox: o.outbox, Logger: logger, Metrics: reg}); err != nil {
			posLn.Close()
			adminLn.Close()
			return err
		}
	}
	admin := &http.Server{Handler: adminMux(reg), ReadHeaderTimeout: 5 * time.Second}

	printBanner(stdout, o, posLn.Addr(), adminLn.Addr(), terminals, generated)
	logger.Info("store node up", "store", o.store, "pos", posLn.Addr().String(), "admin", adminLn.Addr().String())

	errc := make(chan error, 3)
	go func() { errc <- pos.Serve(ctx, posLn) }()
	go func() { errc <- admin.Serve(adminLn) }()
	pending := 2
	dropCtx, stopDrop := context.WithCancel(ctx)
	defer stopDrop()
	if drop != nil {
		pending++
		go func() { errc <- drop.Run(dropCtx) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		pending--
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := pos.Shutdown(shutdownCtx); err != nil && !errors.Is(err, posbridge.ErrServerClosed) {
		logger.Warn("pos shutdown", "err", err)
	}
	if err := admin.Shutdown(shutdownCtx); err != nil {
		logger.Warn("admin shutdown", "err", err)
	}
	stopDrop()
	for ; pending > 0; pending-- {
		<-errc // the servers have returned once Shutdown is done, the bridge once stopped
	}
	logger.Info("store node stopped")
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) && !errors.Is(runErr, posbridge.ErrServerClosed) {
		return runErr
	}
	return nil
}

func adminMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

type terminal struct{ id, token string }

// parseTerminals reads ID=TOKEN flags; with none it makes T01 with a fresh
// random token, which the banner prints.
func parseTerminals(flags []string) ([]terminal, bool, error) {
	if len(flags) == 0 {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, false, fmt.Errorf("terminal token: %w", err)
		}
		return []terminal{{"T01", hex.EncodeToString(b[:])}}, true, nil
	}
	seen := map[string]bool{}
	out := make([]terminal, 0, len(flags))
	for _, f := range flags {
		id, token, ok := strings.Cut(f, "=")
		if !ok || id == "" || token == "" {
			return nil, false, fmt.Errorf("--terminal %q: want ID=TOKEN", f)
		}
		if seen[id] {
			return nil, false, fmt.Errorf("--terminal %q: terminal %s given twice", f, id)
		}
		seen[id] = true
		out = append(out, terminal{id, token})
	}
	return out, false, nil
}

func programmeBytes(path string) ([]byte, error) {
	if path == "" {
		return demoProgramme, nil
	}
	data, err := readLimited(path, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("programme %s: %w", path, err)
	}
	return data, nil
}

func printBanner(w io.Writer, o devOptions, pos, admin net.Addr, terminals []terminal, generated bool) {
	url := "ws://" + dialable(pos) + "/pos/v1"
	fmt.Fprintf(w, "patron %s: store %s, data in %s\n", version, o.store, o.data)
	fmt.Fprintf(w, "pos listening on %s\n", url)
	fmt.Fprintf(w, "admin listening on http://%s (/healthz, /readyz, /metrics)\n", dialable(admin))
	for _, t := range terminals {
		if generated {
			fmt.Fprintf(w, "terminal %s token %s (generated; pass --terminal %s=TOKEN to fix it)\n", t.id, t.token, t.id)
		} else {
			fmt.Fprintf(w, "terminal %s configured\n", t.id)
		}
	}
	if generated {
		fmt.Fprintf(w, "try: patron pos --url %s --token %s hello\n", url, terminals[0].token)
	}
}

// dialable turns a wildcard listen address into one a client can dial.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
