package node

import (
	"reflect"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// ExpiryReview pages through the members with lots and reports the
// marks and warnings due; QueueExpiryWarning queues one text per warning.
func TestExpiryReview(t *testing.T) {
	h := newLotsHarness(t, 60, 0) // warnings 30 days ahead
	h.setLotClock(lotTime(t, "2026-06-03 15:30"))
	members := []string{"+919800000001", "+919800000002", "+919800000003"}
	for i, m := range members {
		h.enroll(t, m[3:], "K"+m[len(m)-1:], "classic")
		h.lotSale(t, "s"+m[len(m)-1:], books(int64(i+1), 45000), m, 0) // 45, 90, 135 points; expire 2026-08-02
	}
	review := func(at time.Time) []ExpiryDue {
		t.Helper()
		var all []ExpiryDue
		after := ""
		for pages := 0; ; pages++ {
			page, next, err := h.ExpiryReview(ctx, at, after, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 1 || pages > len(members) {
				t.Fatalf("page of %d, %d pages", len(page), pages)
			}
			all = append(all, page...)
			if next == "" {
				return all
			}
			after = next
		}
	}
	if got := review(lotTime(t, "2026-07-01 10:00")); len(got) != 0 {
		t.Errorf("due before the window: %+v", got)
	}
	at := lotTime(t, "2026-07-10 10:00")
	got := review(at)
	if len(got) != 3 {
		t.Fatalf("due %+v, want the 3 members", got)
	}
	for i, d := range got {
		want := ExpiryDue{Member: members[i], Balance: engine.Points(45 * (i + 1)), Warning: &engine.ExpiryWarning{
			Through: lotTime(t, "2026-08-10 00:00"), Points: engine.Points(45 * (i + 1)), On: "2026-08-02"}}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("due %+v (%+v), want %+v (%+v)", d, d.Warning, want, want.Warning)
		}
	}
	if got := review(lotTime(t, "2026-08-02 01:00")); len(got) != 3 || got[0].Expire.IsZero() || got[0].Warning != nil {
		t.Errorf("after the expiry: %+v", got)
	}

	// Queue a warning's text: once per warning.
	w := got[0]
	ev := engine.Event{Kind: engine.EventPointsExpiryWarned, Member: members[0], At: at,
		Expiry: &engine.PointsExpiry{Through: lotTime(t, "2026-08-10 00:00"), Points: 45, On: "2026-08-02"}}
	for range 2 {
		if err := h.QueueExpiryWarning(ctx, ev, w.Balance); err != nil {
			t.Fatal(err)
		}
	}
	queued, err := h.OutboxMessages(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range queued {
		if q.Kind == engine.MessagePointsExpiring {
			n++
			if q.ID != ExpiryWarningMessageID(members[0], ev.Expiry.Through) || q.To != members[0] {
				t.Errorf("queued %+v", q)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d expiry texts queued, want 1", n)
	}
	if err := h.QueueExpiryWarning(ctx, engine.Event{Kind: engine.EventPointsExpired, Member: members[0]}, 0); err == nil {
		t.Error("queued the text of a points.expired event")
	}
}

// A member who earned with no lot settings has no lots to review.
func TestExpiryReviewWithoutLots(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "9800000001", "K1", "classic")
	h.lotSale(t, "1", books(1, 45000), lotMember, 0)
	page, next, err := h.ExpiryReview(ctx, testStart.AddDate(2, 0, 0), "", 0)
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("page %+v next %q err %v", page, next, err)
	}
}
