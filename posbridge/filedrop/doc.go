// Package filedrop is the file bridge for legacy tills that cannot speak
// the POS protocol: they write a file per bill (ARTS/NRF POSLog or our bill
// XML, see posbridge/poslog and docs/bill-xml.md) into an inbox folder and
// read offer files back from an outbox folder (docs/offer-file.md). It
// owns the inbox and outbox and the goroutine of Run; it records sales and
// returns only through the node's service calls, the same ones the
// WebSocket till makes (see Node), and must not touch the node's storage
// or parse XML itself.
//
// # Using it
//
//	b, err := filedrop.New(n, filedrop.Config{Inbox: "in", Outbox: "out"})
//	go func() { errc <- b.Run(ctx) }() // until ctx ends
//
// Run polls the inbox every PollInterval (no change notification: polling
// works the same on local disks and network shares and needs no
// dependency). A file is read once its size and mtime have stayed the same
// for StableFor, or at once when it was renamed in with an older mtime.
// Names starting with "." or "~" and ending in .tmp, .part, .partial,
// .crdownload or .error are never read, nor are symlinks and folders: a
// till that writes under such a name and renames the finished file is
// always safe; one that writes in place must not pause longer than
// StableFor. Files go oldest mtime first, one at a time, so a return comes
// after its sale when the till wrote them in that order.
//
// # Exactly once
//
// Each transaction maps to a node terminal and receipt number derived only
// from its identity in the file: terminal = TerminalPrefix + WorkstationID
// ("31" → "W31"; bytes other than letters, digits and '.' are written
// _XX), receipt_no = BusinessDayDate "." SequenceNumber
// ("2017-10-01.114"), or "id." TransactionID when there is no business day
// and sequence number. The node is idempotent on (terminal, receipt_no):
// the same transaction sent again gets the stored receipt back and changes
// nothing; the same identity with different content is refused with
// receipt_conflict and the file goes to failed/. A return's return_no is
// its own terminal "." receipt_no, and it is idempotent the same way. So a
// file dropped twice, under another name, or again after a crash changes
// nothing, and its offer files are rewritten byte for byte.
//
// RetailStoreID must be the node's store id; another store's transaction
// (a misrouted or forged file) fails the file.
//
// # Nothing half-applied
//
// A file is mapped whole before anything is sent. If any transaction
// cannot be mapped (wrong store, unusable identity, other currency, bad
// quantity, a return that names no original, ...) the file goes to
// failed/ and nothing of it was sent, every problem listed in the .error
// file. Otherwise its transactions are sent in file order; the first one
// the node refuses (member_not_found, otp_required, receipt_conflict,
// insufficient_points, an original sale it does not hold, ...) stops the
// file, which goes to failed/ naming that transaction and reason. The
// transactions before it stay recorded: they are complete sales, each
// idempotent, so once the cause is fixed (the member enrolled, the original
// processed) the same file is put back in the inbox and completes, the
// earlier transactions replaying unchanged. A file is moved only after all
// of this; a crash before the move leaves it in the inbox to be processed
// again, which changes nothing. Failures that are not the file's (the node
// closed or unavailable, a disk error) leave the file in the inbox.
//
// Failed files move to Inbox/failed/ with <name>.error beside them; done
// ones to Inbox/processed/. A name already taken there gets a number
// before its extension (bill.1.xml).
//
// # What a transaction becomes
//
//   - Training, cancelled (or voided) and suspended transactions, control
//     and other non-retail transactions, retail transactions without
//     lines, and those poslog could not represent are skipped and counted.
//   - A sale becomes node CompleteSale. Each line's Amount is what the
//     customer paid for it: the till's extended amount less the line's own
//     discounts, less its share of the transaction's discounts (NCR
//     LoyaltyReward money, ARTS Discount line items) and of negative lines
//     (deposit refunds), shared in proportion to the line amounts with the
//     remainder to the largest fractions. So Σ amounts = TransactionGrand
//     Amount − tax: points are earned on money paid, never on tax. Weighed
//     quantities go as qty_milli. Tenders are not sent (they include tax
//     and change); a sale whose discounts exceed its goods fails.
//   - The member: LoyaltyAccountID (card), else the mobile, else the
//     email. An identifier the node does not know fails the file with
//     member_not_found rather than recording an anonymous sale: an
//     anonymous receipt could never be given its points later (the same
//     receipt number with a member would be a receipt_conflict), whereas
//     the failed file can be put back once the member is enrolled. A
//     CustomerID alone is the retailer's number, not a loyalty id: the sale
//     is anonymous.
//   - Points tenders (PointsRedeemed, bill type="points") are a redemption
//     of their points; their money value is the programme's point_value.
//     A file cannot answer an OTP: a store with file tills needs the
//     programme's redeem.otp "off" or "above:N"; otherwise the node refuses
//     with otp_required and the file goes to failed/.
//   - A return (all lines Return) names its original through a
//     TransactionLink (ReasonCode Return or none) or the bill's Original.
//     Its lines are matched to the original receipt's by SKU and quantity,
//     first line first, and sent as one node Return, which claws back the
//     points in proportion. A return of everything completes the receipt
//     (bonus and cashback come back) exactly as a Void would, but a Return
//     is used even then so a file that returns more than is left is refused
//     instead of silently returning less. Unknown original: failed with
//     original_not_found. The return's member is the original's.
//     Sale and return lines mixed in one transaction fail (mixed_return).
//
// # Caveats
//
// The node prices the basket with its own programme: automatic campaigns
// would take money off the receipt that the till did not, and points are
// earned on the node's net. A store fed by file tills should run a
// programme whose discounts reach the till as coupons (the offer file).
// Sales are stamped with the node's clock when processed, not the till's
// EndDateTime. Files in processed/ and failed/ are never deleted.
package filedrop
