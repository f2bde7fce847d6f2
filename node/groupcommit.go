package node

import (
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// groupCommitter commits write functions in groups without waiting for
// company: a caller that finds no commit running commits at once, alone
// or with whoever queued meanwhile; callers that arrive while a commit
// runs queue, and the first of them leads the next group as soon as the
// running one is durable. A lone sale pays one fsync and nothing more; a
// busy store shares one fsync among up to BatchMaxSize sales. (bbolt's
// DB.Batch instead makes the first caller wait MaxBatchDelay for others,
// which halves a lone till's throughput for nothing.)
//
// As with DB.Batch, a function may run more than once: when one function
// of a group fails, the transaction is rolled back, that caller gets its
// error and the rest run again as a new group. Functions must therefore
// reset whatever they capture.
type groupCommitter struct {
	db *bbolt.DB

	mu      sync.Mutex // guards following
	queue   []*groupCall
	running bool // a leader is committing
}

type groupCall struct {
	fn   func(*bbolt.Tx) error
	done chan error // receives the outcome, or errLead
}

// errLead tells a queued caller that it leads the next group.
var errLead = errors.New("node: lead the next group")

// commit runs fn in a write transaction committed with fsync before it
// returns, grouped with concurrent callers.
func (g *groupCommitter) commit(fn func(*bbolt.Tx) error) error {
	c := &groupCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		if err := <-c.done; err != errLead {
			return err
		}
	}
	return g.lead(c)
}

// lead commits the next group (which holds c), hands the lead to the
// first caller still queued, and returns c's outcome.
func (g *groupCommitter) lead(c *groupCall) error {
	g.mu.Lock()
	n := min(len(g.queue), BatchMaxSize)
	group := append([]*groupCall(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	g.run(group)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errLead // the next leader takes it from here
	} else {
		g.running = false
	}
	g.mu.Unlock()
	return <-c.done
}

// run commits group, retrying without each function that fails.
func (g *groupCommitter) run(group []*groupCall) {
	for len(group) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bbolt.Tx) error {
			for i, c := range group {
				if err := callSafely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range group {
				c.done <- err // nil, or the commit's own failure for all
			}
			return
		}
		group[failed].done <- err
		rest := make([]*groupCall, 0, len(group)-1)
		group = append(append(rest, group[:failed]...), group[failed+1:]...)
	}
}

// callSafely turns a panic in fn into an error for its caller alone, so
// one broken call cannot take the group's other callers with it.
func callSafely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("node: panic in a write transaction: %v", p)
		}
	}()
	return fn(tx)
}
