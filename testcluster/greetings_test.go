package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// greetingProgramme is the default programme in Kolkata's zone, with the
// marketing consent greetings need.
func greetingProgramme(t *testing.T) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(Programme(0), &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"], doc["timezone"] = "testcluster-greetings", "Asia/Kolkata"
	doc["consents"] = []any{map[string]any{"id": "programme_terms", "required": true}, map[string]any{"id": "sms_marketing"}}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGreetingsNotSentTwiceAcrossFailover kills the HQ leader inside its
// greeting job, between the Raft commit of a greeting and the write of
// its text, lets a new leader take over (its scheduler runs every job on
// gaining the lead), brings the old leader back (its outbox sends what it
// had queued) and runs the job once more. Every member is greeted in the
// log exactly once; no member gets two texts from any node; every member
// but the one caught in the crash window gets exactly one; and a node
// only ever sends texts of greetings it emitted itself.
func TestGreetingsNotSentTwiceAcrossFailover(t *testing.T) {
	ctx := testCtx(t)
	clock := &Clock{}
	// Set up two days before the birthdays, so that no scheduler greets
	// anyone before the test is ready (a node that gains the lead during
	// setup runs every job).
	clock.Set(time.Until(time.Date(2026, 6, 1, 6, 30, 0, 0, time.UTC)))
	const members, crashAt = 12, 5
	var emitted atomic.Int32
	var crashed atomic.Value // the member whose greeting committed as its leader died
	var killed atomic.Int32  // the index of that leader
	opts := JobsOptions{Clock: clock, AfterEmit: func(m *JobsMember, ev engine.Event) {
		if ev.Kind == engine.EventMemberGreeted && emitted.Add(1) == crashAt {
			crashed.Store(ev.Member)
			killed.Store(int32(m.index))
			if err := m.Kill(); err != nil {
				t.Errorf("kill %s: %v", m.ID, err)
			}
		}
	}}
	if *verboseFlag {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := NewJobsCluster(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	if err := c.LoadProgramme(ctx, greetingProgramme(t)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 1; i <= members; i++ {
		id := fmt.Sprintf("+9198000%05d", i)
		ids = append(ids, id)
		_, err := c.Emit(ctx, engine.Event{Kind: engine.EventMemberEnrolled, Member: id, Enrolment: &engine.Enrolment{
			Profile:  map[string]string{engine.FieldFirstName: "M" + fmt.Sprint(i), engine.FieldBirthday: "06-03"},
			Consents: map[string]bool{"programme_terms": true, "sms_marketing": true}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	clock.Set(time.Until(time.Date(2026, 6, 3, 6, 30, 0, 0, time.UTC))) // the birthday, noon in Kolkata
	// The leader dies inside the run (or inside its own scheduler's run,
	// if an election on a loaded machine made another node lead first).
	_, jobErr := c.RunJob(ctx, JobGreetings)
	if err := poll(ctx, 30*time.Second, "the crash", func() bool { return crashed.Load() != nil }); err != nil {
		t.Fatalf("%v: %d greetings emitted; the job said %v", err, emitted.Load(), jobErr)
	}
	victim, first := crashed.Load().(string), int(killed.Load())
	t.Logf("%s died after committing the greeting of %s (the job: %v)", c.Members[first].ID, victim, jobErr)
	if err := poll(ctx, 30*time.Second, "a new leader", func() bool { i := c.Leader(); return i >= 0 && i != first }); err != nil {
		t.Fatal(err)
	}
	// The new leader greets the rest on its own (a node gaining the lead
	// runs every job) while the old one is down with what it queued.
	if err := poll(ctx, 30*time.Second, "the new leader's greetings", func() bool {
		n := 0
		for i, m := range c.Members {
			if i != first {
				n += len(m.Sent.Messages())
			}
		}
		return n >= members-crashAt
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := poll(ctx, 30*time.Second, "every outbox drained", func() bool { return allSent(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunJob(ctx, JobGreetings); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if err := poll(ctx, 30*time.Second, "every outbox drained", func() bool { return allSent(ctx, c) }); err != nil {
		t.Fatal(err)
	}

	// The log: one member.greeted per member, whoever emitted it.
	li, err := c.WaitLeader(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Members[li].Node()
	perMember := map[string]int{}
	for _, m := range c.Members {
		raws, err := leader.EventsAfter(ctx, m.ID, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range raws {
			ev, err := engine.DecodeEvent(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == engine.EventMemberGreeted {
				perMember[ev.Member]++
			}
		}
	}
	// The texts.
	texts := textsByMember(t, c)
	for _, id := range ids {
		if perMember[id] != 1 {
			t.Errorf("%s greeted %d times in the log, want 1", id, perMember[id])
		}
		want := 1
		if id == victim {
			want = 0 // recorded, never sent: at most once
		}
		if got := len(texts[id]); got != want {
			t.Errorf("%s got %d greeting texts %v, want %d", id, got, texts[id], want)
		}
	}
	for _, m := range c.Members {
		t.Logf("%s sent %d texts", m.ID, len(m.Sent.Messages()))
	}
}

// textsByMember collects the greeting texts every node's gateway got, by
// member: the distinct message ids (a gateway de-duplicates a resend of
// one id, as the webhook's Idempotency-Key lets it). It fails the test
// when a node sent a text of an event another node emitted.
func textsByMember(t *testing.T, c *JobsCluster) map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, m := range c.Members {
		for _, msg := range m.Sent.Messages() {
			if msg.Kind != engine.MessageBirthday {
				continue
			}
			if !strings.HasPrefix(msg.ID, m.ID+"/") {
				t.Errorf("%s sent %s, a greeting another node emitted", m.ID, msg.ID)
			}
			if !seen[msg.ID] {
				seen[msg.ID] = true
				out[msg.To] = append(out[msg.To], msg.ID)
			}
		}
	}
	return out
}

// allSent reports whether every live node's outbox has nothing pending.
func allSent(ctx context.Context, c *JobsCluster) bool {
	for _, m := range c.Members {
		n := m.Node()
		if n == nil {
			return false
		}
		msgs, err := n.OutboxMessages(ctx, 1000)
		if err != nil {
			return false
		}
		for _, msg := range msgs {
			if msg.State == node.OutboxPending {
				return false
			}
		}
	}
	return true
}
