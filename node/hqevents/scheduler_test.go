package hqevents

import (
	"context"
	"errors"
	"testing"
	"time"
)

type fakeLead struct {
	leader   bool
	barriers int
	barErr   error
}

func (f *fakeLead) IsLeader() bool { return f.leader }
func (f *fakeLead) Barrier(context.Context) error {
	f.barriers++
	return f.barErr
}

func TestSchedulerRunsJobsOnTheLeaderOnly(t *testing.T) {
	ctx := context.Background()
	now := t0
	lead := &fakeLead{}
	runs := map[string]int{}
	job := func(name string, every time.Duration) Job {
		return Job{Name: name, Every: every, Run: func(context.Context, time.Time) error { runs[name]++; return nil }}
	}
	s := NewScheduler(lead, func() time.Time { return now }, time.Minute, nil,
		job("daily", 24*time.Hour), job("hourly", time.Hour))

	steps := []struct {
		name       string
		leader     bool
		advance    time.Duration
		barErr     error
		wantDaily  int
		wantHourly int
	}{
		{"a follower runs nothing", false, 0, nil, 0, 0},
		{"a new leader runs every job", true, 0, nil, 1, 1},
		{"nothing due a minute later", true, time.Minute, nil, 1, 1},
		{"the hourly job an hour later", true, time.Hour, nil, 1, 2},
		{"a failed barrier runs nothing", true, 24 * time.Hour, errors.New("lost quorum"), 1, 2},
		{"the next tick catches up", true, 0, nil, 2, 3},
		{"leadership lost", false, 24 * time.Hour, nil, 2, 3},
		{"regained: every job at once", true, 0, nil, 3, 4},
	}
	for _, st := range steps {
		lead.leader, lead.barErr = st.leader, st.barErr
		now = now.Add(st.advance)
		s.Tick(ctx)
		if runs["daily"] != st.wantDaily || runs["hourly"] != st.wantHourly {
			t.Fatalf("%s: daily %d hourly %d, want %d %d", st.name, runs["daily"], runs["hourly"], st.wantDaily, st.wantHourly)
		}
	}
}

func TestSchedulerRetriesAFailedJob(t *testing.T) {
	ctx := context.Background()
	lead := &fakeLead{leader: true}
	fail := true
	runs := 0
	s := NewScheduler(lead, func() time.Time { return t0 }, time.Minute, nil, Job{Name: "j", Every: 24 * time.Hour,
		Run: func(context.Context, time.Time) error {
			runs++
			if fail {
				return errors.New("disk full")
			}
			return nil
		}})
	s.Tick(ctx)
	fail = false
	s.Tick(ctx)
	s.Tick(ctx)
	if runs != 2 {
		t.Fatalf("ran %d times, want 2 (failed, then retried once)", runs)
	}
}

func TestRunNow(t *testing.T) {
	ctx := context.Background()
	lead := &fakeLead{}
	runs := 0
	s := NewScheduler(lead, func() time.Time { return t0 }, time.Minute, nil,
		Job{Name: "greetings", Every: 24 * time.Hour, Run: func(context.Context, time.Time) error { runs++; return nil }})
	if err := s.RunNow(ctx, "greetings"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower: %v, want ErrNotLeader", err)
	}
	lead.leader = true
	if err := s.RunNow(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("unknown: %v", err)
	}
	if err := s.RunNow(ctx, "greetings"); err != nil || runs != 1 || lead.barriers != 1 {
		t.Fatalf("leader: err %v runs %d barriers %d", err, runs, lead.barriers)
	}
}
