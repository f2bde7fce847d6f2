package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
	"go.etcd.io/bbolt"
)

// Node is one running Patron node. Its methods are safe for concurrent
// use. Open it with Open and release it with Close.
type Node struct {
	cfg       Config
	origin    string // Config.Origin, or Config.Store
	log       *slog.Logger
	metrics   *metrics      // nil without Config.Metrics
	outbox    *outbox       // nil without Config.SMS
	committed chan struct{} // see Committed

	// gate is held shared by every call (enter, leave) and exclusively
	// by Close and RestoreSnapshot, which so wait for calls in flight.
	// It guards db: only RestoreSnapshot replaces it.
	gate sync.RWMutex
	db   *bbolt.DB

	// commit runs a write transaction: grouped (groupCommitter), or
	// db.Update in the one-fsync-per-call benchmark baseline.
	commit func(func(*bbolt.Tx) error) error

	mu     sync.Mutex // guards following
	closed bool

	// catchingUp: a new incarnation not yet holding what HQ held at its
	// first session (see incarnation.go); catchTarget is that.
	catchingUp  atomic.Bool
	catchMu     sync.Mutex
	catchTarget engine.VersionVector

	chainFormat atomic.Int32 // see format.go

	loadMu sync.Mutex // serialises LoadProgramme

	progMu       sync.RWMutex // guards following
	current      *engine.Programme
	currentStamp engine.Stamp                 // of the event that loaded current
	programmes   map[string]*engine.Programme // parsed programmes by version

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
	withOutbox := cfg.SMS != nil
	cfg = cfg.withDefaults()
	db, err := openDB(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger,
		committed:  make(chan struct{}, 1),
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
	if withOutbox {
		n.startOutbox(cfg.SMS)
	}
	return n, nil
}

// openDB opens the bbolt file of cfg.
func openDB(cfg Config) (*bbolt.DB, error) {
	// A long report export holds a read transaction, and a write that
	// has to grow the memory map waits for it: map 1 GiB of address
	// space up front so a file of up to that size never remaps.
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: OpenTimeout, NoSync: cfg.NoSync, InitialMmapSize: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("node: open %s: %w", cfg.Path, lockedError(err))
	}
	return db, nil
}

// load checks the schema and reads the current programme and the
// terminals into memory (replacing what was there).
func (n *Node) load() error {
	err := n.db.Update(func(tx *bbolt.Tx) error {
		created := tx.Bucket(bucketMeta) == nil
		if err := initSchema(tx); err != nil {
			return err
		}
		origin, err := resolveOrigin(tx, n.cfg)
		if err != nil {
			return err
		}
		n.origin = origin
		if err := n.initChainFormat(tx, created); err != nil {
			return err
		}
		return n.initCatchUp(tx, created)
	})
	if err != nil {
		return err
	}
	var raw []byte
	var stamp *engine.Stamp
	terminals := make(map[string][]byte)
	err = n.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaProgramme); v != nil {
			var rec programmeRecord
			found, err := getJSON(tx.Bucket(bucketProgrammes), v, &rec)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("node: programme %q: %w", v, ErrCorrupt)
			}
			raw = rec.Document
			if stamp, err = currentStamp(tx); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketTerminals).ForEach(func(k, v []byte) error {
			if len(v) != 33 || v[0] != binaryVersion {
				return fmt.Errorf("node: terminal %q: %w", k, ErrCorrupt)
			}
			terminals[string(k)] = append([]byte(nil), v[1:]...)
			return nil
		})
	})
	if err != nil {
		return err
	}
	var p *engine.Programme
	if raw != nil {
		if p, err = programmeyaml.ParseProgramme(raw, n.cfg.Zones); err != nil {
			return fmt.Errorf("node: stored programme: %w", err)
		}
	}
	n.progMu.Lock()
	n.current, n.currentStamp, n.programmes = p, engine.Stamp{}, make(map[string]*engine.Programme)
	if p != nil {
		n.programmes[p.Version] = p
		if stamp != nil {
			n.currentStamp = *stamp
		}
	}
	n.progMu.Unlock()
	n.termMu.Lock()
	n.terminals = terminals
	n.termMu.Unlock()
	return nil
}

// Close stops the outbox, waits for in-flight calls, then closes the
// data file. Calls after Close return ErrClosed. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	if n.outbox != nil {
		n.outbox.stop() // a send in flight is cancelled and stays queued
	}
	n.gate.Lock() // waits for calls in flight
	defer n.gate.Unlock()
	if err := n.db.Close(); err != nil {
		return fmt.Errorf("node: close: %w", err)
	}
	return nil
}

// enter registers an in-flight call; the caller must call n.leave. A
// call never enters twice (gate is not reentrant once a writer waits).
func (n *Node) enter(ctx context.Context) error {
	n.gate.RLock()
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		n.gate.RUnlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		n.gate.RUnlock()
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

func (n *Node) leave() { n.gate.RUnlock() }

// stale reports whether answers may miss other stores' activity: the
// hold authority cannot reach HQ.
func (n *Node) stale() bool { return n.cfg.Authority != nil && !n.cfg.Authority.Reachable() }

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

// commitFunc picks how write transactions commit: grouped (see
// groupCommitter), or one by one for the CommitEach baseline.
func commitFunc(db *bbolt.DB, each bool) func(func(*bbolt.Tx) error) error {
	if each {
		return db.Update
	}
	return (&groupCommitter{db: db}).commit
}
