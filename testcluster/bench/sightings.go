package bench

import (
	"context"
	"sync"
	"time"

	"github.com/patron/patron/node"
)

// sightings records when each selling store's sales appear in the
// observer's log. watch owns the polling; expect and waitAll may be
// called meanwhile.
type sightings struct {
	index map[string]int // origin → records index
	base  []uint64       // per store: its own seq before its first sale

	mu   sync.Mutex    // guards following
	seen [][]time.Time // per store: when sale k (seq base+k+1) was seen
	want []int         // per store: sales to see; -1 until expect
	all  chan struct{} // closed when every wanted sale is seen
}

func newSightings(records []*sold) *sightings {
	s := &sightings{index: map[string]int{}, base: make([]uint64, len(records)),
		seen: make([][]time.Time, len(records)), want: make([]int, len(records)), all: make(chan struct{})}
	for i, r := range records {
		s.index[r.origin], s.base[i], s.want[i] = i, r.base, -1
	}
	return s
}

// watch polls the observer's version vector every pollEvery until ctx
// ends, stamping each newly held sale with the time of the poll that
// found it.
func (s *sightings) watch(ctx context.Context, observer *node.Node) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		vv, err := observer.VersionVector(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		now := time.Now()
		s.mu.Lock()
		for origin, seq := range vv {
			i, ok := s.index[origin]
			if !ok {
				continue
			}
			for uint64(len(s.seen[i])) < seq-min(seq, s.base[i]) {
				s.seen[i] = append(s.seen[i], now)
			}
		}
		s.checkLocked()
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// expect sets how many sales of each store the observer must see.
func (s *sightings) expect(records []*sold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range records {
		s.want[i] = len(r.done)
	}
	s.checkLocked()
}

// checkLocked closes all once every wanted sale is seen.
func (s *sightings) checkLocked() {
	select {
	case <-s.all:
		return
	default:
	}
	for i, w := range s.want {
		if w < 0 || len(s.seen[i]) < w {
			return
		}
	}
	close(s.all)
}

// waitAll waits until every expected sale is seen or ctx ends.
func (s *sightings) waitAll(ctx context.Context) {
	select {
	case <-s.all:
	case <-ctx.Done():
	}
}

// latencies returns each seen sale's visibility (seen at the observer
// less done at its store) and how many were not seen.
func (s *sightings) latencies(records []*sold) (Latencies, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Latencies
	unseen := 0
	for i, r := range records {
		for k, done := range r.done {
			if k >= len(s.seen[i]) {
				unseen++
				continue
			}
			// A poll can find an event between its commit and
			// CompleteSale returning: that sale was visible at once.
			out = append(out, max(s.seen[i][k].Sub(done), 0))
		}
	}
	return out, unseen
}
