package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Greetings (docs/tiers-and-greetings.md). The HQ Raft leader greets
// members on their birthday and anniversary: RunGreetings emits
// member.greeted through Raft, then queues the text in this node's own
// outbox. Every node applies the event (the other HQ nodes, every
// store), and none of them queues anything for it: the text is queued
// only by the call that committed the event, so exactly one node sends
// it. The fold records the year greeted per kind, so no leader — this
// one on a rerun, or the next after a failover — greets a member twice
// in a year.
//
// Delivery is therefore at most once: a leader that dies between the
// Raft commit and the outbox write leaves a greeting recorded and never
// sent. A birthday text is worth less than a text sent twice (a
// duplicate greeting is visible and looks broken; a missing one goes
// unnoticed), and at-least-once would need a second replicated record
// of "queued" that a new leader could act on — more Raft traffic per
// greeting for a window of milliseconds.

// GreetingEvery is how often the HQ leader looks for greetings due. A
// greeting is due all day (and GreetingCatchUpDays after), so hourly
// runs greet early in the day and survive an outage of several hours.
const GreetingEvery = time.Hour

// errNoOutbox refuses greetings on a node without an SMS outbox:
// recording a greeting that cannot be sent would use it up.
var errNoOutbox = errors.New("node: greetings need an SMS outbox (Config.SMS)")

// SendsSMS reports whether the node has an SMS outbox (Config.SMS set).
func (n *Node) SendsSMS() bool { return n.outbox != nil }

// GreetingRun reports what one run of the greeting job did.
type GreetingRun struct {
	Due     int // greetings due to members with the marketing consent
	Emitted int // member.greeted events committed
	Queued  int // texts queued in this node's outbox
}

// greetingDue is one greeting due to a member.
type greetingDue struct {
	member string
	g      engine.Greeting
}

// RunGreetings is the HQ leader's greeting job: for every enrolled member
// with the sms_marketing consent whose birthday or anniversary falls on
// today in the programme's zone (or on the GreetingCatchUpDays before)
// and who was not greeted for it that year, it emits member.greeted and
// then queues the text in this node's outbox. Each greeting is checked
// again just before it is emitted. An emit error ends the run: its
// outcome is unknown, and if the event committed the member counts as
// greeted and gets no text (at most once). A member without the consent
// is not recorded as greeted, so one who gives it later that day is
// still greeted. A node without an outbox refuses to run; in a chain
// whose upgrade to the format that carries member.greeted is not
// finalized (format.go) it does nothing.
func (n *Node) RunGreetings(ctx context.Context, now time.Time, emit EmitFunc) (GreetingRun, error) {
	var run GreetingRun
	if n.outbox == nil {
		return run, errNoOutbox
	}
	p := n.Programme()
	if p == nil || !n.CanWrite(engine.EventMemberGreeted) {
		return run, nil // no programme, or a chain not yet upgraded (format.go)
	}
	due, err := n.greetingsDue(ctx, p, now, "")
	if err != nil {
		return run, err
	}
	run.Due = len(due)
	for _, d := range due {
		still, err := n.greetingsDue(ctx, p, now, d.member) // again: the fold may have moved
		if err != nil {
			return run, err
		}
		if !containsGreeting(still, d) {
			continue
		}
		g := d.g
		ev, err := emit(ctx, engine.Event{Kind: engine.EventMemberGreeted, Member: d.member, At: now, Greeting: &g})
		if err != nil {
			return run, fmt.Errorf("node: greet %s (%s %d): %w", d.member, g.Kind, g.Year, err)
		}
		run.Emitted++
		queued, err := n.QueueEventMessage(ctx, ev.ID())
		if err != nil {
			return run, err
		}
		if queued {
			run.Queued++
		}
	}
	return run, nil
}

// greetingsDue lists the greetings due at now to every member, or to
// member alone when it is not "", in one read transaction.
func (n *Node) greetingsDue(ctx context.Context, p *engine.Programme, now time.Time, member string) ([]greetingDue, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	var out []greetingDue
	check := func(rec *memberRecord) error {
		if !rec.State.ConsentValues()[ConsentSMSMarketing] {
			return nil
		}
		for _, g := range p.GreetingsDue(&rec.State, now) {
			out = append(out, greetingDue{member: rec.State.ID, g: g})
		}
		return nil
	}
	err := n.db.View(func(tx *bbolt.Tx) error {
		if member == "" {
			return forEachMember(tx, check)
		}
		rec, found, err := loadMember(tx, member)
		if err != nil || !found {
			return err
		}
		return check(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("node: greetings due: %w", err)
	}
	return out, nil
}

func containsGreeting(list []greetingDue, d greetingDue) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}

// QueueEventMessage queues, in this node's outbox, the text an event this
// node holds calls for: a greeting (member.greeted) or a tier change
// (tier.changed). It is how the HQ node whose emit committed such an
// event sends its text, and only that node calls it: applying an event
// never queues a text. The message id is the event's identity and kind
// ("<origin>/<seq>/<kind>"), so a second call queues nothing. It
// reports whether a text was queued: not without an outbox, for another
// kind of event, without the member's marketing consent (both kinds are
// marketing), or when queued before. The write is fsynced before it
// returns. An event not held is an error.
func (n *Node) QueueEventMessage(ctx context.Context, id engine.EventID) (bool, error) {
	if err := n.enter(ctx); err != nil {
		return false, err
	}
	defer n.leave()
	if n.outbox == nil {
		return false, nil
	}
	p, err := n.currentProgramme()
	if err != nil {
		return false, err
	}
	var queued bool
	err = n.update(func(tx *bbolt.Tx) error {
		queued = false
		raw := tx.Bucket(bucketEvents).Get(seqKey(id.Origin, id.Seq))
		if raw == nil {
			return fmt.Errorf("node: queue the text of event %s/%d: not held here", id.Origin, id.Seq)
		}
		ev, err := engine.DecodeEvent(raw)
		if err != nil {
			return fmt.Errorf("node: stored event %s/%d: %w: %w", id.Origin, id.Seq, ErrCorrupt, err)
		}
		queued, err = n.queueEventMessageTx(tx, p, ev, n.now())
		return err
	})
	return queued, err
}

// queueEventMessageTx queues the text of a greeting or tier change event
// in tx (a no-op for other events and without an outbox): rendered in
// the member's language with the current programme's templates, id
// "<origin>/<seq>/<kind>". It reports whether it queued one now.
func (n *Node) queueEventMessageTx(tx *bbolt.Tx, p *engine.Programme, ev engine.Event, now time.Time) (bool, error) {
	if n.outbox == nil {
		return false, nil
	}
	var kind string
	var data engine.MessageData
	switch {
	case ev.Kind == engine.EventMemberGreeted && ev.Greeting != nil:
		kind = ev.Greeting.Kind // birthday, anniversary: also the message kinds
	case ev.Kind == engine.EventTierChanged && ev.Tier != nil && ev.Tier.To != "":
		kind, data.Tier = engine.MessageTierChanged, ev.Tier.To
	default:
		return false, nil
	}
	id := fmt.Sprintf("%s/%d/%s", ev.Origin, ev.Seq, kind)
	box := tx.Bucket(bucketOutbox)
	if box.Get([]byte(id)) != nil {
		return false, nil // queued before
	}
	rec, found, err := loadMember(tx, ev.Member)
	if err != nil || !found || !rec.State.Enrolled {
		return false, err
	}
	data.FirstName = rec.State.Field(engine.FieldFirstName)
	lang := engine.MessageLanguage(p, kind, rec.State.Field(engine.FieldLanguage))
	text, err := engine.RenderMessage(p, kind, lang, data)
	if err != nil {
		return false, fmt.Errorf("node: %w", err)
	}
	if err := n.queueTx(tx, outMessage{id: id, kind: kind, member: ev.Member, text: text}, now); err != nil {
		return false, err
	}
	return box.Get([]byte(id)) != nil, nil // absent: no consent
}
