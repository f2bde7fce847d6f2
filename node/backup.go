package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the data file layout this build writes. Open migrates
// files from version 2 on and refuses newer ones with a
// *SchemaVersionError.
const SchemaVersion = schemaVersion

// MinMigratableSchemaVersion is the oldest data file layout Open migrates.
const MinMigratableSchemaVersion = minMigratableVersion

// BackupFile writes a consistent copy of the data file at path, which no
// node may have open, to w: the file is opened read-only (a shared lock,
// so a running node's file is refused with ErrLocked rather than read
// under its feet), its schema checked, and copied from one read
// transaction. A running node is backed up with WriteSnapshot instead.
func BackupFile(ctx context.Context, path string, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("node: backup: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("node: backup %s: %w", path, lockedError(err))
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if err := checkTx(tx); err != nil {
			return err
		}
		_, err := tx.WriteTo(w)
		return err
	})
	if err = errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("node: backup %s: %w", path, err)
	}
	return nil
}

// CheckFile checks that path is a Patron data file this build can open:
// a bbolt file with the meta bucket and a schema version it reads (older
// ones Open migrates). It opens the file read-only; a file a running node
// holds is refused with ErrLocked.
func CheckFile(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("node: check %s: %w", path, lockedError(err))
	}
	err = errors.Join(db.View(checkTx), db.Close())
	if err != nil {
		return fmt.Errorf("node: check %s: %w", path, err)
	}
	return nil
}

// Ping reports whether the node is open and its data file readable: nil,
// or ErrClosed after Close (a readiness probe).
func (n *Node) Ping(ctx context.Context) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	return n.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("node: no meta bucket: %w", ErrCorrupt)
		}
		return nil
	})
}

// checkTx checks the meta bucket and the schema of a file.
func checkTx(tx *bbolt.Tx) error {
	if tx.Bucket(bucketMeta) == nil {
		return fmt.Errorf("not a Patron data file (no meta bucket): %w", ErrCorrupt)
	}
	return checkSchema(tx)
}

// lockedError maps bbolt's lock timeout to ErrLocked.
func lockedError(err error) error {
	if errors.Is(err, bberrors.ErrTimeout) {
		return ErrLocked
	}
	return err
}
