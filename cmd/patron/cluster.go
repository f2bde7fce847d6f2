package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// patron cluster: a whole chain on loopback for demos and manual testing,
// as child processes of this binary — three `patron hq` and two `patron
// store` — with certificates, keys and tokens generated into one
// directory, the programme loaded at HQ. Ctrl-C stops them all.

const clusterUsage = `Usage:
  patron cluster [--dir DIR] [--base-port N] [--programme FILE]

Starts HQ1..HQ3 and stores S001, S002 on 127.0.0.1 as child processes,
loads the programme (default: the demo programme) at HQ and prints each
store's till URL and token and every admin URL. Logs go to DIR/logs/.
Ctrl-C (or SIGTERM) stops every child. Keys, certificates and tokens in
DIR are kept, so a second run restarts the same chain on the same data;
remove DIR to start afresh.
`

// clusterStartTimeout bounds the wait for the HQ leader and for the
// stores' programme.
const clusterStartTimeout = 60 * time.Second

// clusterNode is one child process.
type clusterNode struct {
	name  string
	args  []string
	admin string // http://host:port
	cmd   *exec.Cmd
	log   *os.File
	// exited is closed when the child has exited; err is then its exit.
	exited chan struct{}
	err    error
}

// clusterLayout is the ports of the chain.
type clusterLayout struct {
	hqRaft, hqSync, hqAdmin         [3]string
	storePos, storeAdmin, storePeer [2]string
}

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dir, programme string
	var base int
	fs := flag.NewFlagSet("patron cluster", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, clusterUsage); fs.PrintDefaults() }
	fs.StringVar(&dir, "dir", "./cluster", "directory for certificates, keys, tokens, data and logs")
	fs.IntVar(&base, "base-port", 7100, "ports used are BASE+11..BASE+62 (0: free ports picked at random)")
	fs.StringVar(&programme, "programme", "", "programme to load at HQ (default: the built-in demo programme)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	doc, err := programmeBytes(programme)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cluster: own binary: %w", err)
	}
	secrets, err := clusterSecrets(dir, stdout)
	if err != nil {
		return err
	}
	layout, err := clusterPorts(base)
	if err != nil {
		return err
	}
	nodes := clusterNodes(dir, layout, secrets)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o750); err != nil {
		return err
	}
	anyExit := make(chan *clusterNode, len(nodes))
	defer stopCluster(nodes, stdout)
	for _, n := range nodes {
		if err := n.start(self, dir, anyExit); err != nil {
			return err
		}
	}
	if err := awaitCluster(ctx, nodes, doc, secrets.adminToken, stdout); err != nil {
		return err
	}
	printCluster(stdout, dir, layout, secrets)
	// Run until Ctrl-C or a child dies.
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping the cluster")
		return nil
	case n := <-anyExit:
		return fmt.Errorf("cluster: %s exited: %v (see %s)", n.name, n.err, filepath.Join(dir, "logs", n.name+".log"))
	}
}

// secrets are the generated credentials of the chain.
type clusterCreds struct {
	tlsDir     string
	storeKeys  string // file
	keys       map[string]string
	peerKey    string
	adminToken string
	tokens     [2]string
}

// clusterSecrets makes (or reads back) certificates, keys and tokens.
func clusterSecrets(dir string, stdout io.Writer) (clusterCreds, error) {
	c := clusterCreds{tlsDir: filepath.Join(dir, "certs"), storeKeys: filepath.Join(dir, "store-keys"), keys: map[string]string{}}
	if _, err := os.Stat(filepath.Join(c.tlsDir, "HQ3.pem")); err != nil {
		if err := runHQCerts([]string{"--out", c.tlsDir, "--nodes", "HQ1,HQ2,HQ3"}, io.Discard, io.Discard); err != nil {
			return c, fmt.Errorf("cluster: certificates: %w", err)
		}
	}
	var err error
	get := func(name string, n int) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = persistentSecret(filepath.Join(dir, name), n)
		return s
	}
	c.keys["S001"] = get("S001.key", 32)
	c.keys["S002"] = get("S002.key", 32)
	c.peerKey = get("peer.key", 32)
	c.adminToken = get("admin-token", 16)
	c.tokens[0] = get("S001-T01.token", 16)
	c.tokens[1] = get("S002-T01.token", 16)
	if err != nil {
		return c, fmt.Errorf("cluster: secrets: %w", err)
	}
	list := fmt.Sprintf("# store keys of the demo chain\nS001=%s\nS002=%s\n", c.keys["S001"], c.keys["S002"])
	if err := writeFileAtomic(c.storeKeys, []byte(list), 0o600); err != nil {
		return c, err
	}
	return c, nil
}

// persistentSecret reads a hex secret from path, or makes one of n random
// bytes and writes it there.
func persistentSecret(path string, n int) (string, error) {
	if s, err := readSecret(path); err == nil {
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return s, writeFileAtomic(path, []byte(s+"\n"), 0o600)
}

// clusterPorts lays the chain out from base, or on free ports.
func clusterPorts(base int) (clusterLayout, error) {
	var l clusterLayout
	port := func(offset int, udp bool) (string, error) {
		if base == 0 {
			return freePort(udp)
		}
		return "127.0.0.1:" + strconv.Itoa(base+offset), nil
	}
	var err error
	set := func(p *string, offset int, udp bool) {
		if err == nil {
			*p, err = port(offset, udp)
		}
	}
	for i := range 3 {
		set(&l.hqRaft[i], 11+i, false)
		set(&l.hqSync[i], 21+i, true)
		set(&l.hqAdmin[i], 31+i, false)
	}
	for i := range 2 {
		set(&l.storePos[i], 41+i, false)
		set(&l.storeAdmin[i], 51+i, false)
		set(&l.storePeer[i], 61+i, true)
	}
	return l, err
}

// freePort returns a loopback address the kernel says is free now.
func freePort(udp bool) (string, error) {
	if udp {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer pc.Close()
		return pc.LocalAddr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func clusterNodes(dir string, l clusterLayout, c clusterCreds) []*clusterNode {
	var bootstrap []string
	for i := range 3 {
		bootstrap = append(bootstrap, fmt.Sprintf("HQ%d=%s", i+1, l.hqRaft[i]))
	}
	var nodes []*clusterNode
	for i := range 3 {
		id := fmt.Sprintf("HQ%d", i+1)
		nodes = append(nodes, &clusterNode{name: id, admin: "http://" + l.hqAdmin[i], args: []string{"hq",
			"--id", id, "--data", filepath.Join(dir, "data", id),
			"--raft-listen", l.hqRaft[i], "--sync-listen", l.hqSync[i], "--admin-listen", l.hqAdmin[i],
			"--bootstrap", strings.Join(bootstrap, ","), "--store-keys", c.storeKeys,
			"--tls-dir", c.tlsDir, "--admin-token-file", filepath.Join(dir, "admin-token"),
			"--raft-heartbeat", "500ms"}})
	}
	stores := []string{"S001", "S002"}
	for i, id := range stores {
		other := 1 - i
		nodes = append(nodes, &clusterNode{name: id, admin: "http://" + l.storeAdmin[i], args: []string{"store",
			"--store", id, "--data", filepath.Join(dir, "data", id),
			"--hq", strings.Join(l.hqSync[:], ","), "--key-file", filepath.Join(dir, id+".key"),
			"--pos-listen", l.storePos[i], "--admin-listen", l.storeAdmin[i],
			"--terminal", "T01=" + c.tokens[i],
			"--peer", stores[other] + "=" + l.storePeer[other], "--peer-key", stores[other] + "=" + c.peerKey,
			"--peer-listen", l.storePeer[i]}})
	}
	return nodes
}

// start runs the child with its output in DIR/logs/<name>.log; its
// waiter goroutine announces the exit on anyExit (buffered for every
// child) and returns.
func (n *clusterNode) start(self, dir string, anyExit chan<- *clusterNode) error {
	f, err := os.OpenFile(filepath.Join(dir, "logs", n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	n.log = f
	n.cmd = exec.Command(self, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.SysProcAttr = childProcAttr()
	if err := n.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("cluster: start %s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		n.err = n.cmd.Wait()
		close(n.exited)
		anyExit <- n
	}()
	return nil
}

// stopCluster sends SIGTERM to every child (stores first), waits for them
// within shutdownGrace and kills what is left.
func stopCluster(nodes []*clusterNode, stdout io.Writer) {
	for i := len(nodes) - 1; i >= 0; i-- {
		if n := nodes[i]; n.cmd != nil && n.cmd.Process != nil {
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(shutdownGrace)
	defer deadline.Stop()
	for _, n := range nodes {
		if n.exited == nil {
			continue
		}
		select {
		case <-n.exited:
		case <-deadline.C:
			fmt.Fprintf(stdout, "%s did not stop in %v: killing it\n", n.name, shutdownGrace)
			n.cmd.Process.Kill()
			<-n.exited
		}
		n.log.Close()
	}
}

// awaitCluster waits for an HQ leader, loads the programme at HQ and waits
// until both stores have it.
func awaitCluster(ctx context.Context, nodes []*clusterNode, doc []byte, token string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, clusterStartTimeout)
	defer cancel()
	var hqURLs []string
	for _, n := range nodes[:3] {
		hqURLs = append(hqURLs, n.admin)
	}
	fmt.Fprintln(stdout, "waiting for the HQ cluster to elect a leader…")
	for _, n := range nodes[:3] {
		if err := waitReady(ctx, n); err != nil {
			return err
		}
	}
	var out []byte
	err := poll(ctx, func() error {
		var err error
		out, err = adminCall(ctx, http.MethodPost, hqURLs, "/programme", token, "application/octet-stream", doc)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: load programme at HQ: %w", err)
	}
	fmt.Fprintf(stdout, "programme loaded at HQ: %s", out)
	for _, n := range nodes[3:] {
		if err := waitReady(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// waitReady polls a child's /readyz until it answers 200.
func waitReady(ctx context.Context, n *clusterNode) error {
	client := &http.Client{Timeout: 2 * time.Second}
	err := poll(ctx, func() error {
		select {
		case <-n.exited:
			return fmt.Errorf("%w: %s exited: %v", errStop, n.name, n.err)
		default:
		}
		resp, err := client.Get(n.admin + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s not ready (HTTP %d)", n.name, resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: %s: %w (see its log)", n.name, err)
	}
	return nil
}

// errStop ends a poll at once.
var errStop = errors.New("giving up")

// poll calls f every 200 ms until it succeeds, returns errStop, or ctx
// ends; then it returns f's last error.
func poll(ctx context.Context, f func() error) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil || errors.Is(err, errStop) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func printCluster(w io.Writer, dir string, l clusterLayout, c clusterCreds) {
	fmt.Fprintf(w, "\nPatron chain running (logs in %s):\n\n", filepath.Join(dir, "logs"))
	for i, id := range []string{"S001", "S002"} {
		fmt.Fprintf(w, "store %s  till ws://%s/pos/v1  terminal T01 token %s  admin http://%s/status\n",
			id, l.storePos[i], c.tokens[i], l.storeAdmin[i])
	}
	var admins []string
	for i := range 3 {
		fmt.Fprintf(w, "HQ%d        admin http://%s/status  raft %s  sync udp %s\n", i+1, l.hqAdmin[i], l.hqRaft[i], l.hqSync[i])
		admins = append(admins, "http://"+l.hqAdmin[i])
	}
	fmt.Fprintf(w, "\nadmin token: %s (in %s)\n", c.adminToken, filepath.Join(dir, "admin-token"))
	fmt.Fprintf(w, "try:\n  patron pos --url ws://%s/pos/v1 --token %s hello\n", l.storePos[0], c.tokens[0])
	fmt.Fprintf(w, "  patron hq programme load --admin %s --token-file %s FILE\n", strings.Join(admins, ","), filepath.Join(dir, "admin-token"))
	fmt.Fprintf(w, "  patron hq overdrafts --admin %s\n", admins[0])
	fmt.Fprintln(w, "\nCtrl-C stops the chain.")
}
