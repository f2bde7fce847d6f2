package transport

// This file holds every use of github.com/pion/dtls: moving to dtls/v3
// (which fixes CVE-2026-26014) changes this file only.

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v2"
)

// dtlsRecordOverheadBytes is what DTLS adds to each record of the one
// cipher suite used, TLS_PSK_WITH_AES_128_GCM_SHA256: a 13-byte record
// header, the 8-byte explicit nonce and the 16-byte GCM tag. Each SCTP
// packet is written as one record in one datagram, so the SCTP MTU is
// MaxDatagramBytes less this.
const dtlsRecordOverheadBytes = 13 + 8 + 16

// dtlsParams are the handshake settings both sides share.
type dtlsParams struct {
	flightInterval time.Duration
	logs           pionLogs
}

// refusal says why a server handshake failed, for the log and the
// counters.
type refusal string

const (
	refusedUnknownIdentity refusal = "unknown_identity" // no key for the identity
	refusedFailed          refusal = "failed"           // identity known: wrong key, or it did not finish in time
	refusedIncomplete      refusal = "incomplete"       // never reached the key exchange (silent or slow peer, garbage)
)

// handshakeError is a failed server handshake.
type handshakeError struct {
	identity string // "" when the client never sent one
	reason   refusal
	err      error
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("transport: handshake from %q refused (%s): %v", e.identity, e.reason, e.err)
}

func (e *handshakeError) Unwrap() error { return e.err }

// dtlsClient runs the client handshake over nc and returns the secured
// conn and the identity the server announced.
func dtlsClient(ctx context.Context, nc net.Conn, identity string, key []byte, p dtlsParams) (net.Conn, string, error) {
	var (
		mu     sync.Mutex
		server string
	)
	cfg := baseConfig(p)
	cfg.PSKIdentityHint = []byte(identity)
	cfg.PSK = func(hint []byte) ([]byte, error) {
		mu.Lock()
		server = string(hint)
		mu.Unlock()
		return key, nil
	}
	conn, err := dtls.ClientWithContext(ctx, nc, cfg)
	if err != nil {
		return nil, "", err
	}
	mu.Lock()
	defer mu.Unlock()
	return conn, server, nil
}

// dtlsServer runs the server handshake over nc and returns the secured conn
// and the client's identity. An identity without a key gets a random key
// instead of an alert, so the client cannot tell an unknown identity from
// a wrong key: both handshakes simply never finish.
func dtlsServer(ctx context.Context, nc net.Conn, identity string, keys func(string) ([]byte, bool), p dtlsParams) (net.Conn, string, error) {
	var (
		mu      sync.Mutex
		client  string
		asked   bool
		unknown bool
	)
	cfg := baseConfig(p)
	cfg.PSKIdentityHint = []byte(identity)
	cfg.PSK = func(id []byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		client, asked = string(id), true
		if len(id) > 0 && len(id) <= MaxIdentityBytes {
			if key, ok := keys(client); ok {
				return key, nil
			}
		}
		unknown = true
		decoy := make([]byte, MinKeyBytes)
		_, _ = rand.Read(decoy) // never fails (crypto/rand)
		return decoy, nil
	}
	conn, err := dtls.ServerWithContext(ctx, nc, cfg)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		e := &handshakeError{identity: client, reason: refusedIncomplete, err: err}
		switch {
		case unknown:
			e.reason = refusedUnknownIdentity
		case asked:
			e.reason = refusedFailed
		}
		return nil, client, e
	}
	return conn, client, nil
}

func baseConfig(p dtlsParams) *dtls.Config {
	return &dtls.Config{
		CipherSuites:         []dtls.CipherSuiteID{dtls.TLS_PSK_WITH_AES_128_GCM_SHA256},
		ExtendedMasterSecret: dtls.RequireExtendedMasterSecret,
		FlightInterval:       p.flightInterval,
		MTU:                  MaxDatagramBytes,
		LoggerFactory:        p.logs,
	}
}

// isDTLSHandshake reports whether a datagram starts with a DTLS handshake
// record (content type 22), the only thing a new address may send.
func isDTLSHandshake(b []byte) bool { return len(b) > 0 && b[0] == 22 }
