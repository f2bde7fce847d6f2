package hqevents

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/sms"
)

// expiryProgramme expires points 60 days after the day they were earned
// (Asia/Kolkata), warning 30 days ahead.
const expiryProgramme = `{"version": "x1", "currency": "INR", "minor_digits": 2,
  "timezone": "Asia/Kolkata", "default_country_code": "+91",
  "earn": {"rates": [{"category": "*", "points": 1, "per": 1000}], "expire_after_days": 60},
  "redeem": {"point_value": 25, "otp": "off"}, "campaigns": [],
  "consents": [{"id": "programme_terms", "required": true}, {"id": "sms_marketing"}]}`

// texts records the texts a node's outbox sends.
type texts struct {
	mu   sync.Mutex // guards following
	sent []sms.Message
}

func (s *texts) Send(_ context.Context, m sms.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

func (s *texts) of(kind string) []sms.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sms.Message
	for _, m := range s.sent {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

type clock struct {
	mu sync.Mutex // guards following
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func openSMSNode(t *testing.T, origin string, clk *clock, box *texts) *node.Node {
	t.Helper()
	n, err := node.Open(context.Background(), node.Config{Path: filepath.Join(t.TempDir(), origin+".db"),
		Store: "HQ", Origin: origin, NoSync: true, Now: clk.Now, SMS: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// The job warns once, queues the text on the proposing node only, marks
// the lot expired once it is due, and emits nothing on a rerun.
func TestPointsExpiryJob(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)} // 15:30 IST
	leaderBox, followerBox := &texts{}, &texts{}
	leader := openSMSNode(t, "hq1", clk, leaderBox)
	follower := openSMSNode(t, "hq2", clk, followerBox)
	if _, err := leader.LoadProgramme(ctx, []byte(expiryProgramme)); err != nil {
		t.Fatal(err)
	}
	const member = "+919800000001"
	// No marketing consent: the warning is a service message.
	if _, err := leader.Enroll(ctx, "T01", node.EnrollRequest{Mobile: "9800000001",
		Consents: map[string]bool{"programme_terms": true}}); err != nil {
		t.Fatal(err)
	}
	basket := &engine.Basket{Lines: []engine.Line{{Line: 1, SKU: "X", Qty: 1, UnitPrice: 45000}}}
	if _, err := leader.CompleteSale(ctx, "T01", node.SaleRequest{ReceiptNo: "1", Basket: basket,
		Member: &node.Identifier{Mobile: member}}); err != nil {
		t.Fatal(err) // 45 points, expiring 2026-08-02 00:00 IST
	}
	em := NewEmitter(leader, &nodeLog{n: leader}, nil)
	run := func(at time.Time) uint64 {
		t.Helper()
		clk.set(at)
		if err := RunPointsExpiry(ctx, leader, em, nil, at); err != nil {
			t.Fatal(err)
		}
		vv, err := leader.VersionVector(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return vv["hq1"]
	}
	before := run(time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)) // the window ends 2026-07-31: nothing due
	warned := run(time.Date(2026, 7, 20, 9, 0, 0, 0, time.UTC))
	if warned != before+1 {
		t.Fatalf("warning run emitted %d events, want 1", warned-before)
	}
	if again := run(time.Date(2026, 7, 25, 9, 0, 0, 0, time.UTC)); again != warned {
		t.Fatalf("a rerun emitted %d events", again-warned)
	}
	got := waitTexts(t, leaderBox, engine.MessagePointsExpiring, 1)
	want := "45 of your points expire soon, the first on 2026-08-02. Your balance is 45 points."
	if got[0].Text != want || got[0].To != member {
		t.Errorf("text %+v, want %q to %s", got[0], want, member)
	}

	marked := run(time.Date(2026, 8, 2, 3, 0, 0, 0, time.UTC)) // 08:30 IST: due
	if marked != warned+1 {
		t.Fatalf("expiry run emitted %d events, want 1", marked-warned)
	}
	if again := run(time.Date(2026, 8, 2, 4, 0, 0, 0, time.UTC)); again != marked {
		t.Fatalf("a rerun emitted %d events", again-marked)
	}
	m, err := leader.Identify(ctx, "T01", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: member}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Points.Balance != 0 {
		t.Errorf("balance %d after the expiry, want 0", m.Points.Balance)
	}
	entries, bal, err := leader.Entries(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].Kind != engine.EntryExpire || entries[1].Points != -45 || engine.Fold(entries) != bal {
		t.Errorf("ledger %+v, balance %d", entries, bal)
	}

	// A follower applies the same events and texts nobody.
	for _, origin := range []string{"hq1"} {
		evs, err := leader.EventsAfter(ctx, origin, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	fm, err := follower.Identify(ctx, "T01", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: member}})
	if err != nil {
		t.Fatal(err)
	}
	if fm.Points.Balance != 0 {
		t.Errorf("follower balance %d", fm.Points.Balance)
	}
	queued, err := follower.OutboxMessages(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queued {
		if q.Kind == engine.MessagePointsExpiring {
			t.Errorf("follower queued %+v", q)
		}
	}
	if n := len(leaderBox.of(engine.MessagePointsExpiring)); n != 1 {
		t.Errorf("leader sent %d warnings", n)
	}
}

// waitTexts polls (with a deadline) until n texts of kind were sent.
func waitTexts(t *testing.T, box *texts, kind string, n int) []sms.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := box.of(kind); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s texts sent, want %d", len(box.of(kind)), kind, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueExpiryWarningRefusesOtherEvents(t *testing.T) {
	n := openNode(t)
	err := n.QueueExpiryWarning(context.Background(), engine.Event{Kind: engine.EventPointsExpired, Member: "+91"}, 0)
	if err == nil || !strings.Contains(err.Error(), "not a points.expiry_warned") {
		t.Fatalf("err %v", err)
	}
}

func TestPointsExpiryJobRegistered(t *testing.T) {
	n := openNode(t)
	j := PointsExpiryJob(n, NewEmitter(n, &nodeLog{n: n}, nil), nil)
	if j.Name != PointsExpiryJobName || j.Every != PointsExpiryEvery || j.Run == nil {
		t.Fatalf("job %+v", j)
	}
	// On a node with no members there is nothing to do.
	if err := j.Run(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
}
