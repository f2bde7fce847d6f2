package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patron/patron/replication/hq"
)

// The operator's side of HQ's admin API, and patron hq certs.

// adminClientTimeout bounds one admin call: a programme load commits
// through Raft in well under a second; an election takes a few.
const adminClientTimeout = 45 * time.Second

// maxAdminAnswer bounds an admin answer read by the CLI (a status or an
// overdraft list).
const maxAdminAnswer = 16 << 20

// adminFlags are the flags every admin subcommand takes.
type adminFlags struct {
	urls      string
	token     string
	tokenFile string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.urls, "admin", "", "HQ admin `URL`s, comma-separated (http://host:port); tried in turn until the Raft leader answers (required)")
	fs.StringVar(&a.token, "token", "", "admin token (as patron hq --admin-token)")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding the admin token")
}

// resolve returns the URLs and the token.
func (a *adminFlags) resolve(needToken bool) ([]string, string, error) {
	var urls []string
	for _, u := range strings.Split(a.urls, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			if !strings.Contains(u, "://") {
				u = "http://" + u
			}
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, "", errors.New("--admin URL is required")
	}
	tok := a.token
	if a.tokenFile != "" {
		var err error
		if tok, err = readSecret(a.tokenFile); err != nil {
			return nil, "", fmt.Errorf("--token-file: %w", err)
		}
	}
	if needToken && tok == "" {
		return nil, "", errors.New("--token or --token-file is required")
	}
	return urls, tok, nil
}

// adminCall sends one request to each URL in turn until one answers other
// than "not the leader" or unreachable, and returns that answer's body.
// A non-2xx answer is an error carrying the server's message.
func adminCall(ctx context.Context, method string, urls []string, path, token, contentType string, body []byte) ([]byte, error) {
	client := &http.Client{Timeout: adminClientTimeout}
	var errs []error
	for _, base := range urls {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		if resp.StatusCode/100 == 2 {
			return data, nil
		}
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Error == "" {
			ae.Error = strings.TrimSpace(string(data))
		}
		err = fmt.Errorf("%s: %s (HTTP %d)", base, ae.Error, resp.StatusCode)
		if resp.StatusCode == http.StatusConflict && (ae.LeaderID != "" || strings.Contains(ae.Error, "not the Raft leader")) {
			errs = append(errs, err)
			continue // a follower: try the next URL
		}
		return nil, err
	}
	return nil, errors.Join(errs...)
}

func runHQProgrammeLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var af adminFlags
	fs := flag.NewFlagSet("patron hq programme load", flag.ContinueOnError)
	af.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "Usage: patron hq programme load --admin URL[,URL...] --token T FILE\n")
		return errUsage
	}
	urls, tok, err := af.resolve(true)
	if err != nil {
		return err
	}
	doc, err := readLimited(fs.Arg(0), maxProgrammeDocBytes)
	if err != nil {
		return fmt.Errorf("programme %s: %w", fs.Arg(0), err)
	}
	out, err := adminCall(ctx, http.MethodPost, urls, "/programme", tok, "application/octet-stream", doc)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func runHQJoin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var af adminFlags
	var id, raftAddr string
	fs := flag.NewFlagSet("patron hq join", flag.ContinueOnError)
	af.register(fs)
	fs.StringVar(&id, "id", "", "id of the HQ node to add (required)")
	fs.StringVar(&raftAddr, "raft-addr", "", "its Raft address, as the other HQ nodes dial it (required)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if id == "" || raftAddr == "" {
		return errors.New("patron hq join: --id and --raft-addr are required")
	}
	return postMember(ctx, af, "/cluster/join", memberRequest{ID: id, RaftAddr: raftAddr}, stdout)
}

func runHQRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var af adminFlags
	var id string
	fs := flag.NewFlagSet("patron hq remove", flag.ContinueOnError)
	af.register(fs)
	fs.StringVar(&id, "id", "", "id of the HQ node to remove (required)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if id == "" {
		return errors.New("patron hq remove: --id is required")
	}
	return postMember(ctx, af, "/cluster/remove", memberRequest{ID: id}, stdout)
}

func postMember(ctx context.Context, af adminFlags, path string, req memberRequest, stdout io.Writer) error {
	urls, tok, err := af.resolve(true)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(req)
	out, err := adminCall(ctx, http.MethodPost, urls, path, tok, "application/json", body)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// runHQGet prints a GET answer of the first HQ node that gives one.
func runHQGet(ctx context.Context, name, path string, args []string, stdout, stderr io.Writer) error {
	var af adminFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	af.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	urls, tok, err := af.resolve(false)
	if err != nil {
		return err
	}
	out, err := adminCall(ctx, http.MethodGet, urls, path, tok, "", nil)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// runHQCerts writes a cluster CA and a certificate and key per HQ node
// into a directory, in the layout patron hq --tls-dir reads. A CA already
// in the directory (ca.pem and ca-key.pem) is reused, so a node that joins
// later gets a certificate the cluster trusts.
func runHQCerts(args []string, stdout, stderr io.Writer) error {
	var out, nodes, hosts string
	fs := flag.NewFlagSet("patron hq certs", flag.ContinueOnError)
	fs.StringVar(&out, "out", "", "directory to write ca.pem, ca-key.pem, <id>.pem and <id>-key.pem into (required)")
	fs.StringVar(&nodes, "nodes", "", "HQ node ids, comma-separated, e.g. HQ1,HQ2,HQ3 (required)")
	fs.StringVar(&hosts, "hosts", "", "extra DNS names or IPs every certificate names, comma-separated (localhost, 127.0.0.1, ::1 and the node id always are)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	ids := splitList(nodes)
	if out == "" || len(ids) == 0 {
		return errors.New("patron hq certs: --out and --nodes are required")
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	ca, created, err := loadOrCreateCA(out)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "wrote %s and %s (keep ca-key.pem off the HQ nodes; certificates are valid 30 days)\n",
			filepath.Join(out, "ca.pem"), filepath.Join(out, "ca-key.pem"))
	}
	for _, id := range ids {
		certPEM, keyPEM, err := ca.Issue(id, splitList(hosts)...)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(out, id+".pem"), certPEM, 0o644); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(out, id+"-key.pem"), keyPEM, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(out, id+".pem"), filepath.Join(out, id+"-key.pem"))
	}
	return nil
}

func loadOrCreateCA(dir string) (*hq.CA, bool, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	if cerr == nil && kerr == nil {
		ca, err := hq.ParseCA(certPEM, keyPEM)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", dir, err)
		}
		return ca, false, nil
	}
	if cerr == nil || kerr == nil {
		return nil, false, fmt.Errorf("%s holds only one of ca.pem and ca-key.pem: move it away or restore the other", dir)
	}
	ca, err := hq.NewCA("Patron HQ cluster CA")
	if err != nil {
		return nil, false, err
	}
	keyPEM, err = ca.KeyPEM()
	if err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(certPath, ca.CertPEM(), 0o644); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so a reader never sees half a key.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// helpOK turns a -h request into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
