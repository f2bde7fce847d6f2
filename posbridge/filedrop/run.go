package filedrop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Run watches the inbox until ctx ends, then returns nil. Every
// PollInterval it lists the inbox and processes, oldest first, the files
// that are stable (see Config.StableFor). A bad file goes to failed/ and
// Run moves on; a file the node cannot take now (ErrUnavailable) stays for
// a later poll. Any other error (the node closed, the disk failing) stops
// Run and is returned. Run is the only goroutine it uses.
func (b *Bridge) Run(ctx context.Context) error {
	if b.cfg.Inbox == "" {
		return ErrNoInbox
	}
	w := &watch{seen: make(map[string]sighting)}
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := b.poll(ctx, w); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watch is what Run remembers between polls; only Run's goroutine uses it.
type watch struct {
	seen map[string]sighting // by file name, bounded by MaxScanEntries
}

// sighting is a file's size and mtime when first seen so, and when.
type sighting struct {
	size  int64
	mtime time.Time
	since time.Time
}

// poll processes the inbox's stable files once.
func (b *Bridge) poll(ctx context.Context, w *watch) error {
	ready, err := b.stableFiles(w)
	if err != nil {
		return err
	}
	for _, name := range ready {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := b.ProcessFile(ctx, filepath.Join(b.cfg.Inbox, name))
		switch {
		case errors.Is(err, ErrUnavailable):
			b.metrics.files.WithLabelValues(FileDeferred).Inc()
			b.log.WarnContext(ctx, "till file deferred", "file", name, "err", err)
			return nil // the node is busy: try again at the next poll
		case errors.Is(err, os.ErrNotExist):
			continue // taken away by someone else between listing and opening
		case err != nil:
			return err
		}
		delete(w.seen, name)
		if rep.Outcome == OutcomeFailed {
			b.log.WarnContext(ctx, "till file failed", "file", name, "moved_to", rep.MovedTo, "error", rep.Error)
		}
	}
	return nil
}

// stableFiles lists the inbox and returns the files ready to read, oldest
// mtime first (a return after its sale), name breaking ties. A file is
// ready when its size and mtime have not changed for StableFor (by the
// clock), or when its mtime is StableFor old and unchanged since the
// last poll or it is seen for the first time (renamed in).
func (b *Bridge) stableFiles(w *watch) ([]string, error) {
	d, err := os.Open(b.cfg.Inbox)
	if err != nil {
		return nil, fmt.Errorf("filedrop: inbox: %w", err)
	}
	entries, err := d.ReadDir(MaxScanEntries)
	d.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("filedrop: inbox: %w", err)
	}
	now := b.cfg.Now()
	type candidate struct {
		name  string
		mtime time.Time
	}
	var ready []candidate
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || ignored(e.Name()) {
			continue // folders, symlinks, devices, temporary names
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		name := e.Name()
		present[name] = true
		cur := sighting{size: info.Size(), mtime: info.ModTime()}
		old, ok := w.seen[name]
		if !ok || old.size != cur.size || !old.mtime.Equal(cur.mtime) {
			cur.since = now
			w.seen[name] = cur
			if ok || now.Sub(cur.mtime) < b.cfg.StableFor {
				continue
			}
		} else if now.Sub(old.since) < b.cfg.StableFor && now.Sub(cur.mtime) < b.cfg.StableFor {
			continue
		}
		ready = append(ready, candidate{name, cur.mtime})
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
	slices.SortFunc(ready, func(a, b candidate) int {
		return cmp.Or(a.mtime.Compare(b.mtime), cmp.Compare(a.name, b.name))
	})
	names := make([]string, len(ready))
	for i, c := range ready {
		names[i] = c.name
	}
	return names, nil
}
