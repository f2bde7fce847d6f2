package testcluster

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patron/patron/node"
)

// Timing of a chain of real processes. The processes run patron's
// production defaults but for the few flags patron cluster and the chain
// test also set for loopback: a 300 ms Raft heartbeat and fast DTLS
// handshake retransmission.
const (
	// procStartTimeout bounds the wait for a (re)started process to
	// answer /healthz, for the HQ leader and for the programme at a
	// store. A binary starts in well under a second; HQ's first election
	// and the programme's trip take a few.
	procStartTimeout = 30 * time.Second
	// procStartTries bounds the starts of one process whose port is
	// still held (the kernel frees a killed process's sockets at once,
	// but a stray socket may hold one a moment).
	procStartTries = 5
	// procStopGrace is how long a SIGTERMed process may take to stop
	// before it is killed (and the stop reported as unclean).
	procStopGrace = 15 * time.Second
	// procPollEvery spaces the admin polls.
	procPollEvery = 50 * time.Millisecond
)

// ProcOptions configure a chain of real patron processes. The zero value
// of every field but Bin is valid and documents its default.
type ProcOptions struct {
	// Bin is the patron binary. Required.
	Bin string
	// Dir holds certificates, keys, data directories and logs. Default:
	// a temporary directory removed by Close.
	Dir string
	// HQ is the number of HQ nodes. Default 3.
	HQ int
	// Stores is the number of stores, "S1", "S2", ... Default 3.
	Stores int
	// TillsPerStore is the terminals per store. Default 2.
	TillsPerStore int
	// OfflineAllowance is the programme's offline_allowance_points.
	// Default 0.
	OfflineAllowance int64
	// Seed draws the fixed ports. Default 0.
	Seed uint64
}

// Proc is one patron process of a ProcChain: an HQ node or a store.
type Proc struct {
	Name  string // "HQ1", "S2"
	Role  string // "hq" or "store"
	Admin string // http://host:port
	data  string
	args  []string
	logs  string
	store *StoreMember // stores only: what tills dial
	bin   string       // the binary it runs; default ProcOptions.Bin (SetBinary)

	cmd    *exec.Cmd // nil while down
	exited chan struct{}
	err    error // the exit, once exited is closed
}

// ProcChain is a chain of real patron processes on loopback: HQ nodes
// (Raft over mutual TLS) and stores (DTLS to HQ, to each other as peers,
// WebSocket tills), each on its own data directory and fixed ports, so a
// process killed with SIGKILL restarts on the same files and addresses.
// The ProcChain is used by one goroutine.
type ProcChain struct {
	opts    ProcOptions
	dir     string
	tempDir bool
	token   string // the admin token file
	Procs   []*Proc
}

// StartProcChain writes certificates (patron hq certs), store keys and
// tokens into the directory, starts the HQ nodes, loads the programme at
// HQ (patron hq programme load), starts the stores and waits until every
// store has the programme.
func StartProcChain(ctx context.Context, opts ProcOptions) (*ProcChain, error) {
	if opts.Bin == "" {
		return nil, errors.New("testcluster: ProcOptions.Bin is required")
	}
	opts = opts.withDefaults()
	p := &ProcChain{opts: opts, dir: opts.Dir}
	if p.dir == "" {
		d, err := os.MkdirTemp("", "crashsoak-")
		if err != nil {
			return nil, err
		}
		p.dir, p.tempDir = d, true
	}
	if err := p.start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (o ProcOptions) withDefaults() ProcOptions {
	if o.HQ == 0 {
		o.HQ = 3
	}
	if o.Stores == 0 {
		o.Stores = 3
	}
	if o.TillsPerStore == 0 {
		o.TillsPerStore = 2
	}
	return o
}

func (p *ProcChain) start(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(p.dir, "logs"), 0o750); err != nil {
		return err
	}
	var hqs []string
	for i := 1; i <= p.opts.HQ; i++ {
		hqs = append(hqs, fmt.Sprintf("HQ%d", i))
	}
	if out, err := exec.Command(p.opts.Bin, "hq", "certs", "--out", filepath.Join(p.dir, "certs"),
		"--nodes", strings.Join(hqs, ",")).CombinedOutput(); err != nil {
		return fmt.Errorf("testcluster: patron hq certs: %w: %s", err, out)
	}
	if err := p.layout(hqs); err != nil {
		return err
	}
	for _, pr := range p.HQProcs() {
		if err := p.launch(ctx, pr); err != nil {
			return err
		}
	}
	if err := p.loadProgramme(ctx); err != nil {
		return err
	}
	for _, pr := range p.StoreProcs() {
		if err := p.launch(ctx, pr); err != nil {
			return err
		}
	}
	for _, pr := range p.StoreProcs() {
		if err := p.waitHTTP(ctx, pr, "/readyz"); err != nil {
			return err
		}
	}
	return nil
}

// layout picks every fixed port, writes the keys and tokens and builds
// each process's command line.
func (p *ProcChain) layout(hqs []string) error {
	rng := rand.New(rand.NewPCG(p.opts.Seed, uint64(time.Now().UnixNano())))
	var err error
	taken := map[string]bool{} // a port is free when drawn and released at once: never hand it out twice
	port := func(udp bool) string {
		for err == nil {
			var a string
			if a, err = fixedAddr(rng, udp); err == nil && !taken[a] {
				taken[a] = true
				return a
			}
		}
		return ""
	}
	secret := func() string {
		b := make([]byte, 32)
		if _, e := crand.Read(b); e != nil && err == nil {
			err = e
		}
		return hex.EncodeToString(b)
	}
	p.token = filepath.Join(p.dir, "admin-token")
	writes := map[string]string{p.token: secret()[:32] + "\n"}
	var bootstrap, syncs []string
	raft, admin := make([]string, len(hqs)), make([]string, len(hqs))
	for i, id := range hqs {
		raft[i], admin[i] = port(false), port(false)
		syncs = append(syncs, port(true))
		bootstrap = append(bootstrap, id+"="+raft[i])
	}
	type storePorts struct{ pos, admin, peer, key string }
	stores := make([]storePorts, p.opts.Stores)
	keys := "# store keys of the crash soak\n"
	for i := range stores {
		stores[i] = storePorts{pos: port(false), admin: port(false), peer: port(true), key: secret()}
		id := fmt.Sprintf("S%d", i+1)
		keys += id + "=" + stores[i].key + "\n"
		writes[filepath.Join(p.dir, id+".key")] = stores[i].key + "\n"
	}
	writes[filepath.Join(p.dir, "store-keys")] = keys
	peerKey := secret()
	if err != nil {
		return err
	}
	for path, data := range writes {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			return err
		}
	}
	loopback := []string{"--handshake-timeout", "2s", "--flight-interval", "100ms"}
	for i, id := range hqs {
		p.Procs = append(p.Procs, &Proc{Name: id, Role: "hq", Admin: "http://" + admin[i], data: filepath.Join(p.dir, "data", id),
			args: append([]string{"hq", "--id", id, "--data", filepath.Join(p.dir, "data", id),
				"--raft-listen", raft[i], "--sync-listen", syncs[i], "--admin-listen", admin[i],
				"--bootstrap", strings.Join(bootstrap, ","), "--store-keys", filepath.Join(p.dir, "store-keys"),
				"--tls-dir", filepath.Join(p.dir, "certs"), "--admin-token-file", p.token,
				"--raft-heartbeat", "300ms"}, loopback...)})
	}
	for i, sp := range stores {
		id := fmt.Sprintf("S%d", i+1)
		args := []string{"store", "--store", id, "--data", filepath.Join(p.dir, "data", id),
			"--hq", strings.Join(syncs, ","), "--key-file", filepath.Join(p.dir, id+".key"),
			"--pos-listen", sp.pos, "--admin-listen", sp.admin, "--peer-listen", sp.peer}
		sm := &StoreMember{ID: id, posAddr: sp.pos, links: newLinks(id)}
		for t := 1; t <= p.opts.TillsPerStore; t++ {
			tid := fmt.Sprintf("T%d", t)
			sm.Tills = append(sm.Tills, tid)
			args = append(args, "--terminal", tid+"="+tillToken(id, tid))
		}
		for j, other := range stores {
			if j != i {
				oid := fmt.Sprintf("S%d", j+1)
				args = append(args, "--peer", oid+"="+other.peer, "--peer-key", oid+"="+peerKey)
			}
		}
		p.Procs = append(p.Procs, &Proc{Name: id, Role: "store", Admin: "http://" + sp.admin,
			data: filepath.Join(p.dir, "data", id), args: append(args, loopback...), store: sm})
	}
	for _, pr := range p.Procs {
		pr.logs = filepath.Join(p.dir, "logs", pr.Name+".log")
	}
	return nil
}

// fixedAddr is a loopback address free now, below the ephemeral range
// (see ports.go): a killed process gets it back on restart.
func fixedAddr(rng *rand.Rand, udp bool) (string, error) {
	if udp {
		pc, err := listenPacketFixed(rng)
		if err != nil {
			return "", err
		}
		defer pc.Close()
		return pc.LocalAddr().String(), nil
	}
	ln, err := listenFixed(rng)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// loadProgramme loads the chain's programme at HQ with patron hq
// programme load, retrying until HQ has a leader.
func (p *ProcChain) loadProgramme(ctx context.Context) error {
	file := filepath.Join(p.dir, "programme.json")
	if err := os.WriteFile(file, Programme(p.opts.OfflineAllowance), 0o600); err != nil {
		return err
	}
	var admins []string
	for _, pr := range p.HQProcs() {
		admins = append(admins, pr.Admin)
	}
	var last []byte
	err := poll(ctx, procStartTimeout, "the programme loaded at HQ", func() bool {
		out, err := exec.CommandContext(ctx, p.opts.Bin, "hq", "programme", "load", "--admin", strings.Join(admins, ","),
			"--token-file", p.token, file).CombinedOutput()
		last = out
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s", err, last)
	}
	return nil
}

// HQProcs lists the HQ processes.
func (p *ProcChain) HQProcs() []*Proc { return p.role("hq") }

// StoreProcs lists the store processes.
func (p *ProcChain) StoreProcs() []*Proc { return p.role("store") }

func (p *ProcChain) role(r string) []*Proc {
	var out []*Proc
	for _, pr := range p.Procs {
		if pr.Role == r {
			out = append(out, pr)
		}
	}
	return out
}

// Store is the store's till endpoint, for NewTill.
func (pr *Proc) Store() *StoreMember { return pr.store }

// Up reports whether the process runs.
func (pr *Proc) Up() bool {
	if pr.cmd == nil {
		return false
	}
	select {
	case <-pr.exited:
		return false
	default:
		return true
	}
}

// launch starts a process and waits until it answers /healthz, starting
// it again while it exits at once (a port still held).
func (p *ProcChain) launch(ctx context.Context, pr *Proc) error {
	var err error
	for range procStartTries {
		if err = p.spawn(pr); err != nil {
			return err
		}
		if err = p.waitHTTP(ctx, pr, "/healthz"); err == nil || ctx.Err() != nil {
			return err
		}
		p.Kill(pr) // it may be up but not answering: never leave it behind
	}
	return err
}

// spawn starts the process with its output appended to its log.
func (p *ProcChain) spawn(pr *Proc) error {
	f, err := os.OpenFile(pr.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	bin := p.opts.Bin
	if pr.bin != "" {
		bin = pr.bin
	}
	cmd := exec.Command(bin, pr.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("testcluster: start %s: %w", pr.Name, err)
	}
	f.Close() // the child holds its own descriptor
	exited := make(chan struct{})
	pr.cmd, pr.exited = cmd, exited
	go func() { // owned by the process: ends when it exits, awaited by Kill and Stop
		pr.err = cmd.Wait()
		close(exited)
	}()
	return nil
}

// waitHTTP polls the process's admin path until it answers 200.
func (p *ProcChain) waitHTTP(ctx context.Context, pr *Proc, path string) error {
	client := &http.Client{Timeout: time.Second}
	var last string
	deadline := time.Now().Add(procStartTimeout)
	t := time.NewTicker(procPollEvery)
	defer t.Stop()
	for {
		resp, err := client.Get(pr.Admin + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-pr.exited:
			return fmt.Errorf("testcluster: %s exited: %v (see %s)%s", pr.Name, pr.err, pr.logs, logTail(pr.logs))
		case <-ctx.Done():
			return fmt.Errorf("testcluster: waiting for %s%s: %w", pr.Name, path, ctx.Err())
		case <-t.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testcluster: %s%s not 200 within %v (last: %s; see %s)", pr.Name, path, procStartTimeout, last, pr.logs)
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *ProcChain) Kill(pr *Proc) {
	if pr.cmd == nil {
		return
	}
	_ = pr.cmd.Process.Kill() // fails only if it already exited
	<-pr.exited
	pr.cmd = nil
}

// SetBinary makes pr run bin from its next start: an upgrade (or a
// downgrade) of one node of the chain.
func (p *ProcChain) SetBinary(pr *Proc, bin string) { pr.bin = bin }

// StopProc stops one process with SIGTERM, as a service manager does for
// an upgrade, killing it if it does not exit within procStopGrace.
func (p *ProcChain) StopProc(pr *Proc) error {
	if !pr.Up() {
		return nil
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.exited:
	case <-time.After(procStopGrace):
		p.Kill(pr)
		return fmt.Errorf("testcluster: %s did not stop within %v", pr.Name, procStopGrace)
	}
	err := pr.err
	pr.cmd = nil
	if err != nil {
		return fmt.Errorf("testcluster: %s exited on SIGTERM: %v (see %s)%s", pr.Name, err, pr.logs, logTail(pr.logs))
	}
	return nil
}

// Restart starts a killed process again on its data directory and ports.
func (p *ProcChain) Restart(ctx context.Context, pr *Proc) error {
	if pr.Up() {
		return nil
	}
	pr.cmd = nil
	return p.launch(ctx, pr)
}

// procStatus is what the harness reads of a node's GET /status (docs/chain.md).
type procStatus struct {
	Events      map[string]uint64 `json:"events"` // version vector
	ChainFormat int               `json:"chain_format"`
	Raft        struct {
		State string `json:"state"`
	} `json:"raft"` // HQ nodes only
}

// status reads a process's /status.
func (p *ProcChain) status(ctx context.Context, pr *Proc) (procStatus, error) {
	var st procStatus
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, pr.Admin+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s /status: %s", pr.Name, resp.Status)
	}
	return st, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
}

// isLeader reports whether an HQ process says it is the Raft leader.
func (p *ProcChain) isLeader(ctx context.Context, pr *Proc) bool {
	st, err := p.status(ctx, pr)
	return err == nil && st.Raft.State == "Leader"
}

// WaitConverged polls every process's /status until all hold the same
// version vector, and returns how long that took.
func (p *ProcChain) WaitConverged(ctx context.Context, within time.Duration) (time.Duration, error) {
	start := time.Now()
	var last string
	err := poll(ctx, within, "convergence of the processes", func() bool {
		var first string
		for _, pr := range p.Procs {
			st, err := p.status(ctx, pr)
			if err != nil {
				last = err.Error()
				return false
			}
			v := vectorString(st.Events)
			if first == "" {
				first = v
			} else if v != first {
				last = fmt.Sprintf("%s holds %s, %s holds %s", p.Procs[0].Name, first, pr.Name, v)
				return false
			}
		}
		return true
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("%w (%s)", err, last)
	}
	return time.Since(start), nil
}

// Stop sends SIGTERM to every process, stores first, and waits for them;
// one that does not stop within procStopGrace is killed. It reports
// processes that did not exit cleanly.
func (p *ProcChain) Stop() error {
	for i := len(p.Procs) - 1; i >= 0; i-- {
		if pr := p.Procs[i]; pr.Up() {
			_ = pr.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	deadline := time.NewTimer(procStopGrace)
	defer deadline.Stop()
	for _, pr := range p.Procs {
		if pr.cmd == nil {
			continue
		}
		select {
		case <-pr.exited:
			if pr.err != nil {
				errs = append(errs, fmt.Errorf("testcluster: %s exited on SIGTERM: %v (see %s)%s", pr.Name, pr.err, pr.logs, logTail(pr.logs)))
			}
		case <-deadline.C:
			errs = append(errs, fmt.Errorf("testcluster: %s did not stop within %v", pr.Name, procStopGrace))
			p.Kill(pr)
		}
		pr.cmd = nil
	}
	return errors.Join(errs...)
}

// Views opens every stopped process's bbolt file and reads what it holds,
// for Check. The processes must be stopped.
func (p *ProcChain) Views(ctx context.Context) ([]NodeView, error) {
	var out []NodeView
	for _, pr := range p.Procs {
		if pr.Up() {
			return nil, fmt.Errorf("testcluster: view of %s: still running", pr.Name)
		}
		cfg := node.DefaultConfig()
		cfg.Path, cfg.Store, cfg.Origin = filepath.Join(pr.data, "patron.db"), pr.Name, pr.Name
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		n, err := node.Open(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("testcluster: open %s: %w", pr.Name, err)
		}
		v, err := view(ctx, namedNode{pr.Name, n, newTracer(pr.Name)})
		cerr := n.Close()
		if err != nil {
			return nil, fmt.Errorf("testcluster: view of %s: %w", pr.Name, err)
		}
		if cerr != nil {
			return nil, cerr
		}
		out = append(out, v)
	}
	return out, nil
}

// Dir is where certificates, data and logs are.
func (p *ProcChain) Dir() string { return p.dir }

// Close kills what still runs and removes a temporary directory.
func (p *ProcChain) Close() error {
	for _, pr := range p.Procs {
		p.Kill(pr)
	}
	if p.tempDir {
		return os.RemoveAll(p.dir)
	}
	return nil
}

// logTailBytes is how much of a dead process's log an error carries: the
// files live in a test's temporary directory, gone by the time anyone
// reads a CI log, and the cause is in the last lines.
const logTailBytes = 2048

// logTail returns the end of the log at path, indented, for an error.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > logTailBytes {
		data = data[len(data)-logTailBytes:]
	}
	return "\n  log tail:\n    " + strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n    ")
}
