// Package testcluster runs whole Patron chains in one process — HQ Raft
// nodes, store nodes and simulated tills, all on loopback with their own
// temporary bbolt files — injects the faults the real world has (datagram
// loss, duplication, delay, reordering and partitions on store links, cut
// Raft links, crashes and restarts, clock skew), and checks the invariants
// of ARCHITECTURE.md with a checker that trusts only what tills were told
// and what each node's files hold.
//
// A seed drives the workload and the faults; it is printed at start and on
// failure, and -seed N replays a schedule exactly. Nothing imports this
// package: it is used by its own tests, make soak and make demo.
package testcluster
