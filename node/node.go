package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
	"go.etcd.io/bbolt"
)

// Node is one running Patron node. Its methods are safe for concurrent
// use. Open it with Open and release it with Close.
type Node struct {
	cfg     Config
	log     *slog.Logger
	db      *bbolt.DB
	metrics *metrics // nil without Config.Metrics

	// commit runs a write transaction: db.Batch (group commit), or
	// db.Update in the one-fsync-per-call benchmark baseline.
	commit func(func(*bbolt.Tx) error) error

	mu       sync.Mutex // guards following
	closed   bool
	inflight sync.WaitGroup

	loadMu sync.Mutex // serialises LoadProgramme

	progMu     sync.RWMutex // guards following
	current    *engine.Programme
	programmes map[string]*engine.Programme // parsed programmes by version

	termMu    sync.RWMutex      // guards following
	terminals map[string][]byte // terminal id → sha256(token)

	subMu   sync.Mutex // guards following
	subs    map[uint64]func(MemberChange)
	nextSub uint64

	batchMu    sync.Mutex // guards following; see countBatch
	batchTx    *bbolt.Tx
	batchCount int
}

// Open opens (creating if needed) the data file at cfg.Path and returns a
// ready Node. A data file of a newer schema version is refused with a
// *SchemaVersionError.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("node: open: %w", err)
	}
	cfg = cfg.withDefaults()
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: OpenTimeout, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("node: open %s: %w", cfg.Path, err)
	}
	db.MaxBatchDelay = BatchMaxDelay
	db.MaxBatchSize = BatchMaxSize
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger,
		db:         db,
		commit:     commitFunc(db, cfg.CommitEach),
		programmes: make(map[string]*engine.Programme),
		terminals:  make(map[string][]byte),
		subs:       make(map[uint64]func(MemberChange)),
	}
	if err := n.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics)
		if err != nil {
			return nil, errors.Join(err, db.Close())
		}
		n.metrics = m
	}
	return n, nil
}

// load checks the schema and reads the current programme and the
// terminals into memory.
func (n *Node) load() error {
	if err := n.db.Update(initSchema); err != nil {
		return err
	}
	var raw []byte
	err := n.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaProgramme); v != nil {
			data := tx.Bucket(bucketProgrammes).Get(v)
			if len(data) < 1 || data[0] != binaryVersion {
				return fmt.Errorf("node: programme %q: %w", v, ErrCorrupt)
			}
			raw = append([]byte(nil), data[1:]...)
		}
		return tx.Bucket(bucketTerminals).ForEach(func(k, v []byte) error {
			if len(v) != 33 || v[0] != binaryVersion {
				return fmt.Errorf("node: terminal %q: %w", k, ErrCorrupt)
			}
			n.terminals[string(k)] = append([]byte(nil), v[1:]...)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if raw != nil {
		p, err := programmeyaml.ParseProgramme(raw, n.cfg.Zones)
		if err != nil {
			return fmt.Errorf("node: stored programme: %w", err)
		}
		n.current = p
		n.programmes[p.Version] = p
	}
	return nil
}

// Close waits for in-flight calls, then closes the data file. Calls after
// Close return ErrClosed. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.inflight.Wait()
	if err := n.db.Close(); err != nil {
		return fmt.Errorf("node: close: %w", err)
	}
	return nil
}

// enter registers an in-flight call; the caller must call n.leave.
func (n *Node) enter(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.inflight.Add(1)
	return nil
}

func (n *Node) leave() { n.inflight.Done() }

// now is the node's clock in UTC.
func (n *Node) now() time.Time { return n.cfg.Now().UTC() }

// update runs fn in a write transaction committed (with fsync) before it
// returns, grouped with concurrent calls. fn may run more than once: it
// must reset whatever it captures. A business refusal decided in fn is
// captured by fn and fn returns nil, so it does not fail the group.
// Once handed over, the write completes even if ctx ends.
func (n *Node) update(fn func(*bbolt.Tx) error) error {
	return n.commit(func(tx *bbolt.Tx) error {
		n.countBatch(tx)
		return fn(tx)
	})
}

// countBatch counts the calls sharing one write transaction and observes
// the count when it commits. Only the writer runs it, so batchMu is never
// contended; it exists for the race detector.
func (n *Node) countBatch(tx *bbolt.Tx) {
	if n.metrics == nil {
		return
	}
	n.batchMu.Lock()
	defer n.batchMu.Unlock()
	if n.batchTx != tx {
		n.batchTx, n.batchCount = tx, 0
		tx.OnCommit(func() {
			n.batchMu.Lock()
			c := n.batchCount
			n.batchTx, n.batchCount = nil, 0
			n.batchMu.Unlock()
			n.metrics.batchSize.Observe(float64(c))
		})
	}
	n.batchCount++
}

// Subscribe registers fn to be called after every commit that changes a
// member's balance or status (sale, return, card issue or block,
// consents). fn runs on the goroutine of the call that made the change,
// after the commit and with no lock held; it must not block. cancel
// unregisters fn.
func (n *Node) Subscribe(fn func(MemberChange)) (cancel func()) {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	id := n.nextSub
	n.nextSub++
	n.subs[id] = fn
	return func() {
		n.subMu.Lock()
		defer n.subMu.Unlock()
		delete(n.subs, id)
	}
}

// notify calls the subscribers with m.
func (n *Node) notify(m *Member) {
	if m == nil {
		return
	}
	n.subMu.Lock()
	fns := make([]func(MemberChange), 0, len(n.subs))
	for _, fn := range n.subs {
		fns = append(fns, fn)
	}
	n.subMu.Unlock()
	for _, fn := range fns {
		fn(MemberChange{Member: *m})
	}
}

// refused counts a refusal and returns it as an error.
func (n *Node) refused(r *engine.Refusal) error {
	if n.metrics != nil {
		n.metrics.refusals.WithLabelValues(r.Reason).Inc()
	}
	return r
}

// result counts err when it is a refusal and passes it through.
func (n *Node) result(err error) error {
	if r, ok := asRefusal(err); ok {
		return n.refused(r)
	}
	return err
}

// commitFunc picks how write transactions commit: grouped (DB.Batch), or
// one by one for the CommitEach baseline.
func commitFunc(db *bbolt.DB, each bool) func(func(*bbolt.Tx) error) error {
	if each {
		return db.Update
	}
	return db.Batch
}
