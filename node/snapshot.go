package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"go.etcd.io/bbolt"
)

// WriteSnapshot writes a consistent copy of the whole data file (applied
// Raft index, events, state, holds) from one read transaction while the
// node goes on serving.
func (n *Node) WriteSnapshot(ctx context.Context, w io.Writer) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	err := n.db.View(func(tx *bbolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("node: write snapshot: %w", err)
	}
	return nil
}

// RestoreSnapshot replaces the whole data file with one WriteSnapshot
// wrote. The snapshot is written beside the data file and checked
// (schema version, buckets) first; then, once no call is in flight, the
// data file is closed, replaced by an atomic rename and reopened, and the
// programme and terminals reloaded. Calls arriving meanwhile wait. A
// snapshot that does not check out leaves the node as it was.
func (n *Node) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	tmp := n.cfg.Path + ".restore"
	if err := writeFileSync(ctx, tmp, r); err != nil {
		return errors.Join(fmt.Errorf("node: restore snapshot: %w", err), removeIfExists(tmp))
	}
	if err := checkSnapshot(tmp); err != nil {
		return errors.Join(fmt.Errorf("node: restore snapshot: %w", err), removeIfExists(tmp))
	}
	n.gate.Lock()
	defer n.gate.Unlock()
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return errors.Join(ErrClosed, removeIfExists(tmp))
	}
	if err := n.db.Close(); err != nil {
		return fmt.Errorf("node: restore snapshot: close: %w", err)
	}
	renameErr := os.Rename(tmp, n.cfg.Path)
	db, err := openDB(n.cfg)
	if err != nil {
		// The node cannot serve without its file: refuse every call.
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		return fmt.Errorf("node: restore snapshot: reopen: %w", errors.Join(err, renameErr))
	}
	n.db, n.commit = db, commitFunc(db, n.cfg.CommitEach)
	if renameErr != nil {
		return fmt.Errorf("node: restore snapshot: %w", renameErr)
	}
	return n.load()
}

// writeFileSync copies r to a new file at path and fsyncs it.
func writeFileSync(ctx context.Context, path string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// checkSnapshot opens a snapshot file and checks its schema.
func checkSnapshot(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout, ReadOnly: true})
	if err != nil {
		return err
	}
	return errors.Join(db.View(checkTx), db.Close())
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
