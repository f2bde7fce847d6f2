package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"

	"go.etcd.io/bbolt"
)

// FileInfo is what Inspect reads of a data file.
type FileInfo struct {
	Schema      uint32 // the file's schema version
	ChainFormat int    // the chain format its node writes (format.go)
	Origin      string // its recorded origin, "" if none (see incarnation.go)
}

// Inspect reads a stopped node's data file without changing it.
func Inspect(path string) (FileInfo, error) {
	var info FileInfo
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout, ReadOnly: true})
	if err != nil {
		return info, fmt.Errorf("node: inspect %s: %w", path, lockedError(err))
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("node: %s is not a Patron data file: %w", path, ErrCorrupt)
		}
		raw := meta.Get(metaSchema)
		if len(raw) != 4 {
			return fmt.Errorf("node: %s has no schema version: %w", path, ErrCorrupt)
		}
		info.Schema = binary.BigEndian.Uint32(raw)
		info.Origin = string(meta.Get(metaOrigin))
		var err error
		info.ChainFormat, err = readChainFormat(meta)
		return err
	})
	return info, err
}

// Migrate brings a stopped node's data file to this build's schema in one
// transaction, as Open does at start: a file newer than this build, or
// too old to migrate, is refused with a *SchemaVersionError and left
// as it was.
func Migrate(ctx context.Context, path string, logger *slog.Logger) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout})
	if err != nil {
		return fmt.Errorf("node: migrate %s: %w", path, lockedError(err))
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("node: %s is not a Patron data file: %w", path, ErrCorrupt)
		}
		return initSchema(tx)
	}); err != nil {
		return fmt.Errorf("node: migrate %s: %w", path, err)
	}
	logger.Info("data file migrated", "path", path, "schema", schemaVersion)
	return nil
}
