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
	"os"
	"path/filepath"
	"strings"
)

// devOptions are the flags of patron dev.
type devOptions struct {
	data          string
	store         string
	programme     string
	posListen     string
	adminListen   string
	front         frontFlags
	tlsSelfSigned bool
	logFormat     string
	logLevel      string
	inbox         string
	outbox        string
	sms           smsFlags
}

// devFlags registers patron dev's flags into a new flag set.
func devFlags(o *devOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("patron dev", flag.ContinueOnError)
	fs.StringVar(&o.data, "data", "./data", "data directory (the bbolt file lives here)")
	fs.StringVar(&o.store, "store", "S001", "store id")
	fs.StringVar(&o.programme, "programme", "", "programme file, JSON or YAML (default: the built-in demo programme)")
	fs.StringVar(&o.posListen, "pos-listen", ":7070", "address for tills (WebSocket, path /pos/v1)")
	fs.StringVar(&o.adminListen, "admin-listen", ":8080", "address for /healthz, /readyz, /metrics and /backup")
	o.front.register(fs)
	fs.BoolVar(&o.tlsSelfSigned, "pos-tls-self-signed", false, "serve tills over wss:// with a self-signed pair for localhost, made in <data>/pos-tls/ (kept for the next start)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.inbox, "inbox", "", "folder legacy tills drop POSLog or bill XML files into (default: no file bridge)")
	fs.StringVar(&o.outbox, "outbox", "", "folder the file bridge writes offer files to (default: none)")
	o.sms.register(fs, smsLog)
	return fs
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o devOptions
	fs := devFlags(&o)
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("patron dev: unexpected argument %q (flags only; see patron dev -h)", fs.Arg(0))
	}
	c, err := o.resolve()
	if err != nil {
		return err
	}
	if o.tlsSelfSigned {
		cert, key, created, err := selfSignedPair(o.data, nil)
		if err != nil {
			return err
		}
		c.tlsCert, c.tlsKey, c.selfSigned = cert, key, created
	}
	logger, _ := newLogger(stderr, o.logFormat, o.logLevel) // checked by resolve
	return serveDev(ctx, c, stdout, logger)
}

// devConfig is patron dev's options, checked and loaded.
type devConfig struct {
	devOptions
	frontConfig
	programme      []byte
	selfSigned     bool   // the pair was made at this start
	adminTokenFile string // where a generated admin token is kept; "" if given
}

// resolve checks the options, reporting every problem at once, and reads
// the files they name.
func (o devOptions) resolve() (devConfig, error) {
	c := devConfig{devOptions: o}
	var errs []error
	fc, ferrs := o.front.resolve()
	c.frontConfig, errs = fc, append(errs, ferrs...)
	if o.tlsSelfSigned && o.front.tlsCert != "" {
		errs = append(errs, errors.New("give --pos-tls-self-signed or --pos-tls-cert/--pos-tls-key, not both"))
	}
	if o.data == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	errs = append(errs, checkListen("pos-listen", o.posListen), checkListen("admin-listen", o.adminListen))
	if o.outbox != "" && o.inbox == "" {
		errs = append(errs, errors.New("--outbox needs --inbox"))
	}
	var err error
	if c.programme, err = programmeBytes(o.programme); err != nil {
		errs = append(errs, err)
	} else if err := checkProgramme(o.programme, c.programme); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.sms.check())
	if _, err := newLogger(io.Discard, o.logFormat, o.logLevel); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("patron dev: %w", err)
	}
	return c, nil
}

func serveDev(ctx context.Context, c devConfig, stdout io.Writer, logger *slog.Logger) error {
	reg := newRegistry()
	n, closeNode, err := openNode(ctx, nodeOptions{data: c.data, store: c.store, sms: c.sms}, logger, reg)
	if err != nil {
		return err
	}
	defer closeNode()
	if _, err := n.LoadProgramme(ctx, c.programme); err != nil {
		return fmt.Errorf("programme: %w", err)
	}
	if err := addTerminals(ctx, n, c.terminals); err != nil {
		return err
	}

	if c.adminToken == "" && len(c.adminTokens) == 0 {
		// Without a token nobody could log in to the console: make one,
		// kept in the data directory so it survives restarts.
		if c.adminToken, c.adminTokenFile, err = devAdminToken(c.data); err != nil {
			return err
		}
	}
	sf, err := openStoreFront(n, c.frontConfig, c.posListen, c.adminListen, c.inbox, c.outbox, logger, reg)
	if err != nil {
		return err
	}

	printBanner(stdout, c, sf.url(), sf.adminLn.Addr())
	logger.Info("store node up", "store", c.store, "pos", sf.posLn.Addr().String(), "admin", sf.adminLn.Addr().String(), "tls", sf.posTLS != nil)
	err = sf.run(ctx, n, c.frontConfig, mountConsole(adminMux(reg, nodeReady(n)), devConsole(c, sf.url())), logger)
	logger.Info("store node stopped")
	return err
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

func printBanner(w io.Writer, c devConfig, url string, admin net.Addr) {
	fmt.Fprintf(w, "patron %s: store %s, data in %s\n", version, c.store, c.data)
	fmt.Fprintf(w, "pos listening on %s\n", url)
	if c.tlsCert != "" {
		fmt.Fprintf(w, "pos TLS certificate %s (tills trust it with patron pos --ca %s)\n", c.tlsCert, c.tlsCert)
	}
	fmt.Fprintf(w, "admin listening on http://%s (/healthz, /readyz, /metrics, /backup, /api/v1/)\n", dialable(admin))
	fmt.Fprintf(w, "web console on http://%s/console/", dialable(admin))
	if c.adminTokenFile != "" {
		fmt.Fprintf(w, " (log in with admin token %s, kept in %s; pass --admin-token to fix it)", c.adminToken, c.adminTokenFile)
	}
	fmt.Fprintln(w)
	printTerminals(w, c.terminals, c.generated)
	if c.generated {
		ca := ""
		if c.tlsCert != "" {
			ca = " --ca " + c.tlsCert
		}
		fmt.Fprintf(w, "try: patron pos --url %s%s --token %s hello\n", url, ca, c.terminals[0].token)
	}
}

func printTerminals(w io.Writer, terminals []terminal, generated bool) {
	for _, t := range terminals {
		if generated {
			fmt.Fprintf(w, "terminal %s token %s (generated; pass --terminal %s=TOKEN to fix it)\n", t.id, t.token, t.id)
		} else {
			fmt.Fprintf(w, "terminal %s configured\n", t.id)
		}
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

// devAdminToken returns the admin token kept in data/admin-token, making
// one on first use.
func devAdminToken(data string) (token, path string, err error) {
	path = filepath.Join(data, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, path, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	token = hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return token, path, nil
}
