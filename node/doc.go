// Package node is one running Patron node: bbolt storage, the member
// registry, cards and their maintenance log, the point ledger, receipts and
// returns with their idempotency, coupons, OTPs, terminals and the
// programme. Its Node type is the service API that bridges (posbridge)
// call; every acknowledged mutation is committed with fsync before the call
// returns.
//
// The node performs what the engine decides: it loads state from bbolt,
// asks the engine to evaluate, and writes the results in one transaction.
// It must not speak any wire protocol itself.
//
// # Using it
//
//	n, err := node.Open(ctx, node.Config{Path: "patron.db", Store: "S001"})
//	defer n.Close()
//	n.LoadProgramme(ctx, doc)
//	rc, err := n.CompleteSale(ctx, "T01", req)
//
// Methods take ctx first and, when a till asked, the terminal id second.
// They return the api.go result types. A business refusal is an
// *engine.Refusal (errors.As) whose Reason is the protocol's data.reason;
// every other error is a failure (see errors.go for the sentinels).
//
// # Group commit
//
// Every mutation runs in one bbolt write transaction through the group
// committer (groupcommit.go): a lone sale commits at once, and sales that
// arrive while a commit runs share the next fsync (up to BatchMaxSize). A sale
// does all of its reads, checks, evaluation and writes inside the
// transaction function: two sales of one member serialise there and the
// second sees the first's redemption, so online redemption never
// overdraws. The committer may run a function more than once, so functions reset
// what they capture; a refusal decided inside is captured and the function
// returns nil, so it never aborts the other sales of its group (writes a
// refused call made, such as an OTP try count, commit with the group).
// Once handed to Batch, a write completes even if ctx ends, so an answer is
// never lost between commit and return. Subscribers are called after the
// commit, with no lock held.
//
// # Events
//
// Every mutation (enrolment, profile, consents, card issue and block,
// sale, return or void, programme load) is one engine.Event appended by
// emit: origin Config.Origin (default the store), the next sequence of
// that origin, the next HLC reading of the node's persisted clock. It is
// stored in the events bucket and folded into the materialized state by
// applyEvent — the same code ApplyEvents runs for events received from
// other nodes — in the same transaction. The state is therefore a fold of
// the events held and comes out identical on every node that holds the
// same events (StateDigest compares it): member registers are
// last-writer-wins (engine.MemberState), ledger entries a set keyed by id
// listed by (time, id), coupon uses a set where a return's release wins,
// and the current programme is the one of the latest programme event.
// Answers to tills (for replays), OTPs, terminals, HQ holds and overdraft
// reports are local to the node. The node implements replication's
// EventLog and HoldStore; cmd/patron checks that at compile time.
//
// # SMS outbox
//
// With Config.SMS set, texts (OTPs; the points a sale earned or redeemed,
// with the new balance) are queued in the outbox buckets in the
// transaction of the event that causes them, under a stable id, and one
// goroutine owned by the node delivers them with retries and back-off
// (outbox.go, docs/sms.md). Delivery is at least once; marketing texts
// need the sms_marketing consent at queue and at send time. The senders
// are in node/sms.
//
// # Storage
//
// Bucket names are in store.go. Numeric key parts are big-endian; JSON
// records carry a "v" version and decode strictly; binary values start
// with a version byte. The meta bucket holds the schema version, checked
// at Open: a newer file is refused with a *SchemaVersionError.
//
// # Decisions where the protocol is silent
//
//   - Receipts are keyed by receipt id "<store>-<terminal>-<receipt_no>";
//     store and terminal ids are letters, digits, '_' and '.', so the id
//     names one (terminal, receipt_no). The fingerprint is the sha256 of
//     the params re-encoded with the otp cleared and absent lists empty.
//   - A replayed sale returns the stored receipt re-decoded; it encodes to
//     the stored bytes exactly.
//   - Omitted tenders are not checked; given tenders must add up to the net
//     and their "points" amounts to redeem.points × point_value.
//   - A basket the engine finds malformed is refused at the evaluation
//     step (after replay, member and coupon checks), not before them.
//   - Returns are idempotent on (receipt_id, return_no) whatever the
//     terminal; the spend they take back comes off the sale's day, so the
//     tier window stays right. Voiding a fully returned receipt is
//     invalid_params.
//   - An OTP authorises a redemption of up to the points it was asked
//     for. Asking again while it is valid re-sends the same code (it is
//     derived from a node key and stored hashed; otp.go, docs/otp.md) and
//     keeps its wrong tries. More than OTPMaxSends per member or
//     OTPTerminalMaxSends per terminal per OTPSendWindow is refused with
//     the additive reason otp_rate_limited. A sale without an OTP, or with
//     one when none is pending, is otp_required. redeem.otp_kind "totp"
//     takes the member's authenticator code instead (authenticator.go).
//   - A coupon is valid while its campaign is in the current programme;
//     codes of older programme versions stay stored. Generated codes are
//     derived (GeneratedCouponCode) and are not secret from holders of
//     the programme document.
//   - Receipt offers and Member.Offers are the member's usable personal
//     offers; Member.Stale is true while Config.Authority reports HQ
//     unreachable (never without an Authority).
//   - Notifications (Subscribe) follow sales, returns, consents, card
//     issue and block, local or received; not enrolment or profile
//     updates.
//   - Two members claiming one card or e-mail (enrolled offline at two
//     stores) are both indexed; a look-up finds the smallest member id.
//   - With an Authority, a wrong OTP is refused before HQ is asked for a
//     hold; offline, a redemption above the last known balance is
//     insufficient_points and one above offline_allowance_points is
//     offline_limit (the protocol's order: balance, then allowance).
//   - Return ledger entry ids name the origin that took the return, so
//     the same return_no used at two stores offline is two returns.
package node
