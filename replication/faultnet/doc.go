// Package faultnet wraps a net.PacketConn so tests and the test cluster can
// inject the faults a WAN has: datagram loss, duplication, delay with jitter,
// reordering and partitions, per peer address and per direction, changeable
// while traffic flows.
//
// Every decision comes from one math/rand source seeded by Config.Seed, so a
// run replays exactly given the same sequence of calls (goroutine scheduling
// of the code under test can still vary the sequence; the seed fixes the
// fault pattern for a given one). Counters record what was injected by kind,
// for the soak summary line, and every datagram written larger than
// MaxDatagramBytes is counted as Oversize: the transport must never send one.
//
// A PacketConn owns the wrapped conn: Close closes it and stops the two
// goroutines the wrapper runs (the reader that applies inbound faults and the
// timer queue that releases delayed and held datagrams). It must not be used
// in production: it exists only to make failure reproducible.
package faultnet
