package hq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Node is one HQ cluster member: a raft instance whose FSM is the
// HoldStore, a proposer that groups AppendEvents calls into Raft entries,
// and (while leader) the hold expiry loop.
type Node struct {
	cfg       Config
	log       *slog.Logger
	m         *metrics
	raft      *raft.Raft
	trans     *raft.NetworkTransport
	logStore  *raftboltdb.BoltStore
	advertise string
	observer  *raft.Observer

	appends chan *appendReq // to the proposer; capacity MaxPendingAppends

	// ctx is what the FSM passes to the store; cancelled after raft
	// stopped, so no apply ever sees it cancelled.
	ctx    context.Context
	cancel context.CancelFunc

	closing   chan struct{} // closed by Close: owned goroutines return
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // owned goroutines

	mu     sync.Mutex // guards following
	closed bool       // set by Close before it waits for wg; track checks it

	failOnce sync.Once
	failed   chan struct{} // closed when the store failed; failErr is set before
	failErr  error
}

// Open starts an HQ node: opens (or creates) its raft state in Dir,
// bootstraps the cluster if Bootstrap is set and Dir is new, and starts
// raft. If the store is behind the newest local snapshot (its data was
// lost or replaced), Open restores that snapshot into it first, since the
// log before the snapshot is gone.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "hq", "id", cfg.ID),
		appends: make(chan *appendReq, cfg.MaxPendingAppends),
		closing: make(chan struct{}),
		failed:  make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	cleanup = append(cleanup, n.cancel)
	if cfg.RaftListener != nil {
		// Ours to close from here on, as Close would.
		cleanup = append(cleanup, func() { cfg.RaftListener.Close() })
	}

	n.m = newMetrics(func() float64 { return float64(len(n.appends)) },
		func() float64 { return boolFloat(n.IsLeader()) },
		func() float64 { return float64(n.raft.AppliedIndex()) })

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("hq: open: %w", err)
	}
	hlog := newHCLogger(n.log, "raft")
	n.logStore, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db"), NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("hq: open raft log: %w", err)
	}
	cleanup = append(cleanup, func() { n.logStore.Close() })
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotsRetained, hlog.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("hq: open snapshots: %w", err)
	}
	if err := catchUpFromSnapshot(ctx, cfg, snaps); err != nil {
		return nil, err
	}

	ln, advertise, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	n.advertise = advertise.String()
	stream := newTLSStream(ln, advertise, cfg.TLS, cfg.DialTimeout, cfg.Dial, n.log, func() { n.m.tlsRejected.Inc() })
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3, // pooled outbound conns per peer: enough for pipelined replication
		Timeout: cfg.IOTimeout,
		Logger:  hlog.Named("net"),
	})
	cleanup = append(cleanup, func() { trans.Close() })
	n.trans = trans

	rc := cfg.raftConfig(n.log)
	f := &fsm{store: cfg.Store, ctx: n.ctx, m: n.m, fail: n.storeFailed}
	if err := n.recoverFromPeersFile(rc, f, snaps, trans); err != nil {
		return nil, err
	}
	if err := n.bootstrap(rc, snaps, trans); err != nil {
		return nil, err
	}
	n.raft, err = raft.NewRaft(rc, f, n.logStore, n.logStore, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("hq: start raft: %w", err)
	}
	if err := n.m.register(cfg.Metrics); err != nil {
		n.raft.Shutdown().Error()
		return nil, err
	}
	n.start()
	return n, nil
}

// listen returns the raft listener and the address peers dial.
func listen(cfg Config) (net.Listener, net.Addr, error) {
	ln := cfg.RaftListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return nil, nil, fmt.Errorf("hq: raft listen: %w", err)
		}
	}
	addr := ln.Addr()
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("hq: AdvertiseAddr: %w", err)
		}
		addr = a
	}
	if tcp, ok := addr.(*net.TCPAddr); !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, nil, fmt.Errorf("hq: raft address %s is not one peers can dial: set AdvertiseAddr", addr)
	}
	return ln, addr, nil
}

// bootstrap writes the initial configuration when Dir has no raft state.
func (n *Node) bootstrap(rc *raft.Config, snaps raft.SnapshotStore, trans raft.Transport) error {
	if len(n.cfg.Bootstrap) == 0 {
		return nil
	}
	has, err := raft.HasExistingState(n.logStore, n.logStore, snaps)
	if err != nil {
		return fmt.Errorf("hq: bootstrap: %w", err)
	}
	if has {
		return nil
	}
	var conf raft.Configuration
	for _, s := range n.cfg.Bootstrap {
		if s.ID == n.cfg.ID && s.Addr != n.advertise {
			return fmt.Errorf("hq: bootstrap names %s at %s but it listens at %s", s.ID, s.Addr, n.advertise)
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Addr),
		})
	}
	if err := raft.BootstrapCluster(rc, n.logStore, n.logStore, snaps, trans, conf); err != nil {
		return fmt.Errorf("hq: bootstrap: %w", err)
	}
	return nil
}

// PeersFile is the manual recovery file in Config.Dir (hashicorp/raft's
// peers.json format: [{"id": ..., "address": ..., "non_voter": false}]).
// When it exists at Open, the node rewrites its Raft configuration to
// exactly those servers before starting — the way out for a cluster that
// lost its majority for good (docs/runbook.md) — and renames the file to
// PeersFile + ".applied" so the next start does not apply it again.
const PeersFile = "peers.json"

// recoverFromPeersFile applies PeersFile if it exists. raft.RecoverCluster
// replays the log into the FSM (the store skips indexes it holds), writes
// a snapshot with the new configuration and compacts the log.
func (n *Node) recoverFromPeersFile(rc *raft.Config, f raft.FSM, snaps raft.SnapshotStore, trans raft.Transport) error {
	path := filepath.Join(n.cfg.Dir, PeersFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("hq: %s: %w", path, err)
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("hq: %s: %w", path, err)
	}
	if !slices.ContainsFunc(conf.Servers, func(s raft.Server) bool { return string(s.ID) == n.cfg.ID }) {
		return fmt.Errorf("hq: %s does not list this node (%s): a node left out must not start", path, n.cfg.ID)
	}
	if err := raft.RecoverCluster(rc, f, n.logStore, n.logStore, snaps, trans, conf); err != nil {
		return fmt.Errorf("hq: recover from %s: %w", path, err)
	}
	n.log.Warn("hq: Raft configuration rewritten from "+PeersFile, "servers", len(conf.Servers))
	if err := os.Rename(path, path+".applied"); err != nil {
		return fmt.Errorf("hq: recovered, but %s could not be renamed (remove it before the next start): %w", path, err)
	}
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into the store when
// the store's AppliedIndex is below it: raft starts applying after the
// snapshot's index (NoSnapshotRestoreOnStart), and the entries before it
// may be compacted away.
func catchUpFromSnapshot(ctx context.Context, cfg Config, snaps *raft.FileSnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	applied, err := cfg.Store.AppliedIndex(ctx)
	if err != nil {
		return fmt.Errorf("hq: store applied index: %w", err)
	}
	if applied >= list[0].Index {
		return nil
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("hq: open snapshot: %w", err)
	}
	defer rc.Close()
	cfg.Logger.Warn("hq: store behind local snapshot, restoring it", "store_applied", applied, "snapshot_index", meta.Index)
	if err := cfg.Store.RestoreSnapshot(ctx, rc); err != nil {
		return fmt.Errorf("hq: restore snapshot %s: %w", meta.ID, err)
	}
	return nil
}

// start runs the owned goroutines.
func (n *Node) start() {
	obs := make(chan raft.Observation, 16)
	n.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	n.wg.Go(func() { n.watchLeader(obs) })
	n.wg.Go(n.propose)
	n.wg.Go(n.expireLoop)
	n.wg.Go(n.stopOnFailure)
}

// Close stops the node: raft shuts down (in-flight proposals end with
// ErrUnknownOutcome, queued ones with ErrClosed), owned goroutines are
// waited for, the transport, listener and log store are closed. The
// HoldStore is the caller's and stays open. Close is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.closing)
		err := n.raft.Shutdown().Error()
		// Shutdown closes the listener only: the pooled connections to
		// peers stay open, and so would the peers' handlers reading them.
		n.trans.CloseStreams()
		n.raft.DeregisterObserver(n.observer)
		n.wg.Wait()
		n.cancel()
		n.m.unregister()
		n.closeErr = errors.Join(err, n.logStore.Close())
	})
	return n.closeErr
}

// storeFailed is the FSM's fail-stop: it records the error and lets
// stopOnFailure shut raft down (the FSM goroutine cannot wait for it).
func (n *Node) storeFailed(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		close(n.failed)
	})
}

func (n *Node) stopOnFailure() {
	select {
	case <-n.closing:
	case <-n.failed:
		n.log.Error("hq: stopping raft after store failure", "err", n.failErr)
		n.raft.Shutdown().Error()
	}
}

// Failed is closed when the node stopped itself because its store failed
// (Err says why); the owner should Close it and restart the process.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is the store failure that stopped the node, nil if none.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

func (n *Node) watchLeader(obs <-chan raft.Observation) {
	for {
		select {
		case <-n.closing:
			return
		case o := <-obs:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID == "" {
				n.log.Info("hq: leader lost")
				continue
			}
			n.m.leaderChanges.Inc()
			n.log.Info("hq: leader changed", "leader", string(lo.LeaderID), "addr", string(lo.LeaderAddr))
		}
	}
}

// ID is this node's raft server id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the raft address peers dial to reach this node.
func (n *Node) Addr() string { return n.advertise }

// Leader returns the leader this node knows, empty strings if none.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Barrier returns once every entry committed before the call has been
// applied to this node's store; leader only. A new leader calls it before
// acting on its store's state (a scheduled job deciding what to emit), since
// raft elects a node that holds every committed entry but may not have
// applied them yet.
func (n *Node) Barrier(ctx context.Context) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return n.proposeError(err)
	}
	return nil
}

// WaitForLeader waits until this node knows a leader and returns it.
func (n *Node) WaitForLeader(ctx context.Context) (id, addr string, err error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, addr = n.Leader(); id != "" {
			return id, addr, nil
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("hq: wait for leader: %w", ctx.Err())
		case <-n.closing:
			return "", "", ErrClosed
		case <-t.C:
		}
	}
}

// ServerStatus is one member of the cluster configuration.
type ServerStatus struct {
	Server
	Voter  bool
	Leader bool
}

// Servers returns the latest cluster configuration as this node knows it.
func (n *Node) Servers() ([]ServerStatus, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("hq: configuration: %w", err)
	}
	leader, _ := n.Leader()
	var out []ServerStatus
	for _, s := range f.Configuration().Servers {
		out = append(out, ServerStatus{
			Server: Server{ID: string(s.ID), Addr: string(s.Address)},
			Voter:  s.Suffrage == raft.Voter,
			Leader: string(s.ID) == leader,
		})
	}
	return out, nil
}

// AddVoter adds (or re-addresses) a voting member; leader only. The new
// node starts with empty Dir and no Bootstrap and catches up by log or
// snapshot.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if err := validateID("server id", id); err != nil {
		return err
	}
	return n.membership(ctx, func(timeout time.Duration) raft.Future {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// RemoveServer removes a member; leader only. Removing the leader itself
// makes it step down once the change commits.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.membership(ctx, func(timeout time.Duration) raft.Future {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}

func (n *Node) membership(ctx context.Context, do func(time.Duration) raft.Future) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	if err := n.await(ctx, do(n.cfg.EnqueueTimeout)); err != nil {
		return n.proposeError(err)
	}
	return nil
}

// Snapshot takes a snapshot now (admin, tests); raft also takes them by
// SnapshotThreshold.
func (n *Node) Snapshot(ctx context.Context) error {
	if err := n.await(ctx, n.raft.Snapshot()); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("hq: snapshot: %w", err)
	}
	return nil
}

// Stats is a node's state for the admin page.
type Stats struct {
	ID, Addr             string
	State                string // Follower, Candidate, Leader, Shutdown
	LeaderID, LeaderAddr string
	Term                 uint64
	LastIndex            uint64
	CommitIndex          uint64
	AppliedIndex         uint64 // raft's; the store's may be ahead after a restart
	LastContact          time.Time
	PendingAppends       int
	Err                  string // the store failure that stopped it
}

// Stats returns the node's raft state.
func (n *Node) Stats() Stats {
	s := Stats{
		ID: n.cfg.ID, Addr: n.advertise,
		State:          n.raft.State().String(),
		Term:           n.raft.CurrentTerm(),
		LastIndex:      n.raft.LastIndex(),
		CommitIndex:    n.raft.CommitIndex(),
		AppliedIndex:   n.raft.AppliedIndex(),
		LastContact:    n.raft.LastContact(),
		PendingAppends: len(n.appends),
	}
	s.LeaderID, s.LeaderAddr = n.Leader()
	if err := n.Err(); err != nil {
		s.Err = err.Error()
	}
	return s
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
