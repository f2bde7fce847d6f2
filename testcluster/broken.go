package testcluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
)

// Broken selects a deliberately broken store, the negative controls: a
// run with one of them must end with violations, or the checker is
// passing everything silently.
type Broken int

const (
	// NotBroken is the real node behind the tills.
	NotBroken Broken = iota
	// AckBeforeCommit answers sale.complete from an evaluation before the
	// node commits the sale, and commits it asynchronously, after
	// brokenCommitDelay; a crash meanwhile loses acknowledged sales.
	AckBeforeCommit
	// NoDedup submits a retried sale.complete again under a fresh
	// receipt_no, so a till's retry records the sale twice.
	NoDedup
)

func (b Broken) String() string {
	switch b {
	case NotBroken:
		return "not-broken"
	case AckBeforeCommit:
		return "ack-before-commit"
	case NoDedup:
		return "no-dedup"
	}
	return fmt.Sprintf("broken(%d)", int(b))
}

// brokenCommitDelay is how long AckBeforeCommit holds a sale before
// committing it: long enough for a crash right after the answers to catch
// some in the queue.
const brokenCommitDelay = 300 * time.Millisecond

// service wraps the store's node for the tills; the broken variants
// override sale.complete.
type service interface {
	posbridge.Service
	// crash drops whatever the wrapper holds in memory and stops its
	// goroutines; it is called when the store crashes.
	crash()
}

// realService is the node itself.
type realService struct{ *node.Node }

func (realService) crash() {}

// newService returns the till-facing service of a store's node.
func newService(b Broken, n *node.Node, store string) service {
	switch b {
	case AckBeforeCommit:
		s := &ackEarly{Node: n, store: store, queue: make(chan pendingSale, 1024), stop: make(chan struct{})}
		s.wg.Add(1)
		go s.commitLoop()
		return s
	case NoDedup:
		return &noDedup{Node: n, seen: map[string]int{}}
	}
	return realService{n}
}

// ackEarly is the AckBeforeCommit control.
type ackEarly struct {
	*node.Node
	store string
	queue chan pendingSale
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

type pendingSale struct {
	terminal string
	req      node.SaleRequest
	due      time.Time
}

// CompleteSale answers at once from an evaluation and queues the commit.
func (s *ackEarly) CompleteSale(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error) {
	ev, err := s.Node.Evaluate(ctx, terminal, node.EvaluateRequest{Basket: req.Basket, Member: req.Member, Redeem: req.Redeem})
	if err != nil {
		return nil, err
	}
	rc := &node.Receipt{ReceiptID: s.store + "-" + terminal + "-" + req.ReceiptNo, Totals: ev.Totals,
		ProgrammeVersion: ev.ProgrammeVersion}
	if req.Member != nil {
		rc.MemberID = req.Member.Mobile
		rc.Points.Earned = ev.Points.Earn
		if req.Redeem != nil {
			rc.Points.Redeemed = req.Redeem.Points
		}
	}
	select {
	case s.queue <- pendingSale{terminal: terminal, req: req, due: time.Now().Add(brokenCommitDelay)}:
	case <-s.stop:
		return nil, node.ErrClosed
	}
	return rc, nil
}

func (s *ackEarly) commitLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case p := <-s.queue:
			t := time.NewTimer(time.Until(p.due))
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			_, _ = s.Node.CompleteSale(context.Background(), p.terminal, p.req) // the broken part: nobody hears of a failure
		}
	}
}

func (s *ackEarly) crash() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// noDedup is the NoDedup control.
type noDedup struct {
	*node.Node
	mu   sync.Mutex // guards following
	seen map[string]int
}

// CompleteSale passes a first request through and re-submits a retry
// under a fresh receipt_no.
func (s *noDedup) CompleteSale(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error) {
	k := terminal + "\x00" + req.ReceiptNo
	s.mu.Lock()
	n := s.seen[k]
	s.seen[k] = n + 1
	s.mu.Unlock()
	if n > 0 {
		req.ReceiptNo = fmt.Sprintf("%sd%d", req.ReceiptNo, n)
	}
	return s.Node.CompleteSale(ctx, terminal, req)
}

func (s *noDedup) crash() {}
