package node

import (
	"bytes"
	"context"
	"fmt"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
	"go.etcd.io/bbolt"
)

// PrepareProgrammeEvent validates a programme document (JSON or YAML) and
// builds the programme.loaded event LoadProgramme would append — this
// node's origin, the next sequence number, the next HLC reading — without
// committing it. HQ uses it: its leader proposes the event through Raft,
// so the FSM applies it on every HQ node (this one included) and stores
// pull it from there, exactly once each.
//
// Nothing is reserved: a second call before the event is applied gets the
// same sequence number, and of two such events the log keeps whichever is
// applied first and skips the other as already held. The caller therefore
// checks, after proposing, that the event stored at (origin, seq) is its
// own (see EventsAfter) and prepares again if not. The same document
// version with different content fails with ErrProgrammeConflict, as in
// LoadProgramme; validation problems are an *engine.ValidationError
// (wrapped).
func (n *Node) PrepareProgrammeEvent(ctx context.Context, data []byte) (engine.RawEvent, error) {
	if err := n.enter(ctx); err != nil {
		return engine.RawEvent{}, err
	}
	defer n.leave()
	p, err := programmeyaml.ParseProgramme(data, n.cfg.Zones)
	if err != nil {
		return engine.RawEvent{}, fmt.Errorf("node: prepare programme: %w", err)
	}
	if err := n.checkProgrammeFormat(p); err != nil {
		return engine.RawEvent{}, err
	}
	if _, err := programmeCoupons(p); err != nil {
		return engine.RawEvent{}, err
	}
	var raw engine.RawEvent
	err = n.db.View(func(tx *bbolt.Tx) error {
		var old programmeRecord
		found, err := getJSON(tx.Bucket(bucketProgrammes), []byte(p.Version), &old)
		if err != nil {
			return err
		}
		if found && !bytes.Equal(old.Document, data) {
			return fmt.Errorf("node: prepare programme %q: %w", p.Version, ErrProgrammeConflict)
		}
		raw, err = n.prepareIn(tx, engine.Event{Kind: engine.EventProgrammeLoaded,
			Programme: &engine.ProgrammeLoaded{Version: p.Version, Document: data}})
		return err
	})
	if err != nil {
		return engine.RawEvent{}, err
	}
	return raw, nil
}

// PrepareEvent stamps ev as this node's next event — origin, sequence
// number, HLC reading, store, and the time when ev.At is zero — validates
// it and encodes it, without committing it. It is how HQ originates
// events (card unblocks, erasures, greetings, expiries): the Raft leader
// prepares, proposes through Raft, and every HQ node's FSM applies the
// event. The same caveat as PrepareProgrammeEvent holds: nothing is
// reserved, so the proposer checks that the event stored at (origin,
// seq) is its own and prepares again if not (see node/hqevents).
func (n *Node) PrepareEvent(ctx context.Context, ev engine.Event) (engine.RawEvent, error) {
	if err := n.enter(ctx); err != nil {
		return engine.RawEvent{}, err
	}
	defer n.leave()
	var raw engine.RawEvent
	err := n.db.View(func(tx *bbolt.Tx) error {
		var err error
		raw, err = n.prepareIn(tx, ev)
		return err
	})
	return raw, err
}

// prepareIn stamps and encodes ev as the next event of this node's
// origin as tx sees it.
func (n *Node) prepareIn(tx *bbolt.Tx, ev engine.Event) (engine.RawEvent, error) {
	seq, err := decodeUint64(tx.Bucket(bucketVV).Get([]byte(n.origin)))
	if err != nil {
		return engine.RawEvent{}, err
	}
	clock, err := decodeHLC(tx.Bucket(bucketMeta).Get(metaHLC))
	if err != nil {
		return engine.RawEvent{}, err
	}
	if ev.At.IsZero() {
		ev.At = n.now()
	}
	ev.Origin, ev.Seq, ev.Store = n.origin, seq+1, n.cfg.Store
	ev.HLC = clock.Next(ev.At)
	if err := n.checkChainFormat(ev); err != nil {
		return engine.RawEvent{}, err
	}
	enc, err := engine.EncodeEvent(ev)
	if err != nil {
		return engine.RawEvent{}, fmt.Errorf("node: prepare %s: %w", ev.Kind, err)
	}
	return engine.RawEvent{Origin: ev.Origin, Seq: ev.Seq, Data: enc}, nil
}
