package node

import (
	"errors"
	"testing"

	"github.com/patron/patron/engine"
)

// TestUnblockCardAtHQ: a card blocked at a till is unblocked by HQ; the
// store sees it active, and the card maintenance log says who (the HQ
// operator), where (HQ), when and why, on every node.
func TestUnblockCardAtHQ(t *testing.T) {
	c := newChain(t, 31)
	enrolAndTrade(t, c.s1, c.clock) // blocks eraseCard ("lost")
	c.sync(t)
	if _, err := c.s2.Identify(ctx, "T01", IdentifyRequest{Identifier: &Identifier{Card: eraseCard}}); err == nil {
		t.Fatal("a blocked card identified the member")
	}
	ev, err := c.hq.UnblockCardEvent(ctx, eraseMobile, eraseCard, "found by the customer, ticket 4711", "alice")
	if err != nil || ev == nil {
		t.Fatalf("unblock: %v %v", ev, err)
	}
	c.emit(t, ev)
	c.sync(t)
	for _, n := range []*peer{c.hq, c.s1, c.s2} {
		m, err := n.Identify(ctx, "T01", IdentifyRequest{Identifier: &Identifier{Card: eraseCard}})
		if err != nil || m.MemberID != eraseMobile {
			t.Fatalf("%s: identify by the unblocked card: %+v %v", n.Origin(), m, err)
		}
		log, err := n.CardLog(ctx, eraseMobile)
		if err != nil || len(log) == 0 {
			t.Fatalf("%s: card log %v %v", n.Origin(), log, err)
		}
		last := log[len(log)-1]
		if last.Action != "unblock" || last.Card != eraseCard || last.Store != c.hq.cfg.Store || last.Terminal != "admin:alice" ||
			last.Reason != "found by the customer, ticket 4711" || last.At.IsZero() {
			t.Errorf("%s: last card log entry %+v, want the unblock by admin:alice at HQ with its reason", n.Origin(), last)
		}
	}
	if again, err := c.hq.UnblockCardEvent(ctx, eraseMobile, eraseCard, "again", "alice"); again != nil || err != nil {
		t.Errorf("unblocking an active card: %v %v, want nothing to do", again, err)
	}
	tests := []struct {
		name                  string
		member, card, why, by string
		want                  error
	}{
		{"unknown card", eraseMobile, "NOPE", "x", "alice", ErrNoSuchCard},
		{"unknown member", "+919899999999", eraseCard, "x", "alice", ErrNoSuchMember},
		{"no reason", eraseMobile, eraseCard, "", "alice", ErrAdminRequest},
		{"no operator", eraseMobile, eraseCard, "x", "", ErrAdminRequest},
	}
	for _, tt := range tests {
		if _, err := c.hq.UnblockCardEvent(ctx, tt.member, tt.card, tt.why, tt.by); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	p := c.erase(t, eraseMobile)
	if _, err := c.hq.UnblockCardEvent(ctx, eraseMobile, eraseCard, "x", "alice"); !errors.Is(err, ErrErased) {
		t.Errorf("unblocking a card of an erased member: %v, want ErrErased", err)
	}
	if _, err := c.hq.GroupChangeEvent(ctx, p, []string{"x"}, nil, "alice"); !errors.Is(err, ErrNoSuchMember) && !errors.Is(err, ErrNoSuchGroup) {
		t.Errorf("assigning a pseudonym: %v", err)
	}
	c.sync(t)
	checkConverged(t, nil, c.hq, c.s1, c.s2)
}

// TestTillCannotUnblock: card.block is the till's only card status
// change; blocking again is a no-op and a block never unblocks.
func TestTillCannotUnblock(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "9800000002", "K-1", "gold")
	for range 2 {
		m, err := h.BlockCard(ctx, "T01", BlockCardRequest{Number: "K-1", Reason: "lost"})
		if err != nil || m.Cards[0].Status != engine.CardBlocked {
			t.Fatalf("block: %+v %v", m, err)
		}
	}
	log, err := h.CardLog(ctx, "")
	if err != nil || len(log) != 2 || log[1].Action != "block" {
		t.Fatalf("card log %+v %v: want the issue and one block", log, err)
	}
}
