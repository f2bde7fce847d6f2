package node

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
	"go.etcd.io/bbolt"
)

// Origin is this node's origin id: Config.Origin, by default its store
// and incarnation (see incarnation.go).
func (n *Node) Origin() string { return n.origin }

// Committed is signalled (non-blocking, capacity one) after every commit
// that appended events, local or received, so sync sessions push them (a
// store relays what it received from a peer on to HQ).
func (n *Node) Committed() <-chan struct{} { return n.committed }

func (n *Node) signalCommitted() {
	select {
	case n.committed <- struct{}{}:
	default:
	}
}

// VersionVector returns, per origin, the highest sequence number held
// with no gap below.
func (n *Node) VersionVector(ctx context.Context) (engine.VersionVector, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	var vv engine.VersionVector
	err := n.db.View(func(tx *bbolt.Tx) error {
		var err error
		vv, err = readVV(tx)
		return err
	})
	return vv, err
}

// EventsAfter returns up to limit events of origin with Seq > after, in
// Seq order, stopping before maxBytes of Data would be exceeded but
// always returning at least one event if there is one. limit ≤ 0 (or
// above MaxEventsPerRead) is MaxEventsPerRead; maxBytes ≤ 0 is no bound.
func (n *Node) EventsAfter(ctx context.Context, origin string, after uint64, limit, maxBytes int) ([]engine.RawEvent, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if limit <= 0 || limit > MaxEventsPerRead {
		limit = MaxEventsPerRead
	}
	var out []engine.RawEvent
	err := n.db.View(func(tx *bbolt.Tx) error {
		prefix := key(origin, "")
		size := 0
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(seqKey(origin, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			if maxBytes > 0 && len(out) > 0 && size+len(v) > maxBytes {
				break
			}
			seq, err := decodeUint64(k[len(prefix):])
			if err != nil {
				return err
			}
			size += len(v)
			out = append(out, engine.RawEvent{Origin: origin, Seq: seq, Data: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: events after: %w", err)
	}
	return out, nil
}

// ApplyEvents commits events received from another node in one
// group-committed transaction (fsynced) and returns the version vector
// after it. Events already held are skipped; an event that is not the
// next of its origin is refused with engine.ErrEventGap, a malformed one
// with engine.ErrBadEvent, and then nothing of the batch is applied.
// Subscribers hear of members whose balance or status changed.
func (n *Node) ApplyEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	batch, err := n.decodeBatch(events)
	if err != nil {
		return nil, err
	}
	var vv engine.VersionVector
	eff := newEffects()
	err = n.update(func(tx *bbolt.Tx) error {
		eff.reset()
		var err error
		vv, err = n.applyRemote(tx, batch, eff)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.afterCommit(eff)
	if err := n.caughtUpAt(vv); err != nil {
		n.log.Warn("clearing the catching-up mark failed; retried at the next batch", "err", err)
	}
	return vv, nil
}

// decoded is a received event, decoded, with its parsed programme.
type decoded struct {
	ev  engine.Event
	raw []byte
	p   *engine.Programme // programme.loaded only
}

// decodeBatch decodes and checks received events before any transaction
// (parsing a programme is slow).
func (n *Node) decodeBatch(events []engine.RawEvent) ([]decoded, error) {
	if len(events) > MaxApplyEvents {
		return nil, fmt.Errorf("node: apply %d events: %w", len(events), ErrTooManyEvents)
	}
	out := make([]decoded, 0, len(events))
	for _, r := range events {
		ev, err := engine.DecodeEvent(r.Data)
		if err != nil {
			return nil, fmt.Errorf("node: apply event %s/%d: %w", r.Origin, r.Seq, err)
		}
		if ev.Origin != r.Origin || ev.Seq != r.Seq {
			return nil, fmt.Errorf("node: apply event %s/%d: it is %s/%d: %w", r.Origin, r.Seq, ev.Origin, ev.Seq, engine.ErrBadEvent)
		}
		d := decoded{ev: ev, raw: r.Data}
		if ev.Kind == engine.EventProgrammeLoaded {
			if d.p, err = n.parseProgrammeEvent(ev); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func (n *Node) parseProgrammeEvent(ev engine.Event) (*engine.Programme, error) {
	p, err := programmeyaml.ParseProgramme(ev.Programme.Document, n.cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("node: apply event %s/%d: programme: %w: %w", ev.Origin, ev.Seq, engine.ErrBadEvent, err)
	}
	if p.Version != ev.Programme.Version {
		return nil, fmt.Errorf("node: apply event %s/%d: programme version %q is not %q: %w",
			ev.Origin, ev.Seq, p.Version, ev.Programme.Version, engine.ErrBadEvent)
	}
	return p, nil
}

// applyRemote applies received events in tx: held ones are skipped, a gap
// fails the whole transaction. It observes every applied event's HLC.
func (n *Node) applyRemote(tx *bbolt.Tx, batch []decoded, eff *effects) (engine.VersionVector, error) {
	vvb, meta := tx.Bucket(bucketVV), tx.Bucket(bucketMeta)
	held := map[string]uint64{}
	clock, err := decodeHLC(meta.Get(metaHLC))
	if err != nil {
		return nil, err
	}
	now := n.now()
	applied := 0
	for _, d := range batch {
		o := d.ev.Origin
		h, ok := held[o]
		if !ok {
			if h, err = decodeUint64(vvb.Get([]byte(o))); err != nil {
				return nil, err
			}
		}
		if d.ev.Seq <= h {
			if err := checkSameEvent(tx, d); err != nil {
				return nil, err
			}
			held[o] = h
			continue
		}
		if d.ev.Seq != h+1 {
			return nil, fmt.Errorf("node: apply event %s/%d: %d is the last held: %w", o, d.ev.Seq, h, engine.ErrEventGap)
		}
		if err := n.applyEvent(tx, d.ev, d.raw, d.p, eff); err != nil {
			return nil, err
		}
		held[o] = d.ev.Seq
		clock = clock.Observe(d.ev.HLC, now)
		applied++
	}
	for o, seq := range held {
		if err := vvb.Put([]byte(o), uint64Value(seq)); err != nil {
			return nil, fmt.Errorf("node: version vector: %w", err)
		}
	}
	if applied > 0 {
		if err := meta.Put(metaHLC, encodeHLC(clock)); err != nil {
			return nil, fmt.Errorf("node: hlc: %w", err)
		}
		eff.events += applied
		tx.OnCommit(n.signalCommitted)
	}
	return readVV(tx)
}

// checkSameEvent refuses a received event whose identity this node holds
// with other content (see engine.ErrEventConflict).
func checkSameEvent(tx *bbolt.Tx, d decoded) error {
	stored := tx.Bucket(bucketEvents).Get(seqKey(d.ev.Origin, d.ev.Seq))
	if stored == nil || bytes.Equal(stored, d.raw) || equivalentRedacted(stored, d.raw) {
		return nil // a retry (or nothing held to compare with; or one of them redacted by an erasure, erasure.go)
	}
	return fmt.Errorf("node: event %s/%d differs from the one held: %w: %w (was this data directory copied or restored without `patron restore`?)",
		d.ev.Origin, d.ev.Seq, engine.ErrEventConflict, engine.ErrBadEvent)
}

// emit appends a local event: it takes the next sequence number of this
// node's origin and the next HLC reading at ev.At, encodes it, and
// applies it in tx through the same fold as received events. It applies
// the decoded encoding, so local and received events take exactly one
// path. p is the parsed programme of a programme.loaded event.
func (n *Node) emit(tx *bbolt.Tx, ev engine.Event, p *engine.Programme, eff *effects) (engine.Event, error) {
	vvb, meta := tx.Bucket(bucketVV), tx.Bucket(bucketMeta)
	seq, err := decodeUint64(vvb.Get([]byte(n.origin)))
	if err != nil {
		return engine.Event{}, err
	}
	clock, err := decodeHLC(meta.Get(metaHLC))
	if err != nil {
		return engine.Event{}, err
	}
	ev.Origin, ev.Seq, ev.HLC = n.origin, seq+1, clock.Next(ev.At)
	if ev.Store == "" {
		ev.Store = n.cfg.Store
	}
	if err := n.checkChainFormat(ev); err != nil {
		return engine.Event{}, err
	}
	raw, err := engine.EncodeEvent(ev)
	if err != nil {
		return engine.Event{}, fmt.Errorf("node: %w", err)
	}
	stored, err := engine.DecodeEvent(raw)
	if err != nil {
		return engine.Event{}, fmt.Errorf("node: own event does not decode: %w", err)
	}
	if err := n.applyEvent(tx, stored, raw, p, eff); err != nil {
		return engine.Event{}, err
	}
	if err := vvb.Put([]byte(n.origin), uint64Value(ev.Seq)); err != nil {
		return engine.Event{}, fmt.Errorf("node: version vector: %w", err)
	}
	if err := meta.Put(metaHLC, encodeHLC(ev.HLC)); err != nil {
		return engine.Event{}, fmt.Errorf("node: hlc: %w", err)
	}
	eff.events++
	tx.OnCommit(n.signalCommitted)
	return stored, nil
}

// applyEvent stores an event and folds it into the materialized state.
func (n *Node) applyEvent(tx *bbolt.Tx, ev engine.Event, raw []byte, p *engine.Programme, eff *effects) error {
	if done, err := applyLifecycle(tx, &ev, &raw, eff); done || err != nil { // erasure.go, groups.go
		return err
	}
	if err := tx.Bucket(bucketEvents).Put(seqKey(ev.Origin, ev.Seq), raw); err != nil {
		return fmt.Errorf("node: store event: %w", err)
	}
	switch ev.Kind {
	case engine.EventSaleCompleted:
		return applySale(tx, ev, eff)
	case engine.EventSaleReturned:
		return applyReturn(tx, ev, eff)
	case engine.EventPointsExpired, engine.EventPointsExpiryWarned:
		return applyExpiry(tx, ev, eff) // lots.go
	case engine.EventOffersIssued:
		return applyOffersIssued(tx, ev, eff) // offers.go
	case engine.EventChainFormat:
		return n.applyChainFormat(tx, ev)
	case engine.EventProgrammeLoaded:
		if p == nil {
			var err error
			if p, err = n.parseProgrammeEvent(ev); err != nil {
				return err
			}
		}
		return applyProgramme(tx, ev, p, eff)
	default:
		return applyMember(tx, ev, eff)
	}
}

// applyMember folds a member event into the member's registers and keeps
// the card and e-mail indexes and the card log in step.
func applyMember(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	rec, _, err := loadMember(tx, ev.Member)
	if err != nil {
		return err
	}
	oldEmail := rec.State.Field(engine.FieldEmail)
	if err := logCards(tx, ev); err != nil {
		return err
	}
	if !rec.State.Apply(ev) {
		return nil
	}
	if err := putMember(tx, rec, oldEmail); err != nil {
		return err
	}
	if err := indexCards(tx, ev, &rec.State); err != nil {
		return err
	}
	switch ev.Kind {
	case engine.EventMemberConsents, engine.EventCardIssued, engine.EventCardBlocked, engine.EventCardUnblocked:
		eff.members[ev.Member] = true
	}
	return nil
}

// loadMember reads a member's record, or a new empty one.
func loadMember(tx *bbolt.Tx, id string) (*memberRecord, bool, error) {
	rec := &memberRecord{}
	found, err := getJSON(tx.Bucket(bucketMembers), []byte(id), rec)
	if err != nil {
		return nil, false, err
	}
	if !found {
		rec = &memberRecord{V: recordVersion, State: *engine.NewMemberState(id)}
	}
	return rec, found, nil
}

// putMember stores rec and its card and e-mail index entries; oldEmail is
// the e-mail it was indexed under before ("" for none). Index keys hold
// the member id, so two members claiming one card or e-mail (enrolled
// offline at two stores) are both indexed and the look-up is
// deterministic (see lookupIndex).
func putMember(tx *bbolt.Tx, rec *memberRecord, oldEmail string) error {
	if err := putJSON(tx.Bucket(bucketMembers), []byte(rec.State.ID), rec); err != nil {
		return err
	}
	id := rec.State.ID
	cards := tx.Bucket(bucketCards)
	for _, c := range rec.State.HeldCards() {
		if err := cards.Put(key(c.Number, id), nil); err != nil {
			return fmt.Errorf("node: card index: %w", err)
		}
	}
	emails := tx.Bucket(bucketEmails)
	email := rec.State.Field(engine.FieldEmail)
	if oldEmail != "" && !strings.EqualFold(oldEmail, email) {
		if err := emails.Delete(key(strings.ToLower(oldEmail), id)); err != nil {
			return fmt.Errorf("node: e-mail index: %w", err)
		}
	}
	if email != "" {
		if err := emails.Put(key(strings.ToLower(email), id), nil); err != nil {
			return fmt.Errorf("node: e-mail index: %w", err)
		}
	}
	return nil
}

// lookupIndex returns the member a card or e-mail index names: of several
// claimants, the smallest member id (the same on every node), or "".
func lookupIndex(b *bbolt.Bucket, value string) string {
	prefix := key(value, "")
	k, _ := b.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return ""
	}
	return string(k[len(prefix):])
}

// logCards appends the card maintenance log entries of an event, keyed by
// its time and identity so every node lists them alike.
func logCards(tx *bbolt.Tx, ev engine.Event) error {
	type logged struct {
		card                engine.CardChange
		action, typ, reason string
	}
	var items []logged
	switch ev.Kind {
	case engine.EventMemberEnrolled:
		for _, c := range ev.Enrolment.Cards {
			items = append(items, logged{c, "issue", c.Type, "enrol"})
		}
	case engine.EventCardIssued:
		items = append(items, logged{*ev.Card, "issue", ev.Card.Type, ""})
	case engine.EventCardBlocked:
		items = append(items, logged{*ev.Card, "block", "", ev.Card.Reason})
	case engine.EventCardUnblocked:
		items = append(items, logged{*ev.Card, "unblock", "", ev.Card.Reason}) // HQ's unblock says why (hqmembers.go)
	}
	b := tx.Bucket(bucketCardLog)
	for i, it := range items {
		k := append(timeKey(ev.At), 0)
		k = append(seqKey(string(k)+ev.Origin, ev.Seq), 0, byte(i))
		rec := cardLogRecord{V: recordVersion, At: ev.At, Store: ev.Store, Terminal: ev.Terminal, Member: ev.Member,
			Card: it.card.Number, Action: it.action, Type: it.typ, Reason: it.reason}
		if err := putJSON(b, k, rec); err != nil {
			return err
		}
		if err := indexCardLog(tx, ev.Store, k); err != nil {
			return err
		}
	}
	return nil
}

// applySale records a sale: its receipt (for returns anywhere), coupon
// uses, ledger entries and spend; it posts the HQ hold it names and
// reports an overdraft its redemption caused.
func applySale(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	s := ev.Sale
	if err := indexSale(tx, ev); err != nil {
		return err
	}
	if err := foldPatternSale(tx, ev); err != nil { // patterns.go
		return err
	}
	rb := tx.Bucket(bucketReceipts)
	if rb.Get([]byte(s.ReceiptID)) == nil {
		rec := receiptRecord{V: recordVersion, Member: ev.Member, Store: ev.Store, At: ev.At, Sale: *s}
		if err := putJSON(rb, []byte(s.ReceiptID), rec); err != nil {
			return err
		}
	}
	uses := tx.Bucket(bucketCouponUses)
	for _, code := range s.Evaluation.CouponsUsed {
		k := key(code, s.ReceiptID)
		if uses.Get(k) == nil {
			if err := uses.Put(k, []byte{useUsed}); err != nil {
				return fmt.Errorf("node: coupon use: %w", err)
			}
		}
	}
	if ev.Member == "" {
		return nil
	}
	balance, applied, err := applyEntries(tx, ev.Member, s.Entries)
	if err != nil {
		return err
	}
	if err := addSpend(tx, ev.Member, s.Day, s.Spend); err != nil {
		return err
	}
	if err := postHold(tx, s.HoldID); err != nil {
		return err
	}
	if len(applied) > 0 {
		eff.members[ev.Member] = true
	}
	return checkOverdraft(tx, ev, balance, applied, eff)
}

// applyReturn records a return: the record (keyed with its origin, so two
// stores' returns never collide), the coupon releases, entries and spend.
func applyReturn(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	r := ev.Return
	if err := indexReturn(tx, ev); err != nil {
		return err
	}
	if err := foldPatternReturn(tx, ev); err != nil { // patterns.go
		return err
	}
	rb := tx.Bucket(bucketReturns)
	k := key(r.ReceiptID, r.ReturnNo, ev.Origin)
	if rb.Get(k) == nil {
		rec := returnRecord{V: recordVersion, Member: ev.Member, Origin: ev.Origin, At: ev.At, Return: *r}
		if err := putJSON(rb, k, rec); err != nil {
			return err
		}
	}
	for _, code := range r.CouponsReleased {
		if err := tx.Bucket(bucketCouponUses).Put(key(code, r.ReceiptID), []byte{useReleased}); err != nil {
			return fmt.Errorf("node: coupon release: %w", err)
		}
	}
	_, applied, err := applyEntries(tx, ev.Member, r.Entries)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		eff.members[ev.Member] = true
	}
	return addSpend(tx, ev.Member, r.Day, r.Spend)
}

// applyEntries adds ledger entries not yet held (by id) and returns the
// balance after them and the entries added.
func applyEntries(tx *bbolt.Tx, member string, entries []engine.Entry) (engine.Points, []engine.Entry, error) {
	bb := tx.Bucket(bucketBalances)
	bal, err := decodeBalance(bb.Get([]byte(member)))
	if err != nil {
		return 0, nil, err
	}
	ids, lb := tx.Bucket(bucketEntryIDs), tx.Bucket(bucketLedger)
	var applied []engine.Entry
	for _, e := range entries {
		if ids.Get([]byte(e.ID)) != nil {
			continue
		}
		if err := ids.Put([]byte(e.ID), []byte(member)); err != nil {
			return 0, nil, fmt.Errorf("node: entry index: %w", err)
		}
		if err := putJSON(lb, ledgerKey(member, e), ledgerRecord{V: recordVersion, Entry: e}); err != nil {
			return 0, nil, err
		}
		if err := indexEntry(tx, member, e); err != nil {
			return 0, nil, err
		}
		bal.Balance += e.Points
		applied = append(applied, e)
	}
	if len(applied) > 0 {
		if bal.Balance, err = foldLots(tx, member, applied, bal.Balance); err != nil { // lots.go
			return 0, nil, err
		}
		if err := bb.Put([]byte(member), bal.encode()); err != nil {
			return 0, nil, fmt.Errorf("node: balance: %w", err)
		}
	}
	return bal.Balance, applied, nil
}

// ledgerKey is member \x00 time entry id: the ledger lists by time, ties
// by entry id, on every node alike.
func ledgerKey(member string, e engine.Entry) []byte {
	k := append(key(member, ""), timeKey(e.At)...)
	return append(k, e.ID...)
}

// applyProgramme stores a loaded programme, writes its coupons and makes
// it current if its event is the latest programme event held. Of two
// documents of one version, the earlier event's stands.
func applyProgramme(tx *bbolt.Tx, ev engine.Event, p *engine.Programme, eff *effects) error {
	st := ev.Stamp()
	pb := tx.Bucket(bucketProgrammes)
	var old programmeRecord
	found, err := getJSON(pb, []byte(p.Version), &old)
	if err != nil {
		return err
	}
	if !found || st.Compare(old.Stamp) < 0 {
		rec := programmeRecord{V: recordVersion, Stamp: st, Document: ev.Programme.Document}
		if err := putJSON(pb, []byte(p.Version), rec); err != nil {
			return err
		}
	}
	coupons, err := programmeCoupons(p)
	if err != nil {
		return err
	}
	if err := writeCoupons(tx, coupons, st); err != nil {
		return err
	}
	cur, err := currentStamp(tx)
	if err != nil {
		return err
	}
	eff.programmes = append(eff.programmes, loadedProgramme{p: p, stamp: st})
	if cur != nil && cur.Compare(st) >= 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	if err := putJSONValue(meta, metaProgrammeStamp, st); err != nil {
		return err
	}
	return meta.Put(metaProgramme, []byte(p.Version))
}

// currentStamp is the stamp of the current programme's event, or nil.
func currentStamp(tx *bbolt.Tx) (*engine.Stamp, error) {
	data := tx.Bucket(bucketMeta).Get(metaProgrammeStamp)
	if data == nil {
		return nil, nil
	}
	var st engine.Stamp
	if err := decodeStrict(data, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// effects is what a transaction did that matters after its commit.
type effects struct {
	members    map[string]bool // whose balance or status changed
	programmes []loadedProgramme
	overdrafts int
	events     int
}

// loadedProgramme is a programme an event made available.
type loadedProgramme struct {
	p     *engine.Programme
	stamp engine.Stamp
}

func newEffects() *effects { return &effects{members: map[string]bool{}} }

// reset clears what a re-run transaction function captured.
func (e *effects) reset() {
	clear(e.members)
	e.programmes, e.overdrafts, e.events = nil, 0, 0
}

// afterCommit installs programmes, counts and notifies subscribers of
// changed members, after a commit of received events.
func (n *Node) afterCommit(eff *effects) {
	n.installProgrammes(eff.programmes)
	n.countEffects(eff)
	if len(eff.members) == 0 {
		return
	}
	p := n.Programme()
	if p == nil {
		return
	}
	var changed []*Member
	now := n.now()
	err := n.db.View(func(tx *bbolt.Tx) error {
		for _, id := range sortedMembers(eff.members) {
			rec, found, err := loadMember(tx, id)
			if err != nil {
				return err
			}
			if !found || !rec.State.Enrolled {
				continue
			}
			m, err := n.view(tx, p, rec, now)
			if err != nil {
				return err
			}
			changed = append(changed, m)
		}
		return nil
	})
	if err != nil {
		// The events are committed; only the notification is lost, and
		// a till learns the balance at its next identify.
		n.log.Error("node: notify after apply", "err", err)
		return
	}
	for _, m := range changed {
		n.notify(m)
	}
}

// countEffects updates the metrics.
func (n *Node) countEffects(eff *effects) {
	if n.metrics == nil {
		return
	}
	n.metrics.events.Add(float64(eff.events))
	n.metrics.overdrafts.Add(float64(eff.overdrafts))
}

// installProgrammes makes parsed programmes available and the latest one
// current, after their commit.
func (n *Node) installProgrammes(progs []loadedProgramme) {
	if len(progs) == 0 {
		return
	}
	n.progMu.Lock()
	defer n.progMu.Unlock()
	for _, lp := range progs {
		if _, ok := n.programmes[lp.p.Version]; !ok {
			n.programmes[lp.p.Version] = lp.p
		}
		if n.current == nil || n.currentStamp.Compare(lp.stamp) < 0 {
			n.current, n.currentStamp = lp.p, lp.stamp
		}
	}
}

// readVV reads the version vector.
func readVV(tx *bbolt.Tx) (engine.VersionVector, error) {
	vv := engine.VersionVector{}
	err := tx.Bucket(bucketVV).ForEach(func(k, v []byte) error {
		seq, err := decodeUint64(v)
		if err != nil {
			return err
		}
		vv[string(k)] = seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: version vector: %w", err)
	}
	return vv, nil
}
