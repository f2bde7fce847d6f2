// Package hq is the HQ Raft cluster: 3 or 5 `patron hq` nodes that commit
// store events and redemption holds through hashicorp/raft before HQ
// acknowledges them, so an acknowledged event or hold survives the loss of
// any minority of HQ nodes.
//
// It owns the raft instance, its log and stable store (raft-boltdb/v2 on
// bbolt, in Config.Dir), its snapshot files, the mutual-TLS stream between
// HQ nodes, the command encoding of Raft entries and the FSM. The state
// itself is the replication.HoldStore it is given (a *node.Node): the FSM
// calls it with each entry's index and keeps nothing of its own. It must
// not speak the store-sync protocol (the sync layer calls this package and
// forwards to the leader) and must not interpret event payloads.
//
// # Using it
//
//	ca, _ := hq.NewCA("dev")                       // or hq.LoadTLS(cert, key, caFile)
//	tlsCfg, _ := ca.NodeTLS("HQ1")
//	n, err := hq.Open(ctx, hq.Config{
//		ID: "HQ1", Dir: "data/hq1", RaftAddr: "10.0.0.1:7000", TLS: tlsCfg,
//		Bootstrap: []hq.Server{{"HQ1", "10.0.0.1:7000"}, {"HQ2", "10.0.0.2:7000"}, {"HQ3", "10.0.0.3:7000"}},
//		Store: node,
//	})
//	defer n.Close()
//	vv, err := n.AppendEvents(ctx, events)     // leader: many callers share one entry
//	d, err := n.PlaceHold(ctx, hold)            // leader: granted or refused, idempotent by id
//
// Leader-only calls (AppendEvents, PlaceHold, VoidHold, ExpireHolds,
// AddVoter, RemoveServer) return *NotLeaderError on a follower, naming
// the leader to forward to; nothing was proposed.
//
// # Caveats
//
// An error wrapping ErrUnknownOutcome (leadership lost or node shut down
// while the entry was in flight, or ctx ended) does not mean failure: the
// entry may still commit. Retry with the same events or hold id — at the
// new leader — since both are idempotent by id. Never report such a call
// as failed to a till or a store without retrying.
//
// A HoldStore error other than engine.ErrEventGap or engine.ErrBadEvent is
// taken as this replica's failure: the node stops itself (Failed, Err)
// rather than diverge, and a restart re-applies from the store's
// AppliedIndex. See DESIGN.md.
package hq
