// Package transport is the link between two Patron nodes (store–HQ,
// store–store): reliable, ordered, message-preserving and mutually
// authenticated, over UDP.
//
// A link is SCTP over DTLS 1.2, as WebRTC data channels are: pion/dtls v2
// authenticates both ends with a pre-shared key (the PSK identity is the
// store id; the server announces its own id as the identity hint) and
// encrypts; pion/sctp on top retransmits, reorders, drops duplicates and
// keeps message boundaries, because DTLS itself does none of that. Every
// UDP datagram is at most MaxDatagramBytes.
//
// Basics:
//
//	ln, err := transport.Listen(pc, transport.ServerConfig{Identity: "HQ1", Keys: keys})
//	c, err := ln.Accept(ctx)           // c.Peer() is the store id
//	c, err := transport.Dial(ctx, pc, hqAddr, transport.ClientConfig{Identity: "S001", Key: key})
//	err = c.Send(ctx, msg)             // up to MaxMessageBytes
//	msg, err := c.Recv(ctx)
//
// Dial and Listen borrow the net.PacketConn they are given (tests wrap it
// with package faultnet); the caller closes it after the Conn or Listener.
//
// Caveats:
//   - Send returning nil means queued, not delivered. Whatever must survive
//     a broken link is acknowledged by the peer at the application level
//     and resent on the next link; sync sessions do exactly that.
//   - A Conn closes itself with ErrRekey after MaxRecordsPerKey records or
//     MaxKeyAge (CVE-2026-26014: pion/dtls v2 uses random AES-GCM nonces).
//     The caller dials again; sync sessions resume from version vectors, so
//     a re-key costs one handshake and nothing is resent that was
//     acknowledged.
//   - A client with an unknown identity and one with a wrong key see the
//     same thing: a handshake that never finishes (ErrHandshake). The
//     server logs and counts both (Listener.Stats, and the
//     patron_transport_handshakes_total metric).
//   - Plain PSK has no forward secrecy: whoever learns a store key can
//     read recorded traffic of that store. Keys are per store and
//     rotated by configuration.
//
// All use of pion/dtls is in dtls.go, so moving to dtls/v3 is local. The
// package must not interpret messages: that is the sync protocol's job.
// DESIGN.md explains the choices.
package transport
