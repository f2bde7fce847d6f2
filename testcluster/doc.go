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
// package: it is used by its own tests, make soak, make crashsoak and
// make demo.
//
// # Using it
//
//	c, err := testcluster.New(ctx, testcluster.Options{Seed: 7, OfflineAllowance: 50})
//	defer c.Close()
//	rec := &testcluster.Recorder{}
//	t1 := testcluster.NewTill(c.Store("S1"), "T1", rec, 1) // a real WebSocket till
//	t1.Enroll(ctx, testcluster.Mobile(1), 0)
//	c.Partition("S1", testcluster.BothWays)                 // faults: see faults.go
//	t1.Sale(ctx, "1", testcluster.Mobile(1), 2, 0, 1)       // 1 connection dropped mid-request, then retried
//	c.HealAll()
//	c.WaitConverged(ctx, testcluster.ConvergeBound)
//	views, _ := c.Views(ctx)
//	violations := testcluster.Check(rec.Ops(), views, testcluster.Limits{OfflineAllowance: 50, MaxPartitionedStores: 1})
//
// Run(ctx, Schedule{Seed: n}) does all of that from a seed: rounds of
// trading under random faults, each ended by a heal and a wait for
// convergence, then the checker. TestSchedules runs a few seeds in make
// test; go run ./testcluster/cmd/soak (make soak) runs as many as fit a
// duration and prints one summary line.
//
// # Real processes
//
// StartProcChain runs the same chain as real patron binaries (patron hq
// ×3, patron store ×3, certificates from patron hq certs, the programme
// loaded with patron hq programme load) on fixed loopback ports, and
// RunCrashSoak kills one of them at random with SIGKILL under till load,
// restarts it on its data directory and ports, again and again; at the
// end it waits for every /status to show the same events, stops the
// processes with SIGTERM, opens each bbolt file and runs Check. make
// crashsoak KILLS=100 (go run ./testcluster/cmd/crashsoak) prints one
// summary line; TestCrashSoakShort runs five kills in make test. The
// processes run production timing (sessions dead after 5 s, redial
// backoff up to 10 s), so convergence takes seconds, within
// ProcConvergeBound; their views carry no causal-order trace (the tracer
// lives in this process), the digests and vectors of their files do.
//
// # The demo
//
// make demo (go run ./testcluster/cmd/demo) runs a chain in this process
// with Cluster.Trade's tills and draws, once a second, each store's link
// to HQ, its lag and a few members' balances while a script cuts and
// heals links.
//
// # What is real and what is simulated
//
// Everything under test is the production code wired as cmd/patron wires
// it (replication/chain): Raft over mutual TLS on TCP, DTLS+SCTP store
// links on UDP, bbolt files, posbridge WebSocket servers, and tills that
// are posbridge clients. Faults enter below the code: store links' UDP
// sockets are wrapped in faultnet (StoreConfig.NewPacketConn), Raft's TCP
// connections in raftLinks (hq.Config.Dial, RaftListener), crashes
// close a node's sockets and files and reopen the same files, clocks are
// node.Config.Now with an offset.
//
// # Caveats
//
//   - Files are opened with NoSync (Options.Durable turns fsync on). In
//     one process a crash is a close: the OS keeps every page written, so
//     NoSync loses nothing here and the budget goes to faults, not disk
//     waits. Power loss is not simulated; the node's own tests and the
//     real-process mode (RunCrashSoak: fsync on, SIGKILL) cover fsync
//     short of power loss.
//   - A store crash is abrupt at the till side (connections cut at once)
//     but the node finishes the requests already inside it before its file
//     closes, as bbolt would have either committed them or not.
//   - Raft links are cut at the TCP connection, not per packet
//     (raftlinks.go, under hq.Config.Dial and RaftListener): CutRaft,
//     IsolateRaft and HealRaft close the connections between two HQ
//     nodes and hold new dials between them until the heal, as a
//     partition would; Raft traffic is never dropped, delayed or
//     reordered within a live connection (TCP would repair that anyway).
//   - The seed replays every choice (workload, faults, fault sockets), but
//     goroutine interleavings and the real network's timing are not
//     deterministic, so a replay repeats the schedule, not every race.
//   - The causal-order tracer (trace.go) keeps its own record of what each
//     node applied; after an HQ snapshot restore it takes the node's
//     vector as the new record.
//   - Node views come from node.Entries, node.Overdrafts and node.MemberIDs
//     (node/audit.go, added for this checker so that no member a till
//     never named can hide from conservation).
package testcluster
