package hqevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Leadership is the Raft node's view of who leads.
type Leadership interface {
	IsLeader() bool
	// Barrier returns once every entry committed before the call is
	// applied to this node's store.
	Barrier(ctx context.Context) error
}

// Job is work the leader does now and then: review every member, emit
// the events due. A job decides from the folded state alone (a greeting
// already recorded for this year, a tier already changed), so running it
// twice — on a new leader after a failover, or on demand — emits nothing
// twice.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(ctx context.Context, now time.Time) error
}

// ErrUnknownJob is returned by RunNow for a name no job has.
var ErrUnknownJob = errors.New("hqevents: unknown job")

// ErrNotLeader is returned by RunNow on a node that does not lead.
var ErrNotLeader = errors.New("hqevents: not the HQ leader")

// Scheduler runs jobs on the leader only. Every tick it checks leadership;
// a node that leads waits for a Raft barrier (so its store holds every
// committed event) and then runs the jobs that are due. A node that gains
// the lead runs every job at once: the old leader's schedule is not known
// here, and jobs are idempotent.
type Scheduler struct {
	lead Leadership
	now  func() time.Time
	lg   *slog.Logger
	tick time.Duration
	jobs []Job

	mu      sync.Mutex // serialises job runs (tick and RunNow)
	lastRun map[string]time.Time
	leading bool
}

// NewScheduler returns a scheduler checking leadership every tick.
func NewScheduler(lead Leadership, now func() time.Time, tick time.Duration, logger *slog.Logger, jobs ...Job) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if tick <= 0 {
		tick = time.Minute
	}
	return &Scheduler{lead: lead, now: now, lg: logger, tick: tick, jobs: slices.Clone(jobs), lastRun: map[string]time.Time{}}
}

// Run ticks until ctx ends. The caller owns it (one goroutine).
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick does one round: when leading, runs every due job.
func (s *Scheduler) Tick(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lead.IsLeader() {
		if s.leading {
			s.lg.Info("hq jobs paused: no longer the leader")
		}
		s.leading = false
		return
	}
	if !s.leading {
		s.lg.Info("hq jobs: now the leader; running every job")
		clear(s.lastRun)
		s.leading = true
	}
	now := s.now()
	var due []Job
	for _, j := range s.jobs {
		if last, ok := s.lastRun[j.Name]; !ok || now.Sub(last) >= j.Every {
			due = append(due, j)
		}
	}
	if len(due) == 0 {
		return
	}
	if err := s.lead.Barrier(ctx); err != nil {
		s.lg.Warn("hq jobs: barrier failed; retrying next tick", "err", err)
		return
	}
	for _, j := range due {
		if err := s.run(ctx, j, now); err != nil {
			s.lg.Warn("hq job failed; retrying next tick", "job", j.Name, "err", err)
			continue
		}
		s.lastRun[j.Name] = now
	}
}

// RunNow runs one job on demand (an operator's request), on the leader.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	i := slices.IndexFunc(s.jobs, func(j Job) bool { return j.Name == name })
	if i < 0 {
		return fmt.Errorf("%w %q", ErrUnknownJob, name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lead.IsLeader() {
		return ErrNotLeader
	}
	if err := s.lead.Barrier(ctx); err != nil {
		return fmt.Errorf("hqevents: barrier: %w", err)
	}
	now := s.now()
	if err := s.run(ctx, s.jobs[i], now); err != nil {
		return err
	}
	s.lastRun[name] = now
	return nil
}

// JobNames lists the jobs in the order given.
func (s *Scheduler) JobNames() []string {
	names := make([]string, len(s.jobs))
	for i, j := range s.jobs {
		names[i] = j.Name
	}
	return names
}

func (s *Scheduler) run(ctx context.Context, j Job, now time.Time) error {
	start := time.Now()
	err := j.Run(ctx, now)
	s.lg.Debug("hq job ran", "job", j.Name, "took", time.Since(start), "err", err)
	if err != nil {
		return fmt.Errorf("hqevents: job %s: %w", j.Name, err)
	}
	return nil
}
