package filedrop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge/poslog"
)

// Node is what the bridge needs from a node; *node.Node implements it.
// These are the calls the WebSocket till makes for the same work, so a
// file till's sale is recorded exactly like a WebSocket till's. Business
// refusals are *engine.Refusal (possibly wrapped).
type Node interface {
	// Hello gives the node's store id.
	Hello(ctx context.Context, terminal string) node.Hello
	// Programme is the current programme (currency, minor digits), nil
	// before one is loaded.
	Programme() *engine.Programme
	// ProgrammeVersion is the programme that priced a receipt, for the
	// discount values of offers.
	ProgrammeVersion(ctx context.Context, version string) (*engine.Programme, error)
	CompleteSale(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error)
	Return(ctx context.Context, terminal string, req node.ReturnRequest) (*node.ReturnReceipt, error)
	// Receipt reads a recorded sale, for the lines a return takes back.
	Receipt(ctx context.Context, terminal, receiptID string) (*node.Receipt, error)
}

var _ Node = (*node.Node)(nil)

// Bridge feeds till files to a node: Run watches the inbox, ProcessFile
// does one file, Apply one file's content without moving anything.
type Bridge struct {
	node    Node
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// mu is held while a file is applied and moved, so files are
	// processed one at a time: a file's transactions go to the node in
	// file order, and freeName's answer stays true until it is used.
	mu sync.Mutex
}

// New returns a Bridge for n. It creates the inbox with its processed/
// and failed/ subfolders, and the outbox, when they are missing.
func New(n Node, cfg Config) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var dirs []string
	if cfg.Inbox != "" {
		dirs = append(dirs, filepath.Join(cfg.Inbox, ProcessedDir), filepath.Join(cfg.Inbox, FailedDir))
	}
	if cfg.Outbox != "" {
		dirs = append(dirs, cfg.Outbox)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("filedrop: %w", err)
		}
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Bridge{node: n, cfg: cfg, log: cfg.Logger, metrics: m}, nil
}

// ProcessFile applies the file at path (see Apply) and moves it to the
// inbox's processed/ or failed/ folder, the latter with a .error file
// beside it. It returns an error, and leaves the file where it is, only
// when the failure is not the file's: the node is closed or unavailable,
// the disk fails, ctx ends. Moving is the last step, so a crash before it
// leaves the file to be processed again, which changes nothing (see
// doc.go, "Exactly once").
func (b *Bridge) ProcessFile(ctx context.Context, path string) (Report, error) {
	if b.cfg.Inbox == "" {
		return Report{}, ErrNoInbox
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return Report{File: name}, fmt.Errorf("filedrop: %w", err)
	}
	rep, err := b.apply(ctx, name, f)
	f.Close()
	if err != nil {
		return rep, err
	}
	if err := b.move(path, &rep); err != nil {
		return rep, err
	}
	b.metrics.count(rep)
	b.log.InfoContext(ctx, "till file", "file", name, "outcome", rep.Outcome, "moved_to", rep.MovedTo,
		"sales", rep.Sales, "returns", rep.Returns, "skipped", rep.Skipped, "error", rep.Error)
	return rep, nil
}

// Apply sends the transactions of one till file, read from r, to the node
// and writes the offer files of member sales; name is only reported. It
// moves nothing and counts nothing in the metrics: patron bridge replay
// uses it on files outside the inbox. A bad file is a Report with Outcome
// OutcomeFailed, not an error (see ProcessFile for the errors).
func (b *Bridge) Apply(ctx context.Context, name string, r io.Reader) (Report, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.apply(ctx, name, r)
}

func (b *Bridge) apply(ctx context.Context, name string, r io.Reader) (Report, error) {
	rep := Report{File: name, Outcome: OutcomeProcessed, Transactions: []TxReport{}}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("filedrop: %w", err)
	}
	p := b.node.Programme()
	if p == nil {
		return rep, ErrNoProgramme
	}
	lim := b.cfg.Limits
	lim.MinorDigits = p.MinorDigits
	file, err := poslog.Parse(r, lim)
	if err != nil {
		rep.Outcome, rep.Error = OutcomeFailed, err.Error()
		return rep, nil
	}
	rep.Format = string(file.Format)
	steps, problems := b.plan(ctx, file, p)
	for _, s := range steps {
		rep.Transactions = append(rep.Transactions, s.rep)
	}
	if len(problems) > 0 {
		// Nothing was sent: a file the node cannot take as a whole is
		// refused before any of it is applied.
		for i := range rep.Transactions {
			if rep.Transactions[i].Outcome == "" {
				rep.Transactions[i].Outcome = TxNotReached
			}
		}
		rep.Outcome = OutcomeFailed
		rep.Error = fmt.Sprintf("%d of %d transactions cannot be processed; nothing was applied:\n%s",
			len(problems), len(steps), strings.Join(problems, "\n"))
		return rep, nil
	}
	for i, s := range steps {
		t := &rep.Transactions[i]
		if s.skip != "" {
			rep.Skipped++
			continue
		}
		f, err := b.send(ctx, p, s, t)
		if err != nil {
			return rep, err
		}
		if f != nil {
			t.Outcome, t.Reason, t.Message = TxFailed, f.reason, f.message
			for j := i + 1; j < len(steps); j++ {
				if rep.Transactions[j].Outcome == "" {
					rep.Transactions[j].Outcome = TxNotReached
				}
			}
			rep.Outcome = OutcomeFailed
			rep.Error = fmt.Sprintf("transaction %d of %d (%s) failed: %s: %s; the %d before it are recorded and replay unchanged when the file is processed again",
				i+1, len(steps), t.ID, f.reason, f.message, i)
			return rep, nil
		}
		if s.sale != nil {
			rep.Sales++
		} else {
			rep.Returns++
		}
	}
	return rep, nil
}

// plan maps every transaction and lists the problems of all of them.
func (b *Bridge) plan(ctx context.Context, file *poslog.File, p *engine.Programme) ([]*step, []string) {
	pl := planner{store: b.node.Hello(ctx, "").Store, prefix: b.cfg.TerminalPrefix, p: p}
	var (
		steps    []*step
		problems []string
	)
	for _, tx := range file.Transactions {
		s, f := pl.plan(tx)
		if s.skip != "" {
			s.rep.Outcome, s.rep.Reason = TxSkipped, s.skip
		}
		if f != nil {
			s.rep.Outcome, s.rep.Reason, s.rep.Message = TxFailed, f.reason, f.message
			problems = append(problems, fmt.Sprintf("transaction %s: %s: %s", s.rep.ID, f.reason, f.message))
		}
		steps = append(steps, s)
	}
	for _, sk := range file.Skipped {
		steps = append(steps, &step{skip: SkipUnrepresentable, rep: TxReport{ID: sk.ID.String(), Outcome: TxSkipped,
			Reason: SkipUnrepresentable, Message: sk.Reason}})
	}
	return steps, problems
}

// send makes one transaction's node call. A refusal is the transaction's
// failure; an error is a failure that is not the file's.
func (b *Bridge) send(ctx context.Context, p *engine.Programme, s *step, t *TxReport) (*failure, error) {
	if s.sale != nil {
		rc, err := b.node.CompleteSale(ctx, t.Terminal, *s.sale)
		if f, err := outcome(err); f != nil || err != nil {
			return f, err
		}
		t.Outcome, t.ReceiptID, t.MemberID, t.Net = TxSale, rc.ReceiptID, rc.MemberID, rc.Totals.Net
		t.Earned, t.Redeemed, t.Balance = rc.Points.Earned, rc.Points.Redeemed, rc.Points.Balance
		if rc.MemberID != "" && b.cfg.Outbox != "" {
			name, err := b.writeOffer(ctx, p, s.tx, rc)
			if err != nil {
				return nil, err
			}
			t.OfferFile = name
		}
		return nil, nil
	}
	orig, err := b.node.Receipt(ctx, t.Terminal, s.ret.receiptID)
	if r, ok := asRefusal(err); ok && r.Reason == node.ReasonNotFound {
		return fail(ReasonOriginalNotFound, "the original sale %s is not on this node (not yet processed, or made elsewhere)", s.ret.receiptID), nil
	}
	if f, err := outcome(err); f != nil || err != nil {
		return f, err
	}
	lines, f := matchReturn(orig, s.ret.lines)
	if f != nil {
		return f, nil
	}
	rr, err := b.node.Return(ctx, t.Terminal, node.ReturnRequest{ReceiptID: s.ret.receiptID, ReturnNo: s.ret.returnNo, Lines: lines})
	if f, err := outcome(err); f != nil || err != nil {
		return f, err
	}
	t.Outcome, t.ReturnID, t.MemberID, t.Net = TxReturn, rr.ReturnID, orig.MemberID, rr.Refund.Money
	t.ClawedBack, t.Refunded, t.Balance = rr.Points.ClawedBack, rr.Points.Refunded, rr.Points.Balance
	return nil, nil
}

// outcome sorts a node error: a refusal is the transaction's failure,
// "unavailable" is ErrUnavailable, anything else a failure of the node.
func outcome(err error) (*failure, error) {
	if err == nil {
		return nil, nil
	}
	r, ok := asRefusal(err)
	switch {
	case !ok:
		return nil, fmt.Errorf("filedrop: node: %w", err)
	case r.Reason == node.ReasonUnavailable:
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, r.Message)
	}
	msg := r.Message
	if r.Field != "" {
		msg += " (" + r.Field + ")"
	}
	return &failure{reason: r.Reason, message: msg}, nil
}

func asRefusal(err error) (*engine.Refusal, bool) {
	var r *engine.Refusal
	if errors.As(err, &r) {
		return r, true
	}
	return nil, false
}

// writeOffer writes a member sale's offer file into the outbox.
func (b *Bridge) writeOffer(ctx context.Context, current *engine.Programme, tx poslog.Transaction, rc *node.Receipt) (string, error) {
	p := current
	if rc.ProgrammeVersion != current.Version {
		var err error
		if p, err = b.node.ProgrammeVersion(ctx, rc.ProgrammeVersion); err != nil {
			if _, ok := asRefusal(err); !ok {
				return "", fmt.Errorf("filedrop: programme %s: %w", rc.ProgrammeVersion, err)
			}
			p = nil // unknown version: offers without discount values
		}
	}
	digits, currency := current.MinorDigits, current.Currency
	if p != nil {
		digits, currency = p.MinorDigits, p.Currency
	}
	data, err := encodeOffer(buildOffer(tx, rc, p, currency, digits), b.cfg.OfferFormat)
	if err != nil {
		return "", err
	}
	name := offerName(rc.ReceiptID, b.cfg.OfferFormat)
	return name, writeAtomic(b.cfg.Outbox, name, data)
}

// move files a finished file: into processed/, or into failed/ after its
// .error file.
func (b *Bridge) move(path string, rep *Report) error {
	dir := filepath.Join(b.cfg.Inbox, ProcessedDir)
	if rep.Outcome == OutcomeFailed {
		dir = filepath.Join(b.cfg.Inbox, FailedDir)
	}
	name, err := freeName(dir, filepath.Base(path))
	if err != nil {
		return err
	}
	if rep.Outcome == OutcomeFailed {
		if err := writeAtomic(dir, name+ErrorSuffix, []byte(errorText(rep))); err != nil {
			return err
		}
	}
	dst := filepath.Join(dir, name)
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("filedrop: move %s: %w", filepath.Base(path), err)
	}
	rep.MovedTo = dst
	return nil
}

// errorText is the content of a failed file's .error file: what is
// wrong and where (the element path and line of a parse error, the
// transaction and reason of a refusal).
func errorText(rep *Report) string {
	return rep.File + ": " + rep.Error + "\n"
}
