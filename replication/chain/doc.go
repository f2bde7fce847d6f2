// Package chain assembles the replication parts into the two roles a
// Patron process plays in a chain: an HQ node (a Raft member whose DTLS
// listener accepts store sessions and commits their events and holds
// through Raft) and a store's link (a sync client that keeps a session to
// the HQ leader and, while HQ is away, to peer stores, and the hold
// authority the store's node redeems through).
//
// It is wiring, shared by cmd/patron and testcluster so both run exactly
// the same composition. It reaches the node only through replication's
// interfaces and owns every goroutine it starts: Close stops them all.
package chain
