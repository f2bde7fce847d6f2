// Package replication makes Patron nodes converge: per-origin event logs
// exchanged by version vector between any two nodes (store–HQ, store–store)
// over DTLS, the HQ Raft cluster whose FSM commits store events before HQ
// acknowledges them, and redemption holds that HQ grants so online
// redemptions never overdraw.
//
// It reaches a node only through the interfaces it declares (EventLog,
// HoldStore): it never imports package node, and it treats events as
// opaque bytes identified by (origin, seq). It must not interpret event
// payloads — that is the engine's fold.
package replication
