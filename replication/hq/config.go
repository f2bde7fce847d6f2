package hq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/patron/patron/replication"
	"github.com/prometheus/client_golang/prometheus"
)

// Hard limits of the command encoding. They are constants, not
// configuration, because every node must decode every entry the same way:
// a limit that differed between nodes would make the FSM diverge.
const (
	// MaxIDBytes bounds an origin, hold, store or member id. Hold ids are
	// "<store>-<terminal>-<receipt_no>", far below it; the node accepts
	// ids up to engine.MaxEventIDLen (256).
	MaxIDBytes = 128
	// MaxEventBytes bounds one event's encoded form. Events are a sale or
	// a profile change (hundreds of bytes); the bound keeps one event from
	// filling a Raft entry.
	MaxEventBytes = 1 << 20
	// MaxEntryEvents bounds the events of one Raft entry as decoded.
	// Config.MaxBatchEvents may not exceed it. It stays below the node's
	// MaxApplyEvents (10,000), which refuses larger batches with an error
	// the FSM would take for a store failure.
	MaxEntryEvents = 8192
	// MaxEntryBytes bounds one encoded Raft entry. An entry is sent to
	// every follower in one AppendEntries RPC and held in memory while it
	// is applied; Config.MaxBatchBytes + MaxEventBytes stays below it.
	MaxEntryBytes = 16 << 20
	// maxBatchBytesLimit is the largest Config.MaxBatchBytes accepted, so
	// that a full batch plus one oversized event still fits MaxEntryBytes.
	maxBatchBytesLimit = MaxEntryBytes/2 - MaxEventBytes
)

// Server names one member of the HQ cluster.
type Server struct {
	ID   string // raft server id, e.g. "HQ1"
	Addr string // raft address host:port, as the others dial it
}

// Config configures an HQ node. ID, Dir, TLS, Store and one of
// RaftListener or RaftAddr are required; the zero value of every other
// field is valid and its comment gives the default.
type Config struct {
	// ID is this node's raft server id ("HQ1"). Required; at most
	// MaxIDBytes.
	ID string
	// Dir holds the raft log and stable store (raft.db, bbolt through
	// raft-boltdb) and the snapshot files. Required; created if missing.
	Dir string

	// RaftListener is the TCP listener raft serves on; Close closes it.
	// Default: listen on RaftAddr.
	RaftListener net.Listener
	// RaftAddr is the address to listen on when RaftListener is nil.
	RaftAddr string
	// AdvertiseAddr is the address other nodes dial to reach this one.
	// Default the listener's address, which must then not be unspecified
	// (0.0.0.0 or ::).
	AdvertiseAddr string
	// TLS is the mutual-TLS configuration between HQ nodes: this node's
	// certificate (Certificates), the cluster CA (RootCAs and ClientCAs).
	// Required. Whatever ClientAuth says, peers must present a certificate
	// that ClientCAs verifies. When ServerName is empty the host of the
	// dialled address is verified against the peer certificate. See
	// NewCA and LoadTLS.
	TLS *tls.Config
	// DialTimeout bounds connecting to a peer, TLS handshake included,
	// and an accepted peer's handshake. Default 5 s.
	DialTimeout time.Duration
	// Dial opens the TCP connection to a peer's raft address; the TLS
	// handshake then runs over it. ctx carries the DialTimeout deadline.
	// Tests use it to put a fault layer under Raft's connections.
	// Default: a net.Dialer on "tcp".
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// IOTimeout bounds one raft RPC on the wire (the transport scales it
	// for snapshots). Default 10 s.
	IOTimeout time.Duration

	// Bootstrap is the initial voter set, this node included. It is used
	// only when Dir holds no raft state yet, so passing it on every start
	// is safe; every initial member must pass the same list. Default none:
	// the node waits to be added by AddVoter on the leader.
	Bootstrap []Server

	// Store is the state the FSM applies to (a *node.Node). Required.
	Store replication.HoldStore

	// Logger receives the node's and raft's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock the leader stamps holds and expiry cutoffs with.
	// Default time.Now.
	Now func() time.Time
	// Metrics, when set, receives the node's collectors (see metrics.go).
	// Default none.
	Metrics prometheus.Registerer

	// HoldTTL is how long a pending hold lives unposted before the
	// leader expires it. Default 2 min: a till's redemption completes in
	// seconds, and a point held too long is a point a member cannot use.
	HoldTTL time.Duration
	// ExpireInterval is how often the leader proposes ExpireHolds.
	// Default HoldTTL/8: an unposted hold is released at most an eighth
	// of its TTL late.
	ExpireInterval time.Duration

	// MaxBatchEvents bounds the events grouped into one Raft entry: a
	// larger entry delays every caller in it and its apply holds the
	// store's write transaction longer. Default 4096; at most
	// MaxEntryEvents.
	MaxBatchEvents int
	// MaxBatchBytes bounds the event bytes grouped into one Raft entry
	// (an event larger than it goes alone): the entry is one RPC to each
	// follower and one write. Default 1 MiB; at most 7 MiB.
	MaxBatchBytes int
	// MaxPendingAppends bounds the AppendEvents calls queued for the
	// proposer; more callers wait (honouring ctx), which is the
	// back-pressure the sync layer feels. Default 1024.
	MaxPendingAppends int
	// EnqueueTimeout bounds how long a proposal waits to enter raft's
	// apply queue. Default 5 s.
	EnqueueTimeout time.Duration

	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and
	// CommitTimeout are raft's (see raft.Config). Defaults are raft's
	// production ones: 1 s, 1 s, 500 ms, 50 ms. Loopback tests use
	// shorter ones.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotInterval and SnapshotThreshold say when raft snapshots the
	// FSM (checked every interval, taken when that many entries were
	// applied since the last). Defaults 2 min and 8192.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot,
	// so a briefly lagging follower catches up without a snapshot.
	// Default 10240.
	TrailingLogs uint64
	// SnapshotsRetained is how many snapshot files are kept. Default 2.
	SnapshotsRetained int

	// NoSync skips fsync in the raft log store. Tests only: an
	// acknowledged entry may be lost on power failure.
	NoSync bool
}

// DefaultConfig returns a Config with every default filled in; the
// required fields are left to the caller.
func DefaultConfig() Config {
	return Config{
		DialTimeout:        5 * time.Second,
		IOTimeout:          10 * time.Second,
		Logger:             slog.Default(),
		Now:                time.Now,
		HoldTTL:            2 * time.Minute,
		ExpireInterval:     2 * time.Minute / 8,
		MaxBatchEvents:     4096,
		MaxBatchBytes:      1 << 20,
		MaxPendingAppends:  1024,
		EnqueueTimeout:     5 * time.Second,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotInterval:   2 * time.Minute,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		SnapshotsRetained:  2,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setDur(&c.DialTimeout, d.DialTimeout)
	setDur(&c.IOTimeout, d.IOTimeout)
	setDur(&c.HoldTTL, d.HoldTTL)
	if c.ExpireInterval == 0 {
		c.ExpireInterval = c.HoldTTL / 8
	}
	setDur(&c.EnqueueTimeout, d.EnqueueTimeout)
	setDur(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDur(&c.ElectionTimeout, d.ElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDur(&c.CommitTimeout, d.CommitTimeout)
	setDur(&c.SnapshotInterval, d.SnapshotInterval)
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = d.MaxBatchEvents
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = d.MaxBatchBytes
	}
	if c.MaxPendingAppends == 0 {
		c.MaxPendingAppends = d.MaxPendingAppends
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.SnapshotsRetained == 0 {
		c.SnapshotsRetained = d.SnapshotsRetained
	}
	return c
}

// Validate reports every problem of the configuration at once. Zero
// fields that have a default are not problems.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("hq: config: "+format, args...))
	}
	c = c.withDefaults()
	if c.ID == "" || len(c.ID) > MaxIDBytes {
		bad("ID must be 1 to %d bytes", MaxIDBytes)
	}
	if c.Dir == "" {
		bad("Dir is required")
	}
	if c.RaftListener == nil && c.RaftAddr == "" {
		bad("RaftListener or RaftAddr is required")
	}
	if c.RaftListener != nil && c.RaftAddr != "" {
		bad("set RaftListener or RaftAddr, not both")
	}
	errs = append(errs, validateTLS(c.TLS)...)
	if c.Store == nil {
		bad("Store is required")
	}
	errs = append(errs, c.validateBootstrap()...)
	if c.MaxBatchEvents < 1 || c.MaxBatchEvents > MaxEntryEvents {
		bad("MaxBatchEvents %d must be 1 to %d", c.MaxBatchEvents, MaxEntryEvents)
	}
	if c.MaxBatchBytes < 1 || c.MaxBatchBytes > maxBatchBytesLimit {
		bad("MaxBatchBytes %d must be 1 to %d", c.MaxBatchBytes, maxBatchBytesLimit)
	}
	if c.MaxPendingAppends < 1 {
		bad("MaxPendingAppends %d must be positive", c.MaxPendingAppends)
	}
	for name, d := range map[string]time.Duration{
		"DialTimeout": c.DialTimeout, "IOTimeout": c.IOTimeout, "HoldTTL": c.HoldTTL,
		"ExpireInterval": c.ExpireInterval, "EnqueueTimeout": c.EnqueueTimeout,
	} {
		if d < 0 {
			bad("%s %v must not be negative", name, d)
		}
	}
	if c.SnapshotsRetained < 1 {
		bad("SnapshotsRetained %d must be positive", c.SnapshotsRetained)
	}
	if c.ID != "" {
		if err := raft.ValidateConfig(c.raftConfig(nil)); err != nil {
			bad("raft: %v", err)
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateBootstrap() []error {
	if len(c.Bootstrap) == 0 {
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	self := false
	for _, s := range c.Bootstrap {
		if s.ID == "" || s.Addr == "" {
			errs = append(errs, fmt.Errorf("hq: config: Bootstrap server %+v needs ID and Addr", s))
		}
		if seen[s.ID] {
			errs = append(errs, fmt.Errorf("hq: config: Bootstrap names %q twice", s.ID))
		}
		seen[s.ID] = true
		self = self || s.ID == c.ID
	}
	if !self {
		errs = append(errs, fmt.Errorf("hq: config: Bootstrap must include this node %q", c.ID))
	}
	return errs
}

func validateTLS(t *tls.Config) []error {
	if t == nil {
		return []error{errors.New("hq: config: TLS is required (mutual TLS between HQ nodes)")}
	}
	var errs []error
	if len(t.Certificates) == 0 && t.GetCertificate == nil {
		errs = append(errs, errors.New("hq: config: TLS has no certificate"))
	}
	if t.RootCAs == nil {
		errs = append(errs, errors.New("hq: config: TLS.RootCAs (the cluster CA) is required"))
	}
	if t.ClientCAs == nil {
		errs = append(errs, errors.New("hq: config: TLS.ClientCAs (the cluster CA) is required"))
	}
	if t.InsecureSkipVerify {
		errs = append(errs, errors.New("hq: config: TLS.InsecureSkipVerify is not allowed"))
	}
	return errs
}

// raftConfig derives raft's configuration. logger may be nil (validation).
func (c Config) raftConfig(logger *slog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	// Concurrent proposals (holds, expiry, event batches) share one
	// log write.
	rc.BatchApplyCh = true
	// The FSM is the durable HoldStore: it already holds everything up to
	// its AppliedIndex, so restoring the last snapshot on every start
	// would only throw newer state away. Open restores a snapshot itself
	// when the store is behind it.
	rc.NoSnapshotRestoreOnStart = true
	rc.NoLegacyTelemetry = true
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rc.Logger = newHCLogger(logger, "raft")
	return rc
}
