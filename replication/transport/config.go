package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxMessageBytes is the largest message Send accepts. 64 KiB holds a sync
// batch of a few hundred events (the sync protocol sizes its batches below
// it), and it is the SCTP message size every WebRTC stack accepts, so the
// receiver's reassembly memory per message stays small.
const MaxMessageBytes = 64 << 10

// MaxDatagramBytes is the largest UDP datagram a link ever sends: 1,200
// bytes passes every path MTU in practice (IPv6 guarantees 1,280 less
// headers), so IP never fragments a datagram and one lost fragment never
// loses a whole record.
const MaxDatagramBytes = 1200

// MinKeyBytes is the shortest pre-shared key accepted: 128 bits, the
// strength of the AES-128 cipher suite it keys.
const MinKeyBytes = 16

// MaxIdentityBytes bounds a PSK identity (a store or HQ id); RFC 4279
// allows 65,535 but ids are short, and a short bound keeps log lines and
// metric labels small.
const MaxIdentityBytes = 128

// LinkConfig is what both ends of a link configure alike. The zero value of
// every field means its default, as DefaultLinkConfig returns it; negative
// values are invalid.
type LinkConfig struct {
	// HandshakeTimeout bounds the DTLS and SCTP handshakes together.
	// Default 15 s: enough for a dozen handshake retransmissions at
	// FlightInterval on a lossy WAN, short enough that a peer which never
	// finishes frees its slot soon.
	HandshakeTimeout time.Duration

	// FlightInterval is the DTLS handshake retransmission interval.
	// Default 1 s (pion's), which suits WAN round trips; tests on loopback
	// set it to tens of milliseconds.
	FlightInterval time.Duration

	// RTOMax caps the SCTP retransmission timeout, including its
	// exponential backoff. Default 3 s: a link that comes back after an
	// outage resumes within seconds instead of pion's 60 s. pion's RTO
	// floor is 1 s, so a cap below it fixes the RTO at the cap (tests on
	// loopback use that to recover from loss in milliseconds).
	RTOMax time.Duration

	// MinCwndBytes is the floor of SCTP's congestion window. Default 0:
	// standard congestion control, which collapses to one packet per RTO
	// at heavy loss. A floor keeps a link known to be lossy (and tests at
	// 30% loss) moving, at the cost of fairness to other traffic; pion's
	// WebRTC exposes the same knob.
	MinCwndBytes int

	// MaxRecordsPerKey is how many DTLS records one side may send under
	// one key. Default and maximum 2^20: pion/dtls v2 draws AES-GCM
	// explicit nonces at random (CVE-2026-26014), so the chance of a nonce
	// repeat grows with the square of the records sent; at 2^20 it stays
	// below 2^-24. Send refuses with ErrRekey once seven eighths are used
	// (the rest is headroom for acknowledgements, retransmissions and the
	// shutdown), and no record past the limit is ever written.
	MaxRecordsPerKey uint64

	// MaxKeyAge is how long a Conn lives before it closes itself with
	// ErrRekey. Default and maximum 24 h, the re-key interval the
	// advisory asks for.
	MaxKeyAge time.Duration

	// KeepaliveInterval is how often each side sends a keepalive message.
	// Default 5 s.
	KeepaliveInterval time.Duration

	// IdleTimeout closes a Conn with ErrPeerTimeout when nothing (not even
	// a keepalive) arrived for this long. Default 30 s, six keepalives: a
	// dead peer or a cut link is noticed, one lost burst is not.
	IdleTimeout time.Duration

	// MaxSendBufferBytes is how much sent data may wait unacknowledged
	// before Send blocks. Default 1 MiB, pion's default receive window:
	// more would only queue at the sender.
	MaxSendBufferBytes int

	// RecvQueueMessages is how many received messages wait for Recv before
	// the link stops reading and SCTP flow control pushes back on the
	// sender. Default 64.
	RecvQueueMessages int

	// CloseTimeout bounds the graceful SCTP shutdown in Close that lets
	// sent data reach the peer. Default 2 s: on a dead link Close does not
	// hang.
	CloseTimeout time.Duration

	// Logger receives refused handshakes and link failures. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultLinkConfig returns the link configuration with every default
// filled in.
func DefaultLinkConfig() LinkConfig {
	return LinkConfig{
		HandshakeTimeout:   15 * time.Second,
		FlightInterval:     time.Second,
		RTOMax:             3 * time.Second,
		MaxRecordsPerKey:   maxRecordsPerKey,
		MaxKeyAge:          maxKeyAge,
		KeepaliveInterval:  5 * time.Second,
		IdleTimeout:        30 * time.Second,
		MaxSendBufferBytes: 1 << 20,
		RecvQueueMessages:  64,
		CloseTimeout:       2 * time.Second,
		Logger:             slog.Default(),
	}
}

// maxRecordsPerKey and maxKeyAge are the ceilings of the re-key limits; see
// LinkConfig.
const (
	maxRecordsPerKey = 1 << 20
	maxKeyAge        = 24 * time.Hour
)

// ClientConfig configures Dial.
type ClientConfig struct {
	// Identity is this node's id (store id), sent as the PSK identity.
	// Required.
	Identity string
	// Key is the pre-shared key HQ or the peer store holds for Identity.
	// Required, at least MinKeyBytes.
	Key []byte
	// ExpectPeer, if set, is the identity the server must announce; the
	// announcement is authenticated by the key. Default "": any server
	// that holds Key.
	ExpectPeer string
	// Link configures the link.
	Link LinkConfig
}

// ServerConfig configures Listen.
type ServerConfig struct {
	// Identity is this node's id, announced to clients (their Conn.Peer).
	// Required.
	Identity string
	// Keys returns the pre-shared key of a client identity. Required. It
	// is called from handshake goroutines and must be safe for concurrent
	// use.
	Keys func(identity string) (key []byte, ok bool)
	// MaxHandshakes is how many handshakes run at once; datagrams from
	// further new addresses are dropped until one ends. Default 64: a
	// chain's stores reconnecting together after an HQ restart get through
	// in a few rounds, and a flood of fake hellos costs bounded memory.
	MaxHandshakes int
	// MaxConns bounds the remote addresses served at once, handshakes
	// included. Default 1,024, well above a chain's stores.
	MaxConns int
	// Metrics, if non-nil, gets the listener's collectors registered.
	Metrics prometheus.Registerer
	// Link configures each accepted link.
	Link LinkConfig
}

func (c LinkConfig) withDefaults() LinkConfig {
	d := DefaultLinkConfig()
	setDefault(&c.HandshakeTimeout, d.HandshakeTimeout)
	setDefault(&c.FlightInterval, d.FlightInterval)
	setDefault(&c.RTOMax, d.RTOMax)
	setDefault(&c.MaxRecordsPerKey, d.MaxRecordsPerKey)
	setDefault(&c.MaxKeyAge, d.MaxKeyAge)
	setDefault(&c.KeepaliveInterval, d.KeepaliveInterval)
	setDefault(&c.IdleTimeout, d.IdleTimeout)
	setDefault(&c.MaxSendBufferBytes, d.MaxSendBufferBytes)
	setDefault(&c.RecvQueueMessages, d.RecvQueueMessages)
	setDefault(&c.CloseTimeout, d.CloseTimeout)
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c LinkConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"HandshakeTimeout", c.HandshakeTimeout}, {"FlightInterval", c.FlightInterval},
		{"RTOMax", c.RTOMax}, {"MaxKeyAge", c.MaxKeyAge}, {"KeepaliveInterval", c.KeepaliveInterval},
		{"IdleTimeout", c.IdleTimeout}, {"CloseTimeout", c.CloseTimeout},
	}
	for _, d := range durations {
		if d.d < 0 {
			bad("%s is negative", d.name)
		}
	}
	if c.MaxRecordsPerKey > maxRecordsPerKey {
		bad("MaxRecordsPerKey %d above %d", c.MaxRecordsPerKey, maxRecordsPerKey)
	}
	if c.MaxRecordsPerKey < 64 {
		bad("MaxRecordsPerKey %d below 64 leaves no room for a handshake", c.MaxRecordsPerKey)
	}
	if c.MaxKeyAge > maxKeyAge {
		bad("MaxKeyAge %v above %v", c.MaxKeyAge, maxKeyAge)
	}
	if c.IdleTimeout < 2*c.KeepaliveInterval {
		bad("IdleTimeout %v below twice KeepaliveInterval %v", c.IdleTimeout, c.KeepaliveInterval)
	}
	if c.MaxSendBufferBytes < 0 || c.RecvQueueMessages < 0 || c.MinCwndBytes < 0 {
		bad("negative MaxSendBufferBytes, RecvQueueMessages or MinCwndBytes")
	}
	return errs
}

func (c ClientConfig) withDefaults() ClientConfig {
	c.Link = c.Link.withDefaults()
	return c
}

func (c ClientConfig) validate() error {
	errs := c.Link.validate()
	errs = append(errs, validateIdentity("Identity", c.Identity)...)
	if len(c.Key) < MinKeyBytes {
		errs = append(errs, fmt.Errorf("%w: Key has %d bytes, want at least %d", ErrConfig, len(c.Key), MinKeyBytes))
	}
	return errors.Join(errs...)
}

func (c ServerConfig) withDefaults() ServerConfig {
	c.Link = c.Link.withDefaults()
	setDefault(&c.MaxHandshakes, 64)
	setDefault(&c.MaxConns, 1024)
	return c
}

func (c ServerConfig) validate() error {
	errs := c.Link.validate()
	errs = append(errs, validateIdentity("Identity", c.Identity)...)
	if c.Keys == nil {
		errs = append(errs, fmt.Errorf("%w: Keys is nil", ErrConfig))
	}
	if c.MaxHandshakes < 0 || c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("%w: negative MaxHandshakes or MaxConns", ErrConfig))
	}
	return errors.Join(errs...)
}

func validateIdentity(name, id string) []error {
	if id == "" || len(id) > MaxIdentityBytes {
		return []error{fmt.Errorf("%w: %s must have 1 to %d bytes", ErrConfig, name, MaxIdentityBytes)}
	}
	return nil
}
