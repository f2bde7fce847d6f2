package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/sms"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Node. The zero value of every field but Path and
// Store is valid and documents its default.
type Config struct {
	// Path is the bbolt data file. Required.
	Path string
	// Store is this node's store id (e.g. "S001"); it prefixes receipt ids
	// and stamps ledger entries. Required.
	Store string
	// Origin is this node's origin id, the identity of the events it
	// appends: letters, digits, '_' or '.'. HQ nodes set their node id.
	// Default: the store id and an incarnation drawn when the data file
	// is created, e.g. "S001.482913057" (see incarnation.go); a file made
	// before incarnations keeps the bare store id.
	Origin string
	// CatchUpFromHQ: the node is a store that syncs with HQ, so a new
	// incarnation (an empty data file, or a restored backup) serves no
	// till until it holds what HQ held at its first session (see
	// CatchUpTo). Default false: nothing to wait for (patron dev).
	CatchUpFromHQ bool
	// Authority decides online redemptions (HQ holds). Default nil: the
	// node is its own HQ and decides them itself.
	Authority HoldAuthority
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Zones resolves the programme's IANA time zone. Default
	// time.LoadLocation.
	Zones engine.ZoneResolver
	// SMS is the gateway for text messages (node/sms: SMPP, webhook,
	// log). When set, Open starts the durable outbox (outbox.go): OTPs
	// and points messages are queued in the transaction that causes
	// them and delivered, retried and de-duplicated by one goroutine.
	// Default (nil): no outbox; OTP texts go straight to a LogSender on
	// Logger (development only: it sends nothing and logs the code) and
	// no other message is queued.
	SMS Sender
	// NoSync skips fsync on commit. Tests only: an acknowledged mutation
	// may be lost on power failure.
	NoSync bool
	// CommitEach commits every mutation in its own write transaction (one
	// fsync each) instead of group-committing concurrent ones. It exists as
	// the baseline benchmarks compare group commit against; it is slower
	// and no safer. Default false: group commit.
	CommitEach bool
	// Random is the source of OTP codes and salts; it must be safe for
	// concurrent use. Default crypto/rand.
	Random io.Reader
	// Metrics, when set, receives the node's counters (sales, returns,
	// refusals by reason, group-commit batch sizes). Default none.
	Metrics prometheus.Registerer
}

// DefaultConfig returns a Config with the defaults filled in. Path and
// Store are left for the caller, and SMS stays nil so that Open makes it
// a LogSender on whatever Logger the caller sets.
func DefaultConfig() Config {
	return Config{
		Now:    time.Now,
		Logger: slog.Default(),
		Zones:  time.LoadLocation,
		Random: rand.Reader,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.Zones == nil {
		c.Zones = d.Zones
	}
	if c.SMS == nil {
		c.SMS = LogSender{Logger: c.Logger}
	}
	if c.Random == nil {
		c.Random = d.Random
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("node: config: Path is required"))
	}
	if c.Store == "" {
		errs = append(errs, errors.New("node: config: Store is required"))
	} else if !validID(c.Store, MaxStoreIDLen) {
		errs = append(errs, fmt.Errorf("node: config: Store %q must be 1 to %d letters, digits, '_' or '.'", c.Store, MaxStoreIDLen))
	}
	if c.Origin != "" && !validID(c.Origin, MaxStoreIDLen) {
		errs = append(errs, fmt.Errorf("node: config: Origin %q must be 1 to %d letters, digits, '_' or '.'", c.Origin, MaxStoreIDLen))
	}
	return errors.Join(errs...)
}

// HoldAuthority is HQ as a store sees it for online redemption (the
// replication layer implements it). Hold places a hold; it returns
// engine.ErrHQUnreachable when HQ cannot be reached in time, and the
// store then applies the offline rules. Hold and Void are idempotent by
// hold id, so they may be retried. Reachable reports whether HQ is
// reachable now (member.identify's stale, hello's hq_reachable).
type HoldAuthority interface {
	Hold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error)
	Void(ctx context.Context, id string) error
	Reachable() bool
}

// Sender delivers a text message to an SMS gateway (node/sms has the
// SMPP, webhook and log senders). An error wrapping sms.ErrPermanent is
// not retried.
type Sender = sms.Sender

// LogSender is a Sender that logs messages instead of sending them, for
// development nodes and tests. It logs the OTP text in clear: never use it
// in production.
type LogSender = sms.Log

// validID reports whether s is 1..max characters of [A-Za-z0-9_.]. Store
// and terminal ids have no '-', so a receipt id "<store>-<terminal>-<no>"
// names exactly one (terminal, receipt_no).
func validID(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
