package syncproto

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrMalformed is matched by every decoding failure: a message that is
	// truncated, carries trailing bytes, breaks a limit or is not in
	// canonical form.
	ErrMalformed = errors.New("syncproto: malformed message")
	// ErrVersion is matched when a message's wire version or a Hello's
	// protocol version is not this build's.
	ErrVersion = errors.New("syncproto: unsupported version")
	// ErrTooLarge is matched when a message exceeds MaxMessageBytes, a
	// batch exceeds MaxBatchEvents or MaxBatchBytes, or a chunked event
	// exceeds MaxChunkedEventBytes.
	ErrTooLarge = errors.New("syncproto: message too large")
	// ErrProtocol ends a session whose peer broke the protocol: a message
	// out of turn, an Ack for a batch not in flight, more batches in
	// flight than the window, a role that does not pair with ours.
	ErrProtocol = errors.New("syncproto: protocol violation")
	// ErrPeerSilent ends a session when nothing arrived for DeadAfter.
	ErrPeerSilent = errors.New("syncproto: peer silent")
	// ErrPeerRefused ends a session whose peer refused an event as
	// malformed (Nack bad): resending it cannot help.
	ErrPeerRefused = errors.New("syncproto: peer refused an event as malformed")
	// ErrEventTooLarge ends a session when the local log holds an event
	// of more than MaxChunkedEventBytes (1 MiB), which no session can
	// carry.
	ErrEventTooLarge = errors.New("syncproto: event larger than MaxChunkedEventBytes")
	// ErrSessionClosed is returned by a request on a session that ended.
	ErrSessionClosed = errors.New("syncproto: session closed")
	// ErrInvalidHold is what a HoldServer wraps to refuse a malformed
	// hold or void request; the store gets it back (wrapped).
	ErrInvalidHold = errors.New("syncproto: invalid hold request")
	// ErrServerClosed is returned by Server.Serve after Close.
	ErrServerClosed = errors.New("syncproto: server closed")
	// ErrTooManyRequests is returned by a hold or void request when
	// MaxPendingRequests are already waiting on the session.
	ErrTooManyRequests = errors.New("syncproto: too many pending requests")
)

// RedirectError sends a store to the HQ leader. An Applier, HoldServer or
// Admit hook returns it (the HQ wiring maps a Raft NotLeader to it when it
// cannot forward); the session then sends Redirect and ends. On the store
// side, Session.Run returns it when the peer sent Redirect, and Client
// dials LeaderAddr next.
type RedirectError struct {
	LeaderID   string
	LeaderAddr string // empty when unknown
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("syncproto: redirected to HQ leader %q at %q", e.LeaderID, e.LeaderAddr)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("syncproto: "+format+": %w", append(args, ErrMalformed)...)
}
