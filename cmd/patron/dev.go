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
	"strings"
)

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
	sms         smsFlags
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
	o.sms.register(fs, smsLog)
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
	reg := newRegistry()
	n, closeNode, err := openNode(ctx, nodeOptions{data: o.data, store: o.store, sms: o.sms}, logger, reg)
	if err != nil {
		return err
	}
	defer closeNode()
	if _, err := n.LoadProgramme(ctx, programme); err != nil {
		return fmt.Errorf("programme: %w", err)
	}
	if err := addTerminals(ctx, n, terminals); err != nil {
		return err
	}

	posLn, err := listenTCP("pos", o.posListen)
	if err != nil {
		return err
	}
	adminLn, err := listenTCP("admin", o.adminListen)
	if err != nil {
		posLn.Close()
		return err
	}
	front, err := newTillFront(n, posLn, o.inbox, o.outbox, logger, reg)
	if err != nil {
		closeAll(posLn, adminLn)
		return err
	}

	printBanner(stdout, o, posLn.Addr(), adminLn.Addr(), terminals, generated)
	logger.Info("store node up", "store", o.store, "pos", posLn.Addr().String(), "admin", adminLn.Addr().String())
	comps := append(front.components(ctx), httpComponent("admin", adminLn, adminMux(reg, nil)))
	err = runComponents(ctx, logger, comps...)
	logger.Info("store node stopped")
	return err
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
