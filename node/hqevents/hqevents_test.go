package hqevents

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func openNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.Open(context.Background(), node.Config{Path: filepath.Join(t.TempDir(), "hq.db"),
		Store: "HQ", Origin: "hq1", NoSync: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nodeLog stands in for Raft: it applies what it is given to the node,
// after letting a test slip other events in first.
type nodeLog struct {
	n      *node.Node
	before func([]engine.RawEvent)
	calls  int
}

func (l *nodeLog) AppendEvents(ctx context.Context, evs []engine.RawEvent) (engine.VersionVector, error) {
	l.calls++
	if l.before != nil {
		l.before(evs)
	}
	return l.n.ApplyEvents(ctx, evs)
}

func enrolment(mobile string) engine.Event {
	return engine.Event{Kind: engine.EventMemberEnrolled, Member: mobile,
		Enrolment: &engine.Enrolment{Profile: map[string]string{engine.FieldFirstName: "Ana"}}}
}

func TestEmitStampsAndCommits(t *testing.T) {
	ctx := context.Background()
	n := openNode(t)
	e := NewEmitter(n, &nodeLog{n: n}, nil)
	for i, mobile := range []string{"+38640111222", "+38640111333"} {
		ev, err := e.Emit(ctx, enrolment(mobile))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Origin != "hq1" || ev.Seq != uint64(i+1) || ev.Store != "HQ" || !ev.At.Equal(t0) {
			t.Fatalf("event %d stamped %s/%d store %s at %v", i, ev.Origin, ev.Seq, ev.Store, ev.At)
		}
	}
	vv, err := n.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vv["hq1"] != 2 {
		t.Fatalf("vv %v, want hq1:2", vv)
	}
}

// A competing event that takes the prepared sequence number first makes
// the emitter prepare again at the next one; both events are kept.
func TestEmitPreparesAgainWhenSeqTaken(t *testing.T) {
	ctx := context.Background()
	n := openNode(t)
	log := &nodeLog{n: n}
	var once sync.Once
	log.before = func(evs []engine.RawEvent) {
		once.Do(func() {
			competitor, err := n.PrepareEvent(ctx, enrolment("+38640999999"))
			if err != nil {
				t.Fatal(err)
			}
			if competitor.Seq != evs[0].Seq {
				t.Fatalf("competitor seq %d, prepared %d", competitor.Seq, evs[0].Seq)
			}
			if _, err := n.ApplyEvents(ctx, []engine.RawEvent{competitor}); err != nil {
				t.Fatal(err)
			}
		})
	}
	ev, err := NewEmitter(n, log, nil).Emit(ctx, enrolment("+38640111222"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 2 || log.calls != 2 {
		t.Fatalf("landed at seq %d after %d proposals, want 2 and 2", ev.Seq, log.calls)
	}
	for _, m := range []string{"+38640999999", "+38640111222"} {
		ids, err := n.MemberIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, id := range ids {
			found = found || id == m
		}
		if !found {
			t.Fatalf("member %s missing from %v", m, ids)
		}
	}
}

type failingLog struct{ err error }

func (l failingLog) AppendEvents(context.Context, []engine.RawEvent) (engine.VersionVector, error) {
	return nil, l.err
}

func TestEmitReportsLogErrors(t *testing.T) {
	n := openNode(t)
	errNotLeader := errors.New("not the leader")
	_, err := NewEmitter(n, failingLog{errNotLeader}, nil).Emit(context.Background(), enrolment("+38640111222"))
	if !errors.Is(err, errNotLeader) {
		t.Fatalf("err %v, want the log's error", err)
	}
	// A bad event is refused before it is proposed.
	_, err = NewEmitter(n, failingLog{errNotLeader}, nil).Emit(context.Background(),
		engine.Event{Kind: engine.EventMemberEnrolled, Member: "+38640111222"})
	if !errors.Is(err, engine.ErrBadEvent) {
		t.Fatalf("err %v, want ErrBadEvent", err)
	}
}
