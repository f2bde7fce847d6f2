package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Erasure on request (docs/erasure.md). A member.erased event names a
// pseudonym and the subject of the erased member id (a hash,
// engine.ErasureSubject). Applying it, a node
//
//   - records a tombstone, subject → pseudonym (bucketErasures);
//   - finds the member's events through bucketMemberEvents (subject ‖
//     origin ‖ seq, written for every event that names a member) and
//     rewrites each in place redacted for the pseudonym
//     (engine.RedactEvent), so the events bucket — what the node keeps and
//     sends to other nodes — no longer holds the person's data;
//   - moves what the fold keyed by the member id to the pseudonym: the
//     ledger, entry ids, balance, spend, receipts, returns, card log,
//     and replays the pseudonym's points lots from the moved ledger;
//     deletes the member record and its card and e-mail index entries;
//     drops the report rows of the member's cards;
//   - drops what is local and personal: queued and sent texts, OTPs, the
//     answers kept for till replays that show the member; moves offline
//     spending, overdraft reports and HQ holds to the pseudonym.
//
// Every event that names a tombstoned id later — a sale an offline store
// made before it heard of the erasure — is redacted before it is stored
// and applied (routeErased), so it lands on the pseudonym and cannot
// bring a profile back. The result depends only on the set of events
// held: a node that saw the erasure first and one that saw the member's
// events first end with the same bytes. Two erasures of one member (two
// admins at once) resolve to the earlier one's pseudonym on every node.

// The erasure and group buckets. They are created on first use (by the
// first write transaction that applies an event), not by the schema: a
// file without them has neither tombstones nor groups, and the member
// event index is built then from the events held (buildMemberEventIndex).
var (
	bucketErasures     = []byte("erasures")      // fold: subject (32 bytes) → erasureRecord
	bucketMemberEvents = []byte("member_events") // derived: subject of the event's member (32 bytes) ‖ origin \x00 seq → empty
	bucketGroups       = []byte("groups")        // fold: group id → groupRecord (groups.go)
)

// maxErasureHops bounds the tombstone chain routeErased follows (a
// pseudonym that lost to an earlier erasure points to the winner's):
// more than a handful of erasures of one member at once is a bug.
const maxErasureHops = 8

// maxMemberLives bounds the ids liveMemberID tries for one mobile.
const maxMemberLives = 1000

// erasureRecord is a tombstone: the member whose subject keys it now
// lives (its ledger) under Pseudonym.
type erasureRecord struct {
	V         int          `json:"v"`
	Pseudonym string       `json:"pseudonym"`
	Stamp     engine.Stamp `json:"stamp"` // of the erasure that decided it
	Event     string       `json:"event"` // "origin/seq" of that erasure
}

func (r erasureRecord) version() int { return r.V }

// applyLifecycle is applyEvent's first step. It makes the buckets of
// this file and groups.go on first use; it applies a group definition or
// an erasure itself (done); for any other event naming a member it
// redacts the event when that member is erased (ev and raw are replaced:
// the redacted form is what is stored and folded) and indexes it by the
// subject of its member.
func applyLifecycle(tx *bbolt.Tx, ev *engine.Event, raw *[]byte, eff *effects) (done bool, err error) {
	if err := ensureLifecycleBuckets(tx); err != nil {
		return false, err
	}
	switch ev.Kind {
	case engine.EventGroupDefined:
		return true, storeAnd(tx, *ev, *raw, func() error { return applyGroupDefined(tx, *ev) })
	case engine.EventMemberErased:
		return true, storeAnd(tx, *ev, *raw, func() error { return applyErasure(tx, *ev, eff) })
	}
	if ev.Member == "" {
		return false, nil
	}
	to, erased, err := erasedTo(tx, ev.Member)
	if err != nil {
		return false, err
	}
	if erased {
		r := engine.RedactEvent(*ev, to)
		data, err := engine.EncodeEvent(r)
		if err != nil {
			return false, fmt.Errorf("node: redact event %s/%d: %w", ev.Origin, ev.Seq, err)
		}
		*ev, *raw = r, data
	}
	return false, indexMemberEvent(tx, ev.Member, ev.Origin, ev.Seq)
}

// storeAnd stores an event and then applies it with apply.
func storeAnd(tx *bbolt.Tx, ev engine.Event, raw []byte, apply func() error) error {
	if err := tx.Bucket(bucketEvents).Put(seqKey(ev.Origin, ev.Seq), raw); err != nil {
		return fmt.Errorf("node: store event: %w", err)
	}
	return apply()
}

// ensureLifecycleBuckets creates the buckets of this file and groups.go
// if the file lacks them, building the member event index from the
// events held.
func ensureLifecycleBuckets(tx *bbolt.Tx) error {
	if tx.Bucket(bucketMemberEvents) != nil {
		return nil
	}
	for _, name := range [][]byte{bucketErasures, bucketGroups, bucketMemberEvents} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("node: create bucket %s: %w", name, err)
		}
	}
	return buildMemberEventIndex(tx)
}

// buildMemberEventIndex indexes every event held that names a member.
func buildMemberEventIndex(tx *bbolt.Tx) error {
	return tx.Bucket(bucketEvents).ForEach(func(_, v []byte) error {
		ev, err := engine.DecodeEvent(v)
		if err != nil {
			return fmt.Errorf("node: index member events: %w: %w", ErrCorrupt, err)
		}
		if ev.Member == "" || ev.Kind == engine.EventMemberErased {
			return nil
		}
		return indexMemberEvent(tx, ev.Member, ev.Origin, ev.Seq)
	})
}

// memberEventKey is the index key of an event of member.
func memberEventKey(member, origin string, seq uint64) []byte {
	s := engine.ErasureSubjectKey(member)
	return seqKey(string(s[:])+origin, seq)
}

func indexMemberEvent(tx *bbolt.Tx, member, origin string, seq uint64) error {
	if err := tx.Bucket(bucketMemberEvents).Put(memberEventKey(member, origin, seq), nil); err != nil {
		return fmt.Errorf("node: member event index: %w", err)
	}
	return nil
}

// tombstone reads the tombstone of a subject, or nil.
func tombstone(tx *bbolt.Tx, subject [sha256.Size]byte) (*erasureRecord, error) {
	b := tx.Bucket(bucketErasures)
	if b == nil {
		return nil, nil
	}
	var rec erasureRecord
	found, err := getJSON(b, subject[:], &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

// erasedTo reports whether member id is erased and the pseudonym its
// data lives under now (following a pseudonym that lost to an earlier
// erasure to the winner's).
func erasedTo(tx *bbolt.Tx, id string) (string, bool, error) {
	to, erased := id, false
	for range maxErasureHops {
		t, err := tombstone(tx, engine.ErasureSubjectKey(to))
		if err != nil {
			return "", false, err
		}
		if t == nil {
			return to, erased, nil
		}
		to, erased = t.Pseudonym, true
	}
	return "", false, fmt.Errorf("node: tombstones of %s chain more than %d times: %w", engine.ErasureSubject(id), maxErasureHops, ErrCorrupt)
}

// liveMemberID returns the id a mobile's member has now on this node:
// the mobile itself, or after erasures the first of its later lives
// ("<mobile>~2", ...) that is not erased (engine.NextMemberLife).
// Identify and enrolment go through it, so a mobile erased here can be
// enrolled again as a new member and is never found as the old one.
func liveMemberID(tx *bbolt.Tx, id string) (string, error) {
	for range maxMemberLives {
		t, err := tombstone(tx, engine.ErasureSubjectKey(id))
		if err != nil || t == nil {
			return id, err
		}
		id = engine.NextMemberLife(id)
	}
	return "", fmt.Errorf("node: %s was erased more than %d times", engine.MemberMobile(id), maxMemberLives)
}

// liveID is liveMemberID for callers without an error path: a storage
// failure reading the tombstone leaves id as it is (the member is then
// looked up, and not found, under its erased id).
func liveID(tx *bbolt.Tx, id string) string {
	if live, err := liveMemberID(tx, id); err == nil {
		return live
	}
	return id
}

// applyErasure applies a member.erased event (stored already).
func applyErasure(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	subject, err := subjectKey(ev.Erasure.Subject)
	if err != nil {
		return err
	}
	p, st := ev.Member, ev.Stamp()
	rec := erasureRecord{V: recordVersion, Pseudonym: p, Stamp: st, Event: fmt.Sprintf("%s/%d", ev.Origin, ev.Seq)}
	old, err := tombstone(tx, subject)
	if err != nil {
		return err
	}
	winner := p
	switch {
	case old == nil:
		if err := putJSON(tx.Bucket(bucketErasures), subject[:], rec); err != nil {
			return err
		}
	case old.Pseudonym == p:
		return nil
	case st.Compare(old.Stamp) < 0:
		// This erasure is the earlier of two: its pseudonym wins, and
		// the other's data (already moved there) follows.
		if err := putJSON(tx.Bucket(bucketErasures), subject[:], rec); err != nil {
			return err
		}
		if err := supersede(tx, old.Pseudonym, rec); err != nil {
			return err
		}
	default:
		winner = old.Pseudonym
		if err := supersede(tx, p, *old); err != nil {
			return err
		}
	}
	if err := eraseSubject(tx, subject, winner, eff); err != nil {
		return err
	}
	if winner != p {
		return nil
	}
	return applyMember(tx, ev, eff) // the pseudonym's erasure register
}

// supersede points a losing pseudonym at the winner's tombstone and
// moves what it holds there.
func supersede(tx *bbolt.Tx, loser string, winner erasureRecord) error {
	s := engine.ErasureSubjectKey(loser)
	if err := putJSON(tx.Bucket(bucketErasures), s[:], winner); err != nil {
		return err
	}
	if err := eraseSubject(tx, s, winner.Pseudonym, nil); err != nil {
		return err
	}
	return moveMember(tx, loser, winner.Pseudonym)
}

// eraseSubject redacts the held events of the member whose subject is
// given, for pseudonym to, folds them into the pseudonym's registers
// (what a pseudonym folds: tier, expiry and greeting registers, never
// anything personal), and moves the member's data there. So the
// pseudonym's record is what a node that received only the redacted
// events folded. A subject with no events here is a member this node
// never heard of: only the tombstone is kept, for the events still to
// come.
func eraseSubject(tx *bbolt.Tx, subject [sha256.Size]byte, to string, eff *effects) error {
	var keys [][]byte
	c := tx.Bucket(bucketMemberEvents).Cursor()
	for k, _ := c.Seek(subject[:]); k != nil && bytes.HasPrefix(k, subject[:]); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	anon, _, err := loadMember(tx, to)
	if err != nil {
		return err
	}
	from, changed := "", false
	for _, k := range keys {
		ev, err := redactHeld(tx, k[sha256.Size:], to)
		if err != nil {
			return err
		}
		from, changed = ev.Member, anon.State.Apply(engine.RedactEvent(ev, to)) || changed
		if err := tx.Bucket(bucketMemberEvents).Delete(k); err != nil {
			return fmt.Errorf("node: member event index: %w", err)
		}
	}
	if changed {
		if err := putJSON(tx.Bucket(bucketMembers), []byte(to), anon); err != nil {
			return err
		}
	}
	if from == "" || from == to {
		return nil
	}
	if eff != nil {
		delete(eff.members, from)
	}
	return moveMember(tx, from, to)
}

// redactHeld rewrites the held event at eventKey (origin \x00 seq)
// redacted for pseudonym to, with what the fold derived from it, and
// returns the event as it was held.
func redactHeld(tx *bbolt.Tx, eventKey []byte, to string) (engine.Event, error) {
	raw := tx.Bucket(bucketEvents).Get(eventKey)
	if raw == nil {
		return engine.Event{}, fmt.Errorf("node: member event index names %q, which is not held: %w", eventKey, ErrCorrupt)
	}
	ev, err := engine.DecodeEvent(raw)
	if err != nil {
		return engine.Event{}, fmt.Errorf("node: redact held event: %w: %w", ErrCorrupt, err)
	}
	r := engine.RedactEvent(ev, to)
	data, err := engine.EncodeEvent(r)
	if err != nil {
		return engine.Event{}, fmt.Errorf("node: redact event %s/%d: %w", ev.Origin, ev.Seq, err)
	}
	if err := tx.Bucket(bucketEvents).Put(eventKey, data); err != nil {
		return engine.Event{}, fmt.Errorf("node: store redacted event: %w", err)
	}
	if err := indexMemberEvent(tx, to, ev.Origin, ev.Seq); err != nil {
		return engine.Event{}, err
	}
	return ev, rekeyDerived(tx, ev, r)
}

// subjectKey decodes a subject's hex.
func subjectKey(s string) ([sha256.Size]byte, error) {
	var k [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return k, fmt.Errorf("node: erasure subject %q: %w", s, engine.ErrBadEvent)
	}
	copy(k[:], b)
	return k, nil
}

// equivalentRedacted reports whether two encodings of one event identity
// are the same event, one or both redacted by an erasure (a node that
// erased a member may send its events again to one that has not yet,
// and the other way round). They are when both redact alike for the
// pseudonym one of them names.
func equivalentRedacted(held, received []byte) bool {
	a, errA := engine.DecodeEvent(held)
	b, errB := engine.DecodeEvent(received)
	if errA != nil || errB != nil || a.Member == "" || b.Member == "" || a.ID() != b.ID() {
		return false
	}
	p := a.Member
	if !engine.IsPseudonym(p) {
		p = b.Member
	}
	if !engine.IsPseudonym(p) {
		return false
	}
	ra, errA := engine.EncodeEvent(engine.RedactEvent(a, p))
	rb, errB := engine.EncodeEvent(engine.RedactEvent(b, p))
	return errA == nil && errB == nil && bytes.Equal(ra, rb)
}
