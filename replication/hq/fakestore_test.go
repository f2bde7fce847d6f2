package hq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
)

var _ replication.HoldStore = (*fakeStore)(nil)

// fakeStore is an in-memory HoldStore that honours the contract the way
// the node does: every call carries a Raft index, an index at or below
// the applied one changes nothing, and state plus index move together.
// It also records what the tests check: how many times each index had an
// effect (never more than once), how many replays it skipped, restores.
type fakeStore struct {
	mu    sync.Mutex // guards following
	state fakeState
	// effects counts effectful applies per index: any value > 1 is a
	// duplicate effect.
	effects  map[uint64]int
	skips    int // calls at or below the applied index
	restores int
	eventOps int // ApplyEventsAt calls with an effect (one per entry)
	// failAt makes the call at this index fail with errFakeIO (an I/O
	// failure, not a refusal).
	failAt uint64
}

var errFakeIO = fmt.Errorf("fake: disk on fire")

// fakeState is everything a snapshot carries.
type fakeState struct {
	Applied  uint64
	Events   map[string][]engine.RawEvent // origin → seq 1..n, in order
	Holds    map[string]fakeHold
	Balances map[string]engine.Points
}

type fakeHold struct {
	Hold     engine.Hold
	Status   engine.HoldStatus
	Decision engine.HoldDecision
}

func newFakeStore(balances map[string]engine.Points) *fakeStore {
	return &fakeStore{
		state: fakeState{
			Events:   map[string][]engine.RawEvent{},
			Holds:    map[string]fakeHold{},
			Balances: maps.Clone(balances),
		},
		effects: map[uint64]int{},
	}
}

// beginLocked reports whether index is new; it counts skips and failures.
func (s *fakeStore) beginLocked(index uint64) (bool, error) {
	if index == s.failAt && index != 0 {
		return false, errFakeIO
	}
	if index <= s.state.Applied {
		s.skips++
		return false, nil
	}
	return true, nil
}

func (s *fakeStore) commitLocked(index uint64) {
	s.state.Applied = index
	s.effects[index]++
}

func (s *fakeStore) AppliedIndex(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Applied, nil
}

func (s *fakeStore) vvLocked() engine.VersionVector {
	vv := engine.VersionVector{}
	for o, evs := range s.state.Events {
		vv[o] = uint64(len(evs))
	}
	return vv
}

func (s *fakeStore) ApplyEventsAt(_ context.Context, index uint64, events []engine.RawEvent) (engine.VersionVector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.beginLocked(index); !ok {
		return s.vvLocked(), err
	}
	next := s.vvLocked()
	var add []engine.RawEvent
	for _, e := range events {
		if string(e.Data) == "bad" {
			s.commitLocked(index)
			return nil, fmt.Errorf("fake: event %s/%d: %w", e.Origin, e.Seq, engine.ErrBadEvent)
		}
		switch {
		case e.Seq <= next[e.Origin]:
			continue // held
		case e.Seq == next[e.Origin]+1:
			next[e.Origin] = e.Seq
			add = append(add, engine.RawEvent{Origin: e.Origin, Seq: e.Seq, Data: slices.Clone(e.Data)})
		default:
			s.commitLocked(index)
			return nil, fmt.Errorf("fake: event %s/%d after %d: %w", e.Origin, e.Seq, next[e.Origin], engine.ErrEventGap)
		}
	}
	for _, e := range add {
		s.state.Events[e.Origin] = append(s.state.Events[e.Origin], e)
	}
	s.commitLocked(index)
	s.eventOps++
	return s.vvLocked(), nil
}

func (s *fakeStore) PlaceHold(_ context.Context, index uint64, h engine.Hold) (engine.HoldDecision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.beginLocked(index); !ok {
		return s.state.Holds[h.ID].Decision, err
	}
	defer s.commitLocked(index)
	if prev, ok := s.state.Holds[h.ID]; ok {
		d := prev.Decision
		d.Status = prev.Status
		return d, nil
	}
	avail := s.state.Balances[h.Member]
	for _, o := range s.state.Holds {
		if o.Hold.Member == h.Member && o.Status == engine.HoldPending {
			avail -= o.Hold.Points
		}
	}
	d := engine.HoldDecision{Granted: h.Points <= avail, Available: avail, Status: engine.HoldPending}
	if !d.Granted {
		d.Status = engine.HoldRefused
	}
	s.state.Holds[h.ID] = fakeHold{Hold: h, Status: d.Status, Decision: d}
	return d, nil
}

func (s *fakeStore) VoidHold(_ context.Context, index uint64, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.beginLocked(index); !ok {
		return err
	}
	defer s.commitLocked(index)
	if h, ok := s.state.Holds[id]; ok && h.Status == engine.HoldPending {
		h.Status = engine.HoldVoided
		s.state.Holds[id] = h
	}
	return nil
}

func (s *fakeStore) ExpireHolds(_ context.Context, index uint64, cutoff time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, err := s.beginLocked(index); !ok {
		return 0, err
	}
	defer s.commitLocked(index)
	n := 0
	for id, h := range s.state.Holds {
		if h.Status == engine.HoldPending && h.Hold.At.Before(cutoff) {
			h.Status = engine.HoldExpired
			s.state.Holds[id] = h
			n++
		}
	}
	return n, nil
}

func (s *fakeStore) WriteSnapshot(_ context.Context, w io.Writer) error {
	s.mu.Lock()
	b, err := json.Marshal(s.state)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (s *fakeStore) RestoreSnapshot(_ context.Context, r io.Reader) error {
	var st fakeState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("fake: restore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
	s.restores++
	return nil
}

// fingerprint is the replicated state (applied index excluded: a store
// restored from a snapshot may skip indexes that carried no command).
func (s *fakeStore) fingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Applied = 0
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// duplicateEffects lists indexes whose effect was applied more than once.
func (s *fakeStore) duplicateEffects() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d []uint64
	for i, n := range s.effects {
		if n > 1 {
			d = append(d, i)
		}
	}
	return d
}

func (s *fakeStore) events(origin string) []engine.RawEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.state.Events[origin])
}

func (s *fakeStore) counters() (skips, restores, eventOps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skips, s.restores, s.eventOps
}

func (s *fakeStore) hold(id string) (fakeHold, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.state.Holds[id]
	return h, ok
}
