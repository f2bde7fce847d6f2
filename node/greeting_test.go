package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// enrollDays enrols a member with a birthday and an anniversary ("" for
// none), with or without the marketing consent.
func (h *harness) enrollDays(t *testing.T, mobile, birthday, anniversary string, marketing bool) {
	t.Helper()
	_, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: mobile, FirstName: "Asha", Birthday: birthday,
		Anniversary: anniversary, Consents: map[string]bool{"programme_terms": true, "sms_marketing": marketing}})
	if err != nil {
		t.Fatal(err)
	}
}

// greetedYears is the member's greeted register.
func greetedYears(t *testing.T, n *Node, member string) map[string]int {
	t.Helper()
	var out map[string]int
	for _, ev := range eventsOf(t, n, engine.EventMemberGreeted) {
		if ev.Member == member {
			if out == nil {
				out = map[string]int{}
			}
			out[ev.Greeting.Kind] = max(out[ev.Greeting.Kind], ev.Greeting.Year)
		}
	}
	return out
}

func TestRunGreetings(t *testing.T) {
	h := newOutboxHarness(t)
	// testStart is 15:30 on 3 June 2026 in the programme's zone (Kolkata).
	members := []struct {
		mobile, birthday, anniversary string
		marketing                     bool
		want                          map[string]int
	}{
		{"+919800000011", "06-03", "", true, map[string]int{"birthday": 2026}},
		{"+919800000012", "06-03", "", false, nil}, // no consent: not greeted, not recorded
		{"+919800000013", "", "06-03", true, map[string]int{"anniversary": 2026}},
		{"+919800000014", "06-04", "06-05", true, nil},
		{"+919800000015", "06-02", "", true, map[string]int{"birthday": 2026}}, // yesterday: caught up
		{"+919800000016", "06-03", "06-03", true, map[string]int{"birthday": 2026, "anniversary": 2026}},
	}
	for _, m := range members {
		h.enrollDays(t, m.mobile, m.birthday, m.anniversary, m.marketing)
	}
	emit := localEmit(h.Node)
	run, err := h.RunGreetings(ctx, h.clock.Now(), emit)
	if err != nil || run != (GreetingRun{Due: 5, Emitted: 5, Queued: 5}) {
		t.Fatalf("first run: %+v, %v; want 5 greetings emitted and queued", run, err)
	}
	for _, m := range members {
		if got := greetedYears(t, h.Node, m.mobile); fmt.Sprint(got) != fmt.Sprint(m.want) {
			t.Errorf("%s greeted %v, want %v", m.mobile, got, m.want)
		}
	}
	run, err = h.RunGreetings(ctx, h.clock.Now().Add(time.Hour), emit)
	if err != nil || run != (GreetingRun{}) {
		t.Fatalf("rerun: %+v, %v; want nothing", run, err)
	}
	// The member who gives the consent later that day is greeted then.
	if _, err := h.SetConsents(ctx, "T01", ConsentsRequest{MemberID: "+919800000012", Set: map[string]bool{"sms_marketing": true}}); err != nil {
		t.Fatal(err)
	}
	run, err = h.RunGreetings(ctx, h.clock.Now().Add(2*time.Hour), emit)
	if err != nil || run != (GreetingRun{Due: 1, Emitted: 1, Queued: 1}) {
		t.Fatalf("after the consent: %+v, %v; want one greeting", run, err)
	}
	// Every greeting is sent once, with its member's name.
	evs := eventsOf(t, h.Node, engine.EventMemberGreeted)
	if len(evs) != 6 {
		t.Fatalf("%d member.greeted events, want 6", len(evs))
	}
	for _, ev := range evs {
		id := fmt.Sprintf("%s/%d/%s", ev.Origin, ev.Seq, ev.Greeting.Kind)
		h.waitState(t, id, OutboxSent)
		want := fmt.Sprintf("%s: Happy %s, Asha! Thank you for being a member.", id, ev.Greeting.Kind)
		if !slices.Contains(h.sender.texts(), want) || h.sender.tries(id) != 1 {
			t.Errorf("texts %q: want %q once", h.sender.texts(), want)
		}
	}
	// A node that applies the greetings (a follower, a store) queues none.
	follower := newOutboxHarness(t)
	copyEvents(t, h.Node, follower.Node)
	if got := greetedYears(t, follower.Node, "+919800000011"); got["birthday"] != 2026 {
		t.Fatalf("follower's greeted register %v", got)
	}
	for _, kind := range engine.GreetingKinds() {
		if got := outboxOf(t, follower.Node, kind); len(got) != 0 {
			t.Errorf("a node that only applied greetings queued %v", got)
		}
	}
	run, err = follower.RunGreetings(ctx, h.clock.Now(), localEmit(follower.Node))
	if err != nil || run.Emitted != 0 {
		t.Errorf("new leader: %+v, %v; want nothing", run, err)
	}
}

// 29 February falls on the 28th in a year without one, and only once.
func TestRunGreetingsLeapDay(t *testing.T) {
	h := newOutboxHarness(t)
	const m = "+919800000021"
	h.enrollDays(t, m, "02-29", "", true)
	emit := localEmit(h.Node)
	for _, step := range []struct {
		at      string
		emitted int
		want    int // the year greeted after the step
	}{
		{"2027-02-27T06:00:00Z", 0, 0},
		{"2027-02-28T06:00:00Z", 1, 2027},
		{"2027-03-01T06:00:00Z", 0, 2027}, // the catch-up day sees it greeted
		{"2028-02-28T06:00:00Z", 0, 2027}, // a leap year: the 29th is the day
		{"2028-02-29T06:00:00Z", 1, 2028},
	} {
		now, _ := time.Parse(time.RFC3339, step.at)
		run, err := h.RunGreetings(ctx, now, emit)
		if err != nil || run.Emitted != step.emitted {
			t.Fatalf("%s: %+v, %v; want %d emitted", step.at, run, err, step.emitted)
		}
		if got := greetedYears(t, h.Node, m)["birthday"]; got != step.want {
			t.Fatalf("%s: greeted %d, want %d", step.at, got, step.want)
		}
	}
}

// An emit whose outcome is unknown ends the run; if the event committed,
// the member counts as greeted and no text goes (at most once).
func TestRunGreetingsAtMostOnce(t *testing.T) {
	h := newOutboxHarness(t)
	h.enrollDays(t, "+919800000031", "06-03", "", true)
	h.enrollDays(t, "+919800000032", "06-03", "", true)
	errLost := errors.New("leadership lost")
	commitThenFail := func(ctx context.Context, ev engine.Event) (engine.Event, error) {
		if _, err := localEmit(h.Node)(ctx, ev); err != nil {
			return engine.Event{}, err
		}
		return engine.Event{}, errLost
	}
	run, err := h.RunGreetings(ctx, h.clock.Now(), commitThenFail)
	if !errors.Is(err, errLost) || run.Emitted != 0 {
		t.Fatalf("run: %+v, %v; want the emit's error", run, err)
	}
	run, err = h.RunGreetings(ctx, h.clock.Now(), localEmit(h.Node))
	if err != nil || run != (GreetingRun{Due: 1, Emitted: 1, Queued: 1}) {
		t.Fatalf("next run: %+v, %v; want only the other member greeted", run, err)
	}
	if got := len(eventsOf(t, h.Node, engine.EventMemberGreeted)); got != 2 {
		t.Fatalf("%d greetings recorded, want 2", got)
	}
	if got := outboxOf(t, h.Node, engine.MessageBirthday); len(got) != 1 {
		t.Fatalf("birthday texts %v, want one: the committed-but-unconfirmed one is never sent", got)
	}
	// An emit refused before it commits records nothing.
	h.enrollDays(t, "+919800000033", "06-03", "", true)
	refuse := func(context.Context, engine.Event) (engine.Event, error) { return engine.Event{}, errLost }
	if _, err := h.RunGreetings(ctx, h.clock.Now(), refuse); !errors.Is(err, errLost) {
		t.Fatalf("refused emit: %v", err)
	}
	if run, err := h.RunGreetings(ctx, h.clock.Now(), localEmit(h.Node)); err != nil || run.Emitted != 1 {
		t.Fatalf("after a refused emit: %+v, %v; want the greeting", run, err)
	}
}

func TestRunGreetingsNeedsAnOutbox(t *testing.T) {
	n := openPlain(t, "HQ1")
	if _, err := n.RunGreetings(ctx, testStart, localEmit(n)); err == nil || !strings.Contains(err.Error(), "outbox") {
		t.Fatalf("got %v, want the outbox error", err)
	}
	if n.SendsSMS() {
		t.Fatal("a node without Config.SMS says it sends SMS")
	}
}

func TestQueueEventMessage(t *testing.T) {
	h := newOutboxHarness(t)
	const m = "+919800000041"
	h.enrollDays(t, m, "06-03", "", true)
	g := &engine.Greeting{Kind: engine.GreetingBirthday, Year: 2026}
	ev, err := localEmit(h.Node)(ctx, engine.Event{Kind: engine.EventMemberGreeted, Member: m, Greeting: g})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} { // the second is a no-op
		queued, err := h.QueueEventMessage(ctx, ev.ID())
		if err != nil || queued != want {
			t.Fatalf("call %d: queued %v, %v; want %v", i, queued, err, want)
		}
	}
	enrolment := eventsOf(t, h.Node, engine.EventMemberEnrolled)[0]
	if queued, err := h.QueueEventMessage(ctx, enrolment.ID()); err != nil || queued {
		t.Fatalf("an enrolment: queued %v, %v; want nothing", queued, err)
	}
	if _, err := h.QueueEventMessage(ctx, engine.EventID{Origin: "HQ9", Seq: 1}); err == nil {
		t.Fatal("queued the text of an event not held")
	}
}

// A greeting is in the member's language when the programme has a
// template for it (or for its base language), else the default.
func TestGreetingInMemberLanguage(t *testing.T) {
	h := newOutboxHarness(t)
	var doc map[string]any
	if err := json.Unmarshal(testProgramme("test-2", "off"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["messages"] = map[string]any{"templates": map[string]any{
		"birthday": map[string]any{"sl": "Vse najboljše, {{.FirstName}}!"}}}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadProgramme(ctx, data); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, m := range []struct{ mobile, lang, text string }{
		{"+919800000051", "sl-SI", "Vse najboljše, Asha!"},
		{"+919800000052", "", "Happy birthday, Asha! Thank you for being a member."},
	} {
		_, err := h.Enroll(ctx, "T01", EnrollRequest{Mobile: m.mobile, FirstName: "Asha", Birthday: "06-03", Language: m.lang,
			Consents: map[string]bool{"programme_terms": true, "sms_marketing": true}})
		if err != nil {
			t.Fatal(err)
		}
		want[m.mobile] = m.text
	}
	if run, err := h.RunGreetings(ctx, h.clock.Now(), localEmit(h.Node)); err != nil || run.Queued != 2 {
		t.Fatalf("run: %+v, %v", run, err)
	}
	for _, ev := range eventsOf(t, h.Node, engine.EventMemberGreeted) {
		id := fmt.Sprintf("%s/%d/%s", ev.Origin, ev.Seq, ev.Greeting.Kind)
		h.waitState(t, id, OutboxSent)
		if !slices.Contains(h.sender.texts(), id+": "+want[ev.Member]) {
			t.Errorf("texts %q, want %q for %s", h.sender.texts(), want[ev.Member], ev.Member)
		}
	}
}
