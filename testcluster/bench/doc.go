// Package bench measures a whole Patron chain in one process: three HQ
// Raft nodes and store nodes, each a real node.Node on its own bbolt file,
// joined by replication/chain over DTLS on loopback — the composition
// cmd/patron runs. It owns four scenarios, each on a fresh chain in its
// own temporary directory:
//
//   - HQThroughput: store events committed per second through Raft, with
//     many callers so that the leader groups many events per entry.
//   - Visibility: how long a sale completed at one store takes to reach
//     another store's log through HQ, under a load of many stores.
//   - CatchUp: how long a store that was offline takes to download what
//     accumulated at HQ meanwhile.
//   - HoldRoundTrip: an online redemption's hold (store → HQ leader →
//     Raft → reply), bare and inside a sale.
//
// Durability is the point of the figures, so fsync is on everywhere by
// default (Raft log, HQ nodes, stores); ChainConfig.NoSync exists for
// toy-sized tests only.
//
// Caveat: every process of the chain shares one machine (CPU, disk,
// loopback), so the figures are a floor for a real deployment where HQ
// nodes and stores have their own; they compare builds on one machine,
// not machines. The scenarios print what they ran (sizes, rates) next to
// what they measured, and a scenario that could not sustain its target
// rate says so rather than hiding it. cmd/chainbench prints them as a
// table; make bench runs it.
//
// The package must not be imported by anything but its command and its
// tests; it only drives the public APIs of node and replication.
package bench
