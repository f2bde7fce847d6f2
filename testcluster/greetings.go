package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
	"github.com/patron/patron/node/sms"
	"github.com/patron/patron/replication/hq"
)

// A JobsCluster is an HQ Raft cluster without stores whose nodes run the
// HQ jobs as patron hq wires them (cmd/patron/hqjobs_tiers.go): each node
// has its own SMS outbox with a recording sender, an hqevents.Emitter and
// an hqevents.Scheduler looping on its own goroutine, so a node that
// gains the lead runs every job at once. It exists to test what must hold
// across failovers: a greeting is recorded once chain-wide and sent by at
// most one node, never twice (docs/tiers-and-greetings.md).

// Job names, as patron hq registers them.
const (
	JobTierReview = "tier-review"
	JobGreetings  = "greetings"
)

// JobsOptions configure a JobsCluster. The zero value of every field is
// valid and documents its default.
type JobsOptions struct {
	// HQ is the number of Raft voters. Default 3.
	HQ int
	// Clock is every node's clock (event stamps, the jobs' now).
	// Default: real time.
	Clock *Clock
	// Tick is how often each scheduler checks whether it leads. Default
	// 50 ms.
	Tick time.Duration
	// AfterEmit, when set, is called on the goroutine of a job, with the
	// node whose emit just committed ev — after the Raft commit, before
	// the text is queued. A test kills that node there (Kill is safe to
	// call from it) to crash a leader inside the window.
	AfterEmit func(m *JobsMember, ev engine.Event)
	// Logger receives every component's logs. Default: discarded.
	Logger *slog.Logger
}

// JobsCluster is a running HQ cluster with jobs; see the type comment
// above JobsOptions.
type JobsCluster struct {
	opts    JobsOptions
	dir     string
	ca      *hq.CA
	servers []hq.Server

	Members []*JobsMember
}

// JobsMember is one HQ node of a JobsCluster, up or down.
type JobsMember struct {
	ID string
	// Sent records what this node's outbox handed to the gateway; it
	// outlives restarts.
	Sent     *SMSRecorder
	c        *JobsCluster
	index    int
	dir      string
	raftAddr string

	mu        sync.Mutex // guards following
	node      *node.Node
	raft      *hq.Node
	scheduler *hqevents.Scheduler
	stopLoop  context.CancelFunc
	loopDone  chan struct{} // closed when the scheduler loop returned
}

// SMSRecorder is an SMS gateway that records every message handed to it.
type SMSRecorder struct {
	mu   sync.Mutex // guards following
	sent []sms.Message
}

// Send records m.
func (r *SMSRecorder) Send(_ context.Context, m sms.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

// Messages returns what was sent, in order.
func (r *SMSRecorder) Messages() []sms.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// NewJobsCluster starts the HQ nodes and waits for a leader. Close stops
// them and removes their files.
func NewJobsCluster(ctx context.Context, opts JobsOptions) (*JobsCluster, error) {
	if opts.HQ == 0 {
		opts.HQ = 3
	}
	if opts.Clock == nil {
		opts.Clock = &Clock{}
	}
	if opts.Tick == 0 {
		opts.Tick = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := os.MkdirTemp("", "testcluster-jobs-")
	if err != nil {
		return nil, err
	}
	c := &JobsCluster{opts: opts, dir: dir}
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *JobsCluster) start(ctx context.Context) error {
	var err error
	if c.ca, err = hq.NewCA("testcluster-jobs"); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	var lns []net.Listener
	for i := 1; i <= c.opts.HQ; i++ {
		ln, err := listenFixed(rng)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
		id := fmt.Sprintf("HQ%d", i)
		c.servers = append(c.servers, hq.Server{ID: id, Addr: ln.Addr().String()})
		c.Members = append(c.Members, &JobsMember{ID: id, Sent: &SMSRecorder{}, c: c, index: i - 1,
			dir: filepath.Join(c.dir, id), raftAddr: ln.Addr().String()})
	}
	for i, m := range c.Members {
		if err := c.startMember(ctx, m, lns[i]); err != nil {
			for _, l := range lns[i+1:] {
				l.Close()
			}
			return err
		}
	}
	_, err = c.WaitLeader(ctx, 30*time.Second)
	return err
}

// startMember opens m's node (with its outbox) and Raft member on ln and
// starts its scheduler loop.
func (c *JobsCluster) startMember(ctx context.Context, m *JobsMember, ln net.Listener) error {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		ln.Close()
		return err
	}
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store, cfg.Origin = filepath.Join(m.dir, "patron.db"), m.ID, m.ID
	cfg.Logger, cfg.NoSync, cfg.Now, cfg.SMS = c.opts.Logger, true, c.opts.Clock.Now, m.Sent
	n, err := node.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	tlsCfg, err := c.ca.NodeTLS(m.ID)
	if err != nil {
		ln.Close()
		n.Close()
		return err
	}
	rc := hq.DefaultConfig()
	rc.ID, rc.Dir, rc.TLS, rc.Bootstrap, rc.RaftListener, rc.Store = m.ID, filepath.Join(m.dir, "raft"), tlsCfg, c.servers, ln, n
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	rc.DialTimeout, rc.IOTimeout, rc.NoSync, rc.Logger = time.Second, 2*time.Second, true, c.opts.Logger
	r, err := hq.Open(ctx, rc)
	if err != nil {
		n.Close()
		return fmt.Errorf("testcluster: start %s: %w", m.ID, err)
	}
	events := hqevents.NewEmitter(n, jobsRaftLog{r}, c.opts.Logger)
	emit := func(ctx context.Context, ev engine.Event) (engine.Event, error) {
		out, err := events.Emit(ctx, ev)
		if err == nil && c.opts.AfterEmit != nil {
			c.opts.AfterEmit(m, out)
		}
		return out, err
	}
	s := hqevents.NewScheduler(r, c.opts.Clock.Now, c.opts.Tick, c.opts.Logger, jobsFor(n, emit)...)
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(loopCtx)
	}()
	m.mu.Lock()
	m.node, m.raft, m.scheduler, m.stopLoop, m.loopDone = n, r, s, stop, done
	m.mu.Unlock()
	return nil
}

// jobsFor is hqjobs_tiers.go's job list for node n (greetings only with
// an outbox, which every JobsCluster node has).
func jobsFor(n *node.Node, emit node.EmitFunc) []hqevents.Job {
	return []hqevents.Job{
		{Name: JobTierReview, Every: node.TierReviewEvery, Run: func(ctx context.Context, now time.Time) error {
			_, err := n.RunTierReview(ctx, now, emit)
			return err
		}},
		{Name: JobGreetings, Every: node.GreetingEvery, Run: func(ctx context.Context, now time.Time) error {
			_, err := n.RunGreetings(ctx, now, emit)
			return err
		}},
	}
}

// jobsRaftLog is the Raft log as hqevents proposes to it (as patron hq's
// raftLog): an unknown outcome is retried with the same event.
type jobsRaftLog struct{ raft *hq.Node }

func (l jobsRaftLog) AppendEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	for {
		vv, err := l.raft.AppendEvents(ctx, events)
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue
		}
		return vv, err
	}
}

// Kill kills this member (JobsCluster.Kill).
func (m *JobsMember) Kill() error { return m.c.Kill(m.index) }

// Node is the member's node, nil while it is down.
func (m *JobsMember) Node() *node.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

func (m *JobsMember) parts() (*node.Node, *hq.Node, *hqevents.Scheduler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node, m.raft, m.scheduler
}

// Leader returns the index of the Raft leader, or -1.
func (c *JobsCluster) Leader() int {
	for i, m := range c.Members {
		if _, r, _ := m.parts(); r != nil && r.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitLeader waits for a leader and returns its index.
func (c *JobsCluster) WaitLeader(ctx context.Context, within time.Duration) (int, error) {
	i := -1
	err := poll(ctx, within, "an HQ leader", func() bool { i = c.Leader(); return i >= 0 })
	return i, err
}

// Emit proposes ev through the leader's Raft log (setup: enrolments),
// trying again at the next leader while the one it asked no longer
// leads.
func (c *JobsCluster) Emit(ctx context.Context, ev engine.Event) (engine.Event, error) {
	var out engine.Event
	err := c.onLeader(ctx, func(n *node.Node, r *hq.Node) error {
		var err error
		out, err = hqevents.NewEmitter(n, jobsRaftLog{r}, nil).Emit(ctx, ev)
		return err
	})
	return out, err
}

// LoadProgramme loads a programme document through the leader and waits
// until every HQ node has it.
func (c *JobsCluster) LoadProgramme(ctx context.Context, doc []byte) error {
	err := c.onLeader(ctx, func(n *node.Node, r *hq.Node) error {
		_, err := hqevents.NewEmitter(n, jobsRaftLog{r}, nil).EmitPrepared(ctx, func(ctx context.Context) (engine.RawEvent, error) {
			return n.PrepareProgrammeEvent(ctx, doc)
		})
		return err
	})
	if err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "the programme on every HQ node", func() bool {
		for _, m := range c.Members {
			if n := m.Node(); n == nil || n.Programme() == nil {
				return false
			}
		}
		return true
	})
}

// onLeader runs fn on the leader's node and Raft member, again on the
// next leader while fn fails because its node does not lead (an election
// on a loaded machine), for up to 30 s.
func (c *JobsCluster) onLeader(ctx context.Context, fn func(*node.Node, *hq.Node) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		i, err := c.WaitLeader(ctx, time.Until(deadline))
		if err != nil {
			return err
		}
		n, r, _ := c.Members[i].parts()
		if n == nil {
			continue // killed since
		}
		err = fn(n, r)
		var nl *hq.NotLeaderError
		if !errors.As(err, &nl) || time.Now().After(deadline) {
			return err
		}
	}
}

// RunJob runs a job now on the leader (POST /jobs/{name}) and returns
// the leader's index.
func (c *JobsCluster) RunJob(ctx context.Context, name string) (int, error) {
	i, err := c.WaitLeader(ctx, 30*time.Second)
	if err != nil {
		return -1, err
	}
	_, _, s := c.Members[i].parts()
	return i, s.RunNow(ctx, name)
}

// Kill stops member i as a crash would: its scheduler loop is told to
// stop (not waited for, so Kill may run inside one of its jobs), its Raft
// member and node close; its files stay for Restart.
func (c *JobsCluster) Kill(i int) error {
	m := c.Members[i]
	m.mu.Lock()
	n, r, stop := m.node, m.raft, m.stopLoop
	m.node, m.raft, m.scheduler = nil, nil, nil
	m.mu.Unlock()
	if n == nil {
		return nil
	}
	stop()
	return errors.Join(r.Close(), n.Close())
}

// Restart reopens member i from its files on its old Raft address.
func (c *JobsCluster) Restart(ctx context.Context, i int) error {
	m := c.Members[i]
	m.mu.Lock()
	up, done := m.node != nil, m.loopDone
	m.mu.Unlock()
	if up {
		return nil
	}
	if done != nil {
		<-done // the killed incarnation's loop
	}
	ln, err := listenRetry(ctx, "tcp", m.raftAddr)
	if err != nil {
		return err
	}
	return c.startMember(ctx, m, ln)
}

// Close stops every member and removes the files.
func (c *JobsCluster) Close() error {
	var errs []error
	for i, m := range c.Members {
		errs = append(errs, c.Kill(i))
		m.mu.Lock()
		done := m.loopDone
		m.mu.Unlock()
		if done != nil {
			<-done
		}
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}
