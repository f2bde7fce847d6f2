package transport

import "errors"

var (
	// ErrConfig is returned by Dial and Listen for an invalid
	// configuration; the error joins every problem found.
	ErrConfig = errors.New("transport: invalid config")
	// ErrClosed is returned by a Conn or Listener that was closed locally.
	ErrClosed = errors.New("transport: closed")
	// ErrRekey is returned when a Conn closed itself because its key has
	// sent MaxRecordsPerKey records (less headroom) or lived MaxKeyAge.
	// The caller dials again; sync sessions resume from version vectors,
	// so this costs one handshake.
	ErrRekey = errors.New("transport: key exhausted, dial again")
	// ErrPeerTimeout is returned when nothing arrived from the peer for
	// IdleTimeout.
	ErrPeerTimeout = errors.New("transport: peer silent")
	// ErrPeerClosed is returned when the peer closed the link.
	ErrPeerClosed = errors.New("transport: peer closed")
	// ErrMessageTooLarge is returned by Send for a message above
	// MaxMessageBytes.
	ErrMessageTooLarge = errors.New("transport: message too large")
	// ErrHandshake is returned by Dial when the handshake failed: wrong
	// key, unknown identity (both look the same to the client, on
	// purpose), no server, or timeout.
	ErrHandshake = errors.New("transport: handshake failed")
	// ErrPeerMismatch is returned by Dial when the server announced an
	// identity other than ClientConfig.ExpectPeer.
	ErrPeerMismatch = errors.New("transport: unexpected peer identity")
)
