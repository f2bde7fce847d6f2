package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/patron/patron/posbridge"
)

// maxParamsBytes bounds params read from standard input: the node refuses
// frames over 1 MiB anyway.
const maxParamsBytes = 1 << 20

// rpcFailure is a till-protocol error answer; patron pos exits 2 on one so
// scripts can tell a refusal (exit 2) from a failure to talk at all (exit 1).
type rpcFailure struct{ err *posbridge.RPCError }

func (f rpcFailure) Error() string { return f.err.Error() }
func (f rpcFailure) ExitCode() int { return 2 }

func runPOS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("patron pos", flag.ContinueOnError)
	url := fs.String("url", "ws://127.0.0.1:7070/pos/v1", "store node till endpoint")
	token := fs.String("token", os.Getenv("PATRON_TOKEN"), "terminal token (default $PATRON_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the answer")
	caFile := fs.String("ca", "", "PEM certificate(s) to trust for a wss:// URL, e.g. patron dev's <data>/pos-tls/cert.pem (default: the system's roots)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: patron pos [flags] METHOD [key=value | key:=json ...]

Params are built from key=value (a string) and key:=json (any JSON value);
dotted keys nest: basket.lines:='[{"line":1,"sku":"A1","qty":1,"unit_price":100000}]'.
A single argument starting with { is taken as the whole params object, and
- reads it from standard input. For member.identify, mobile=, card= and
email= go inside "identifier".

Examples:
  patron pos --token T hello
  patron pos --token T member.identify mobile=+919800000001
  patron pos --token T member.enroll mobile=9800000001 first_name=Asha consents.programme_terms:=true

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	method := fs.Arg(0)
	params, err := buildParams(method, fs.Args()[1:], os.Stdin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var opts []posbridge.DialOption
	if *caFile != "" {
		roots, err := rootsFromFile(*caFile)
		if err != nil {
			return err
		}
		opts = append(opts, posbridge.WithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	}
	client, err := posbridge.Dial(ctx, *url, *token, opts...)
	if err != nil {
		return err
	}
	defer client.Close()
	var result json.RawMessage
	if err := client.Call(ctx, method, params, &result); err != nil {
		var rpcErr *posbridge.RPCError
		if errors.As(err, &rpcErr) {
			out, _ := json.MarshalIndent(map[string]any{"error": rpcErr}, "", "  ")
			fmt.Fprintln(stdout, string(out))
			return rpcFailure{rpcErr}
		}
		return err
	}
	return printJSON(stdout, result)
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

// buildParams turns command-line arguments into a params object.
func buildParams(method string, args []string, stdin io.Reader) (map[string]any, error) {
	params := map[string]any{}
	if len(args) == 1 && (args[0] == "-" || strings.HasPrefix(strings.TrimSpace(args[0]), "{")) {
		raw := []byte(args[0])
		if args[0] == "-" {
			var err error
			raw, err = io.ReadAll(io.LimitReader(stdin, maxParamsBytes+1))
			if err != nil {
				return nil, fmt.Errorf("read params: %w", err)
			}
			if len(raw) > maxParamsBytes {
				return nil, fmt.Errorf("params larger than %d bytes", maxParamsBytes)
			}
		}
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		return params, nil
	}
	for _, arg := range args {
		key, value, err := parseAssignment(arg)
		if err != nil {
			return nil, err
		}
		if method == "member.identify" && (key == "mobile" || key == "card" || key == "email") {
			key = "identifier." + key
		}
		if err := setPath(params, strings.Split(key, "."), value); err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
	}
	return params, nil
}

func parseAssignment(arg string) (string, any, error) {
	if k, raw, ok := strings.Cut(arg, ":="); ok && !strings.Contains(k, "=") {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return "", nil, fmt.Errorf("%s: value after := must be JSON: %w", arg, err)
		}
		return k, v, validKey(arg, k)
	}
	k, v, ok := strings.Cut(arg, "=")
	if !ok {
		return "", nil, fmt.Errorf("%s: want key=value or key:=json", arg)
	}
	return k, v, validKey(arg, k)
}

func validKey(arg, key string) error {
	for _, part := range strings.Split(key, ".") {
		if part == "" {
			return fmt.Errorf("%s: empty key", arg)
		}
	}
	return nil
}

func setPath(m map[string]any, path []string, v any) error {
	if len(path) == 1 {
		m[path[0]] = v
		return nil
	}
	child, ok := m[path[0]]
	if !ok {
		child = map[string]any{}
		m[path[0]] = child
	}
	cm, ok := child.(map[string]any)
	if !ok {
		return fmt.Errorf("%s is already set to a value", path[0])
	}
	return setPath(cm, path[1:], v)
}
