package syncproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
)

// MaxInFlightBatches is the receive window every session grants: a peer
// with more unacknowledged batches than this breaks the protocol. A sender
// may use a smaller window (SessionConfig.Window). Eight 40 KiB batches
// cover the bandwidth-delay product of a store link (~2.5 Mbit/s at 100 ms)
// and bound what a receiver queues.
const MaxInFlightBatches = 8

// CatchUpLogEvery spaces the catch-up progress lines of one session.
const CatchUpLogEvery = 5 * time.Second

// MsgConn is a reliable, ordered, authenticated message connection: the
// replication transport (DTLS+SCTP) in production, a pipe in tests. Send
// and Recv carry whole messages of up to 64 KiB and honour ctx; Peer names
// the authenticated peer; Close unblocks both.
type MsgConn interface {
	Send(ctx context.Context, msg []byte) error
	Recv(ctx context.Context) ([]byte, error)
	Peer() string
	Close() error
}

// Applier commits a batch of events received from the peer and returns
// the version vector after the commit. On a store it is the node's log
// (LogApplier); on HQ it commits through Raft before it returns. It
// returns an error wrapping engine.ErrEventGap or engine.ErrBadEvent when
// it refuses the batch (nothing applied), a *RedirectError when this HQ
// node cannot commit and cannot forward, and any other error when it
// cannot commit now (the sender retries).
type Applier interface {
	Apply(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error)
}

// LogApplier applies batches straight to an EventLog.
type LogApplier struct {
	Log replication.EventLog
}

// Apply calls Log.ApplyEvents.
func (a LogApplier) Apply(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	return a.Log.ApplyEvents(ctx, events)
}

// HoldServer decides holds on HQ: the Raft leader, or a follower that
// forwards to it. An error that wraps ErrInvalidHold refuses the request
// as malformed; a *RedirectError sends the store to the leader; any other
// error tells the store HQ could not decide (it may retry the same id).
// Both calls must be idempotent by id.
type HoldServer interface {
	PlaceHold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error)
	VoidHold(ctx context.Context, id string) error
}

// AdmitFunc decides whether a session may go on after the peer's Hello:
// peer is MsgConn.Peer (the authenticated identity). An error ends the
// session; a *RedirectError first sends the peer Redirect.
type AdmitFunc func(ctx context.Context, peer string, h Hello) error

// SessionConfig tunes sessions. The zero value of every field is valid
// and documents its default.
type SessionConfig struct {
	// Window is the most batches a sender keeps unacknowledged. Default
	// and maximum MaxInFlightBatches.
	Window int
	// BatchEvents and BatchBytes bound the batches a sender builds.
	// Default and maximum MaxBatchEvents and MaxBatchBytes.
	BatchEvents int
	BatchBytes  int
	// PingInterval spaces Pings. Default 1 s.
	PingInterval time.Duration
	// DeadAfter ends a session that received nothing for this long, and
	// bounds one Send. Default 5 s (five missed pings).
	DeadAfter time.Duration
	// RetryDelay is the pause before resending after Nack unavailable.
	// Default 250 ms.
	RetryDelay time.Duration
	// MaxPendingRequests bounds hold and void requests outstanding on a
	// session, each side. Default 256.
	MaxPendingRequests int
	// HoldServerTimeout bounds one HoldServer call on HQ (the store gave
	// up long before). Default 5 s.
	HoldServerTimeout time.Duration
	// Now stamps reported times (LinkState). Timers and durations use the
	// runtime's monotonic clock. Default time.Now.
	Now func() time.Time
	// Logger receives catch-up progress and session ends. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultSessionConfig returns a SessionConfig with every default filled.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		Window:             MaxInFlightBatches,
		BatchEvents:        MaxBatchEvents,
		BatchBytes:         MaxBatchBytes,
		PingInterval:       time.Second,
		DeadAfter:          5 * time.Second,
		RetryDelay:         250 * time.Millisecond,
		MaxPendingRequests: 256,
		HoldServerTimeout:  5 * time.Second,
		Now:                time.Now,
		Logger:             slog.Default(),
	}
}

func (c SessionConfig) withDefaults() SessionConfig {
	d := DefaultSessionConfig()
	setDefault(&c.Window, d.Window)
	setDefault(&c.BatchEvents, d.BatchEvents)
	setDefault(&c.BatchBytes, d.BatchBytes)
	setDefault(&c.PingInterval, d.PingInterval)
	setDefault(&c.DeadAfter, d.DeadAfter)
	setDefault(&c.RetryDelay, d.RetryDelay)
	setDefault(&c.MaxPendingRequests, d.MaxPendingRequests)
	setDefault(&c.HoldServerTimeout, d.HoldServerTimeout)
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c SessionConfig) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("syncproto: config: "+format, args...))
		}
	}
	check(c.Window >= 0 && c.Window <= MaxInFlightBatches, "Window %d not in 0..%d", c.Window, MaxInFlightBatches)
	check(c.BatchEvents >= 0 && c.BatchEvents <= MaxBatchEvents, "BatchEvents %d not in 0..%d", c.BatchEvents, MaxBatchEvents)
	check(c.BatchBytes >= 0 && c.BatchBytes <= MaxBatchBytes, "BatchBytes %d not in 0..%d", c.BatchBytes, MaxBatchBytes)
	check(c.PingInterval >= 0, "PingInterval %v negative", c.PingInterval)
	check(c.DeadAfter >= 0, "DeadAfter %v negative", c.DeadAfter)
	d := c.withDefaults()
	check(d.DeadAfter > d.PingInterval, "DeadAfter %v must exceed PingInterval %v", d.DeadAfter, d.PingInterval)
	check(c.RetryDelay >= 0, "RetryDelay %v negative", c.RetryDelay)
	check(c.MaxPendingRequests >= 0, "MaxPendingRequests %d negative", c.MaxPendingRequests)
	check(c.HoldServerTimeout >= 0, "HoldServerTimeout %v negative", c.HoldServerTimeout)
	return errors.Join(errs...)
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
