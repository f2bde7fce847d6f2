package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// A store's events are identified by (origin, seq). If a store lost its
// disk, or went back to a backup, and numbered new events from where its
// file left off, it would hand out identities HQ already holds for other
// events: those new events would be skipped everywhere as duplicates —
// lost without a trace. So a store's origin is not its bare id but its id
// and an incarnation, "S001.482913057": a random number drawn when the
// data file is created (and drawn again by Reincarnate when a backup is
// restored). A replacement machine with an empty disk is a new incarnation
// at once, without asking HQ first — it may have to trade offline — and
// it pulls its earlier incarnations' events from HQ like any other
// origin's. HQ admits an origin for the store whose key authenticated the
// link when it is the store id or the store id, '.', and digits (see
// OriginStore).
//
// Files made before incarnations existed keep the bare store id as their
// origin: their events are already named that way everywhere.

// metaOrigin is the file's own origin, fixed when the file is created.
var metaOrigin = []byte("origin")

// incarnationDigits is how many random digits an incarnation has: two
// incarnations of one store collide with probability 1e-9.
const incarnationDigits = engine.IncarnationDigits

// MaxIncarnatedStoreIDLen is the longest store id that leaves room for
// ".<incarnation>" within the 32 characters sync carries for an origin.
const MaxIncarnatedStoreIDLen = MaxStoreIDLen - 1 - incarnationDigits

// ErrStoreIDTooLong is returned when a new data file is made for a store
// id too long to carry an incarnation.
var ErrStoreIDTooLong = errors.New("node: store id too long for an incarnated origin")

// resolveOrigin fixes the node's origin in tx: Config.Origin when given
// (HQ nodes, tests); otherwise the origin recorded in the file; otherwise,
// for a file that already holds events under the bare store id (made
// before incarnations), that id; otherwise a new incarnation.
func resolveOrigin(tx *bbolt.Tx, cfg Config) (string, error) {
	if cfg.Origin != "" {
		return cfg.Origin, nil
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(metaOrigin); v != nil {
		origin := string(v)
		if engine.OriginStore(origin) != cfg.Store {
			return "", fmt.Errorf("node: this data file belongs to store %s (origin %s), not %s: %w",
				engine.OriginStore(origin), origin, cfg.Store, ErrWrongStore)
		}
		return origin, nil
	}
	origin := cfg.Store
	if tx.Bucket(bucketVV).Get([]byte(cfg.Store)) == nil {
		var err error
		if origin, err = newIncarnation(cfg.Store); err != nil {
			return "", err
		}
	}
	if err := meta.Put(metaOrigin, []byte(origin)); err != nil {
		return "", fmt.Errorf("node: record origin: %w", err)
	}
	return origin, nil
}

// ErrWrongStore is returned when a data file made for one store is opened
// as another's.
var ErrWrongStore = errors.New("node: data file of another store")

// newIncarnation draws a fresh incarnated origin for store.
func newIncarnation(store string) (string, error) {
	if len(store) > MaxIncarnatedStoreIDLen {
		return "", fmt.Errorf("%w: %q has %d characters, at most %d", ErrStoreIDTooLong, store, len(store), MaxIncarnatedStoreIDLen)
	}
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(incarnationDigits-1), nil) // no leading zero
	n, err := rand.Int(rand.Reader, new(big.Int).Mul(lo, big.NewInt(9)))
	if err != nil {
		return "", fmt.Errorf("node: draw incarnation: %w", err)
	}
	return fmt.Sprintf("%s.%d", store, n.Add(n, lo)), nil
}

// Reincarnate gives the data file at path a new incarnation, so the node
// opened on it next names its new events afresh: restore calls it, since
// the events a store wrote after its backup was taken are at HQ under the
// old incarnation's later sequence numbers. It returns the new origin. The
// file must not be open (ErrLocked). A file with an explicit origin (HQ)
// or one made before incarnations gets one too: from here on its own
// events are the new origin's. The file is marked to catch up from HQ
// before serving tills (see ErrCatchingUp).
func Reincarnate(path, store string) (string, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout})
	if err != nil {
		return "", fmt.Errorf("node: reincarnate %s: %w", path, lockedError(err))
	}
	defer db.Close()
	var origin string
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("node: reincarnate %s: not a Patron data file: %w", path, ErrCorrupt)
		}
		if v := meta.Get(metaOrigin); v != nil && engine.OriginStore(string(v)) != store {
			return fmt.Errorf("node: reincarnate: the file belongs to store %s, not %s: %w", engine.OriginStore(string(v)), store, ErrWrongStore)
		}
		var err error
		if origin, err = newIncarnation(store); err != nil {
			return err
		}
		if err := meta.Put(metaCatchingUp, []byte{1}); err != nil {
			return err
		}
		return meta.Put(metaOrigin, []byte(origin))
	})
	if err != nil {
		return "", err
	}
	return origin, nil
}

// FileOrigin returns the origin recorded in the data file at path: the
// store's current incarnation, or "" for a file made before incarnations
// (or an HQ node's, whose origin is configured). The file must not be open
// (ErrLocked).
func FileOrigin(path string) (string, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout, ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("node: read origin of %s: %w", path, lockedError(err))
	}
	defer db.Close()
	var origin string
	err = db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("node: %s is not a Patron data file: %w", path, ErrCorrupt)
		}
		origin = string(meta.Get(metaOrigin))
		return nil
	})
	return origin, err
}

// A store that starts a new incarnation — an empty disk on a replacement
// machine, or a restored backup — must not serve tills until it holds what
// HQ held when it reconnected: a till retrying a sale acknowledged before
// the failure would otherwise be sold again (the receipt is only known
// from HQ's copy), and a member's balance would be wrong. Such a file
// carries metaCatchingUp until the node has applied every event of HQ's
// version vector at its first session (CatchUpTo).
var metaCatchingUp = []byte("catching_up")

// ErrCatchingUp is returned by till methods while a new incarnation is
// catching up from HQ; tills retry (posbridge answers "unavailable").
var ErrCatchingUp = errors.New("node: catching up from HQ (a new data directory: first start, replacement or restore); retry shortly")

// initCatchUp decides at open whether the node is catching up: a file
// marked so (new, or reincarnated) with a node that syncs with HQ
// (Config.CatchUpFromHQ). Without HQ there is nothing to wait for and the
// mark is dropped.
func (n *Node) initCatchUp(tx *bbolt.Tx, created bool) error {
	meta := tx.Bucket(bucketMeta)
	if created && n.cfg.CatchUpFromHQ && n.cfg.Origin == "" {
		if err := meta.Put(metaCatchingUp, []byte{1}); err != nil {
			return fmt.Errorf("node: mark catching up: %w", err)
		}
	}
	if meta.Get(metaCatchingUp) == nil {
		return nil
	}
	if !n.cfg.CatchUpFromHQ {
		return meta.Delete(metaCatchingUp)
	}
	n.catchingUp.Store(true)
	return nil
}

// CatchingUp reports whether the node is a new incarnation still catching
// up from HQ (see ErrCatchingUp).
func (n *Node) CatchingUp() bool { return n.catchingUp.Load() }

// CatchUpTo tells a catching-up node what HQ held when its session came
// up; once the node holds all of it, the mark is cleared and tills are
// served. The replication wiring calls it on every HQ session start.
func (n *Node) CatchUpTo(ctx context.Context, hq engine.VersionVector) error {
	if !n.catchingUp.Load() {
		return nil
	}
	n.catchMu.Lock()
	n.catchTarget = maps.Clone(hq)
	n.catchMu.Unlock()
	return n.checkCaughtUp(ctx)
}

// checkCaughtUp clears the catching-up mark when the node holds its
// target.
func (n *Node) checkCaughtUp(ctx context.Context) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	var vv engine.VersionVector
	err := n.db.View(func(tx *bbolt.Tx) error {
		var err error
		vv, err = readVV(tx)
		return err
	})
	if err != nil {
		return err
	}
	return n.caughtUpAt(vv)
}

// caughtUpAt clears the catching-up mark if vv, the node's version vector
// now, holds the target. The caller is inside enter.
func (n *Node) caughtUpAt(vv engine.VersionVector) error {
	if !n.catchingUp.Load() {
		return nil
	}
	n.catchMu.Lock()
	defer n.catchMu.Unlock()
	if n.catchTarget == nil || !n.catchingUp.Load() {
		return nil
	}
	var total uint64
	for o, seq := range n.catchTarget {
		if vv[o] < seq {
			return nil
		}
		total += seq
	}
	if err := n.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaCatchingUp) }); err != nil {
		return fmt.Errorf("node: clear catching up: %w", err)
	}
	n.catchingUp.Store(false)
	n.log.Info("caught up with HQ: serving tills", "origin", n.origin, "hq_events", total)
	return nil
}
