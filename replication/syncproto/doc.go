// Package syncproto is the sync session protocol between two Patron nodes
// (store–HQ, store–store): the versioned wire messages, the Session that
// runs one exchange over a reliable ordered message connection, the
// store-side Client that keeps a session to HQ up (and to peer stores while
// HQ is away), the Server that accepts sessions, and the HoldClient that
// asks HQ for redemption holds over the current HQ session.
//
// A session is anti-entropy by version vector. Each side sends Hello with
// the vector of its log; each then streams, in bounded batches with at most
// MaxInFlightBatches unacknowledged, every event the other lacks (events of
// every origin, so a store relays to HQ what it got from peers and HQ
// relays to every store). The receiver commits a batch through its Applier
// before it answers Ack with its new vector; the sender learns what the
// peer holds only from Hello, Ack, Nack and Want, never from having sent.
// After the first exchange a session pushes each new commit of its log at
// once. A dropped connection costs a reconnect and a vector exchange:
// nothing is lost (the sender never assumed delivery) and nothing is
// applied twice (an event is identified by origin and sequence, and the
// log skips what it holds).
//
// The package is transport-agnostic: it reads and writes whole messages
// through MsgConn (the DTLS+SCTP transport in production, an in-memory
// pipe in tests) and a node's log only through replication.EventLog. It
// never decodes event payloads, and it must not import the transport, the
// HQ Raft cluster or the node: callers pass them in through the small
// interfaces declared here (MsgConn, Applier, HoldServer, dial and accept
// functions).
//
// Caveats: MaxMessageBytes bounds every message, so one version vector
// holds at most MaxOrigins origins. An event of more than MaxBatchBytes
// travels alone as EventChunks, up to MaxChunkedEventBytes (1 MiB, HQ's
// bound on an event); a log holding a larger event ends the session with
// ErrEventTooLarge rather than send what the peer would refuse. Timers run
// on the real clock; Now is used for timestamps only.
package syncproto
