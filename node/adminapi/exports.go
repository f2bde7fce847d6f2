package adminapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patron/patron/node"
)

// Export states.
const (
	exportRunning   = "running"
	exportDone      = "done"
	exportFailed    = "failed"
	exportCancelled = "cancelled"
)

// exportJobs runs report exports into CSV files: at most MaxRunningExports
// at once and MaxExports kept, each kept ExportTTL after it ends. Close
// cancels the running ones, waits for them and removes the directory.
type exportJobs struct {
	api    *API
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the export goroutines

	mu     sync.Mutex // guards following
	dir    string     // made at the first export
	jobs   map[string]*exportJob
	closed bool
}

// exportJob is one export. Its fields after mu change while it runs.
type exportJob struct {
	id      string
	owner   principal
	report  string
	filters reportFilters // as applied
	created time.Time
	path    string

	mu       sync.Mutex // guards following
	state    string
	done     int64
	total    int64
	rows     int64
	bytes    int64
	err      string
	finished time.Time
}

func newExportJobs(a *API) *exportJobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &exportJobs{api: a, ctx: ctx, cancel: cancel, jobs: map[string]*exportJob{}}
}

// exportRequest is POST /api/v1/exports's body.
type exportRequest struct {
	Report  string        `json:"report"`
	Filters reportFilters `json:"filters"`
}

// exportAnswer is an export's state.
type exportAnswer struct {
	ID      string        `json:"id"`
	Report  string        `json:"report"`
	Filters reportFilters `json:"filters"`
	State   string        `json:"state"` // running, done, failed or cancelled
	// Done and Total are the report's progress (Total 0 while unknown).
	Done     int64     `json:"done"`
	Total    int64     `json:"total"`
	Rows     int64     `json:"rows"`
	Bytes    int64     `json:"bytes"`
	Error    string    `json:"error,omitempty"`
	Created  time.Time `json:"created_at"`
	Finished time.Time `json:"finished_at,omitzero"`
	Download string    `json:"download,omitempty"` // the CSV's path, once done
}

func (j *exportJob) answer() exportAnswer {
	j.mu.Lock()
	defer j.mu.Unlock()
	a := exportAnswer{ID: j.id, Report: j.report, Filters: j.filters, State: j.state, Done: j.done, Total: j.total,
		Rows: j.rows, Bytes: j.bytes, Error: j.err, Created: j.created, Finished: j.finished}
	if j.state == exportDone {
		a.Download = "/api/v1/exports/" + j.id + "/download"
	}
	return a
}

func (a *API) startExport(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	var req exportRequest
	if err := decodeJSON(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Report == "" {
		return badParam("report", "required (GET /api/v1/reports lists them)")
	}
	_, f, applied, err := a.reportRequest(p, req.Report, req.Filters, "filters.")
	if err != nil {
		return err
	}
	j, err := a.exports.start(p, req.Report, f, applied)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/exports/"+j.id)
	writeJSON(w, http.StatusAccepted, j.answer())
	return nil
}

// start makes room for an export and starts it.
func (e *exportJobs) start(owner principal, report string, f node.ReportFilter, applied reportFilters) (*exportJob, error) {
	now := e.api.cfg.Now().UTC()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	e.pruneLocked(now)
	running := 0
	for _, j := range e.jobs {
		if j.snapshot().state == exportRunning {
			running++
		}
	}
	if running >= e.api.cfg.MaxRunningExports {
		return nil, errorf(http.StatusTooManyRequests, codeTooManyExports, "%d exports running, the most at once: retry when one ends", running)
	}
	if len(e.jobs) >= e.api.cfg.MaxExports && !e.evictOldestLocked() {
		return nil, errorf(http.StatusTooManyRequests, codeTooManyExports, "%d exports kept, the most: retry when one ends", len(e.jobs))
	}
	if e.dir == "" {
		dir, err := os.MkdirTemp(e.api.cfg.TempDir, "patron-exports-")
		if err != nil {
			return nil, fmt.Errorf("adminapi: export directory: %w", err)
		}
		e.dir = dir
	}
	id := newExportID()
	j := &exportJob{id: id, owner: owner, report: report, filters: applied, created: now,
		path: filepath.Join(e.dir, id+".csv"), state: exportRunning}
	e.jobs[id] = j
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.run(j, f)
	}()
	return j, nil
}

// run writes the report to the job's file and records how it ended.
func (e *exportJobs) run(j *exportJob, f node.ReportFilter) {
	err := e.write(j, f)
	state, msg := exportDone, ""
	switch {
	case err == nil:
	case e.ctx.Err() != nil:
		state, msg = exportCancelled, "the node is stopping"
	default:
		state = exportFailed
		_, b := e.api.classify(err)
		msg = b.Error.Message
		e.api.log.Warn("export failed", "id", j.id, "report", j.report, "err", err)
	}
	if err != nil {
		os.Remove(j.path)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.state, j.err, j.finished = state, msg, e.api.cfg.Now().UTC()
	if state == exportDone && j.total == 0 {
		j.done, j.total = j.rows, j.rows
	}
}

func (e *exportJobs) write(j *exportJob, f node.ReportFilter) (err error) {
	file, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("adminapi: export file: %w", err)
	}
	defer func() {
		if cerr := file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("adminapi: export file: %w", cerr)
		}
	}()
	counted := &countingWriter{w: file, limit: e.api.cfg.MaxExportBytes}
	buf := bufio.NewWriterSize(counted, 64<<10)
	cw := csv.NewWriter(buf)
	var info node.ReportInfo
	for _, i := range e.api.node.Reports() {
		if i.Name == j.report {
			info = i
		}
	}
	columns, err := e.api.columns(e.ctx, info, f)
	if err != nil {
		return err
	}
	if err := cw.Write(columns); err != nil {
		return fmt.Errorf("adminapi: export file: %w", err)
	}
	_, err = e.api.node.RunReport(e.ctx, j.report, f, func(row []string) error {
		if err := cw.Write(csvSafe(row)); err != nil {
			return err
		}
		j.mu.Lock()
		j.rows++
		j.bytes = counted.n
		j.mu.Unlock()
		return counted.err
	}, func(done, total int64) {
		j.mu.Lock()
		j.done, j.total = done, max(total, 0) // the node's -1: unknown
		j.mu.Unlock()
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("adminapi: export file: %w", err)
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("adminapi: export file: %w", err)
	}
	j.mu.Lock()
	j.bytes = counted.n
	j.mu.Unlock()
	return file.Sync()
}

// countingWriter counts bytes and refuses to go past limit.
type countingWriter struct {
	w     io.Writer
	n     int64
	limit int64
	err   error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.limit {
		c.err = errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "export larger than %d bytes: narrow the filters", c.limit)
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jobState is a consistent copy of a job's changing fields.
type jobState struct {
	state    string
	finished time.Time
}

func (j *exportJob) snapshot() jobState {
	j.mu.Lock()
	defer j.mu.Unlock()
	return jobState{state: j.state, finished: j.finished}
}

// pruneLocked forgets exports that ended more than ExportTTL ago.
func (e *exportJobs) pruneLocked(now time.Time) {
	for id, j := range e.jobs {
		s := j.snapshot()
		if s.state != exportRunning && now.Sub(s.finished) > e.api.cfg.ExportTTL {
			os.Remove(j.path)
			delete(e.jobs, id)
		}
	}
}

// evictOldestLocked forgets the export that ended first; false when all
// are running.
func (e *exportJobs) evictOldestLocked() bool {
	var oldest *exportJob
	var at time.Time
	for _, j := range e.jobs {
		s := j.snapshot()
		if s.state == exportRunning {
			continue
		}
		if oldest == nil || s.finished.Before(at) || s.finished.Equal(at) && j.id < oldest.id {
			oldest, at = j, s.finished
		}
	}
	if oldest == nil {
		return false
	}
	os.Remove(oldest.path)
	delete(e.jobs, oldest.id)
	return true
}

// get returns an export the principal may see: an HQ admin any, a store
// manager those they started. Others are 404, as if absent.
func (e *exportJobs) get(p principal, id string) (*exportJob, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	e.pruneLocked(e.api.cfg.Now().UTC())
	j, ok := e.jobs[id]
	if !ok || (p.Role == RoleStoreManager && j.owner != p) {
		return nil, errorf(http.StatusNotFound, codeNotFound, "no export %q", truncate(id, 64))
	}
	return j, nil
}

// list returns the exports the principal may see, newest first.
func (e *exportJobs) list(p principal) ([]exportAnswer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	e.pruneLocked(e.api.cfg.Now().UTC())
	out := []exportAnswer{}
	for _, j := range e.jobs {
		if p.Role == RoleStoreManager && j.owner != p {
			continue
		}
		out = append(out, j.answer())
	}
	slices.SortFunc(out, func(x, y exportAnswer) int {
		if c := y.Created.Compare(x.Created); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out, nil
}

// close cancels the running exports, waits for them and removes the
// files.
func (e *exportJobs) close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.jobs)
	if e.dir == "" {
		return nil
	}
	if err := os.RemoveAll(e.dir); err != nil {
		return fmt.Errorf("adminapi: remove exports: %w", err)
	}
	return nil
}

func newExportID() string {
	var b [12]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

func (a *API) listExports(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	out, err := a.exports.list(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) exportStatus(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	j, err := a.exports.get(p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j.answer())
	return nil
}

// downloadExport serves a finished export's CSV (ranges too, for
// resumed downloads); before it is done, 409 with its state.
func (a *API) downloadExport(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	j, err := a.exports.get(p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if s := j.snapshot(); s.state != exportDone {
		return errorf(http.StatusConflict, codeNotReady, "export %s is %s, not done", j.id, s.state)
	}
	// Opened now, the file stays readable even if the export is pruned
	// meanwhile (the name goes, the open file does not).
	f, err := os.Open(j.path)
	if err != nil {
		return errorf(http.StatusNotFound, codeNotFound, "export %s is gone", j.id)
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, fileSafe(j.report), j.id))
	http.ServeContent(w, r, "", j.created, f)
	return nil
}
