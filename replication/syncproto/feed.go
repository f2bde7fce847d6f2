package syncproto

import (
	"context"
	"sync"

	"github.com/patron/patron/replication"
)

// Feed fans the commit signal of one node's log out to every session of
// that node. EventLog.Committed has capacity one, so only one reader
// would see each signal; Feed is that one reader. Sessions also Notify
// the feed after they apply a batch, so events received from one peer are
// pushed to the others (a store relays to HQ, HQ to every store) even if
// the log signals only local commits.
//
// A Client and a Server of the same node share one Feed, which the caller
// runs; a Client or Server given none makes and runs its own.
type Feed struct {
	log replication.EventLog

	mu   sync.Mutex // guards following
	subs map[chan struct{}]struct{}
}

// NewFeed returns a Feed for log. Call Run to forward its commits.
func NewFeed(log replication.EventLog) *Feed {
	return &Feed{log: log, subs: make(map[chan struct{}]struct{})}
}

// Run forwards the log's commit signal to every subscriber until ctx is
// done; it returns nil then.
func (f *Feed) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.log.Committed():
			f.Notify()
		}
	}
}

// Notify signals every subscriber without blocking: each has a buffer of
// one, and a pending signal already says "look again".
func (f *Feed) Notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a channel signalled after commits, and the function
// that ends the subscription.
func (f *Feed) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}
