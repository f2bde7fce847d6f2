package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// Backup and restore of a node's data file (patron.db).
//
// patron backup copies a stopped node's file (--data) or streams a
// running node's from its admin listener (--admin: GET /backup, one bbolt
// read transaction, so the node goes on serving). The stream ends with
// an X-Patron-Backup-Sha256 trailer; a copy without it, or with another
// sum, was cut short and is refused. patron restore puts a copy back
// into a stopped node's data directory.

const (
	// backupPath is the admin endpoint of a hot backup.
	backupPath = "/backup"
	// backupTrailer carries the hex SHA-256 of the body, sent last, so a
	// server that fails halfway cannot be mistaken for a complete copy.
	backupTrailer = "X-Patron-Backup-Sha256"
	// dataFileName is the node's file inside --data.
	dataFileName = "patron.db"
)

// requireToken guards h with the admin token (Authorization: Bearer).
// With no token configured the endpoint is refused: flag names how to
// give one.
func requireToken(token, flagHint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeJSON(w, http.StatusForbidden, apiError{Error: "admin API disabled: start with " + flagHint})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong admin token"})
			return
		}
		h(w, r)
	}
}

// backupHandler streams n's data file from one read transaction.
func backupHandler(n *node.Node, logger *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// An empty-bodied failure before the first byte still gets a
		// proper status: check the node first.
		if err := n.Ping(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "backup: " + err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="patron.db"`)
		w.Header().Set("Trailer", backupTrailer)
		sum := sha256.New()
		started := time.Now()
		cw := &countingWriter{w: io.MultiWriter(w, sum)}
		if err := n.WriteSnapshot(r.Context(), cw); err != nil {
			// The status is sent; the missing trailer tells the client.
			logger.Warn("backup: stream failed", "err", err, "bytes", cw.n)
			return
		}
		w.Header().Set(backupTrailer, hex.EncodeToString(sum.Sum(nil)))
		logger.Info("backup streamed", "bytes", cw.n, "took", time.Since(started).Round(time.Millisecond))
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

const backupUsage = `Usage:
  patron backup --data DIR --to FILE                  copy a stopped node's data file
  patron backup --admin URL --token-file F --to FILE  stream a running node's (GET /backup)
`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var data, to string
	var af adminFlags
	fs := flag.NewFlagSet("patron backup", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), backupUsage+"\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&data, "data", "", "data directory of a STOPPED node (its patron.db is opened read-only)")
	fs.StringVar(&af.urls, "admin", "", "admin `URL` of a RUNNING node (http://host:port); it goes on serving")
	fs.StringVar(&af.token, "token", "", "its admin token (--admin-token of the node)")
	fs.StringVar(&af.tokenFile, "token-file", "", "file holding the admin token")
	fs.StringVar(&to, "to", "", "file to write the copy to; written beside it first and renamed when complete (required)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	switch {
	case to == "":
		return errors.New("patron backup: --to is required")
	case (data == "") == (af.urls == ""):
		return errors.New("patron backup: give --data (a stopped node) or --admin (a running one)")
	}
	var fill func(io.Writer) error
	if data != "" {
		path := filepath.Join(data, dataFileName)
		fill = func(w io.Writer) error {
			err := node.BackupFile(ctx, path, w)
			if errors.Is(err, node.ErrLocked) {
				return fmt.Errorf("%w: back a running node up with --admin URL", err)
			}
			return err
		}
	} else {
		urls, tok, err := af.resolve(true)
		if err != nil {
			return fmt.Errorf("patron backup: %w", err)
		}
		fill = func(w io.Writer) error { return fetchBackup(ctx, urls[0], tok, w) }
	}
	n, err := writeChecked(to, fill)
	if err != nil {
		return fmt.Errorf("patron backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", to, n)
	return nil
}

// fetchBackup streams GET base/backup into w and checks the trailer.
func fetchBackup(ctx context.Context, base, token string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+backupPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%s%s: HTTP %d: %s", base, backupPath, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, sum), resp.Body); err != nil {
		return fmt.Errorf("%s%s: %w", base, backupPath, err)
	}
	return checkTrailer(resp.Trailer.Get(backupTrailer), sum)
}

func checkTrailer(want string, sum hash.Hash) error {
	if want == "" {
		return errors.New("backup stream ended without its checksum: the node failed halfway (see its log)")
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != want {
		return fmt.Errorf("backup checksum %s, the node sent %s: the copy is damaged", got, want)
	}
	return nil
}

// writeChecked writes a new file at path through fill: into a temporary
// file beside it, fsynced, checked as a Patron data file, then renamed.
// An existing file at path is refused, never overwritten.
func writeChecked(path string, fill func(io.Writer) error) (int64, error) {
	if _, err := os.Stat(path); err == nil {
		return 0, fmt.Errorf("%s exists; choose another name", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	cw := &countingWriter{w: tmp}
	err = fill(cw)
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err != nil {
		return 0, err
	}
	if err := node.CheckFile(tmp.Name()); err != nil {
		return 0, fmt.Errorf("the copy does not check out: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil { // fails if path appeared meanwhile
		return 0, err
	}
	return cw.n, syncDir(filepath.Dir(path))
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

const restoreUsage = `Usage:
  patron restore --from FILE --data DIR [--store ID]

The restored store gets a new incarnation (a new event origin, e.g.
S001.482913057): the events it wrote after the backup are at HQ under the
old one, and it catches up on them from HQ when it starts.
`

// runRestore puts a backup into a stopped node's data directory. The
// backup is checked first (a Patron data file of a schema this build
// reads, which opens as a node); the file it replaces is kept beside it
// as patron.db.replaced-TIME.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var from, data, store string
	fs := flag.NewFlagSet("patron restore", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), restoreUsage+"\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&from, "from", "", "backup file (patron backup --to) (required)")
	fs.StringVar(&data, "data", "", "data directory of the STOPPED node to restore into (required)")
	fs.StringVar(&store, "store", "", "the store the backup is of (needed only for a backup older than incarnations; checked otherwise)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if from == "" || data == "" {
		return errors.New("patron restore: --from and --data are required")
	}
	res, err := restoreDataFile(ctx, from, data, store)
	if err != nil {
		return fmt.Errorf("patron restore: %w", err)
	}
	replaced := res.replaced
	fmt.Fprintf(stdout, "restored %s into %s\n", from, filepath.Join(data, dataFileName))
	fmt.Fprintf(stdout, "store %s: new events go under origin %s (the backup's were %s); start it with HQ reachable to catch up\n",
		res.store, res.origin, cmp.Or(res.oldOrigin, res.store))
	if replaced != "" {
		fmt.Fprintf(stdout, "the file it replaced is %s (remove it once the node runs well)\n", replaced)
	}
	return nil
}

// restored says what restoreDataFile did.
type restored struct {
	replaced          string // where the previous file went, "" if none
	store             string
	oldOrigin, origin string // the backup's origin and the new incarnation
}

// restoreDataFile copies from into dir/patron.db under a new incarnation
// (node.Reincarnate): the store wrote events after the backup was taken
// that HQ holds under the backup's origin and later sequence numbers, so
// the restored node must not number new events from where the backup
// left off. store names the store when the backup does not (made before
// incarnations); when it does, a different store is refused.
func restoreDataFile(ctx context.Context, from, dir, store string) (restored, error) {
	var res restored
	if err := node.CheckFile(from); err != nil {
		return res, fmt.Errorf("%s is not a data file this build can restore: %w", from, err)
	}
	origin, err := node.FileOrigin(from)
	if err != nil {
		return res, err
	}
	switch recorded := engine.OriginStore(origin); {
	case origin == "" && store == "":
		return res, fmt.Errorf("%s was made before incarnations and does not say which store it is: give --store", from)
	case origin != "" && store != "" && recorded != store:
		return res, fmt.Errorf("%s is a backup of store %s, not %s", from, recorded, store)
	case origin != "":
		store = recorded
	}
	res.store, res.oldOrigin = store, origin
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	target := filepath.Join(dir, dataFileName)
	if _, err := os.Stat(target); err == nil {
		// A node running on dir holds the file's lock.
		if err := node.CheckFile(target); errors.Is(err, node.ErrLocked) {
			return res, fmt.Errorf("a node is running on %s (its data file is locked): stop it first", dir)
		}
	}
	tmp := target + ".restore"
	if err := copyFileSync(from, tmp); err != nil {
		return res, errors.Join(err, removeIfExists(tmp))
	}
	if res.origin, err = node.Reincarnate(tmp, store); err != nil {
		return res, errors.Join(err, removeIfExists(tmp))
	}
	if err := openAsNode(ctx, tmp, store); err != nil {
		return res, errors.Join(fmt.Errorf("%s does not open as a node: %w", from, err), removeIfExists(tmp))
	}
	if _, err := os.Stat(target); err == nil {
		res.replaced = target + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(target, res.replaced); err != nil {
			return res, errors.Join(err, removeIfExists(tmp))
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return res, err
	}
	return res, syncDir(dir)
}

// openAsNode opens path as a node and closes it: the programme and the
// terminals load, and an older schema is migrated as the node would at
// start.
func openAsNode(ctx context.Context, path, store string) error {
	cfg := node.DefaultConfig()
	cfg.Path, cfg.Store = path, store
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	return n.Close()
}

func copyFileSync(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	return errors.Join(err, dst.Close())
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
