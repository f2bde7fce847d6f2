// Package poslog parses the files of tills that cannot speak the POS
// protocol: ARTS/NRF POSLog XML and our own bill XML (docs/bill-xml.md).
// It turns one file, read from an io.Reader, into plain values — a [File]
// of [Transaction]s whose lines convert to engine.Line — and does nothing
// else: it must not touch the file system, the node or the clock. Watching
// the inbox, processing each transaction exactly once and moving files to
// processed/ or failed/ belong to the caller.
//
// # Formats
//
// [Parse] recognises the format by the root element: POSLog (any namespace
// prefix or URI) or Bill. POSLog elements are matched by local name in the
// root's namespace; elements in other namespaces are vendor extensions and
// are skipped with their subtrees, and prefixed attributes are ignored. The
// one exception is NCR ACS's reward money (acs:RewardCategory and
// acs:ExtendedRewardAmount inside a LoyaltyReward), without which an NCR
// grand total cannot be explained, and the acs:weightItem attribute of a
// LineItem, which marks a weight that happens to be whole ("1.00"). The bill format is ours and strict:
// unknown elements, attributes or versions are errors.
//
// # What a POSLog transaction becomes
//
//   - Identity: RetailStoreID, WorkstationID, BusinessDayDate,
//     SequenceNumber and, when present, TransactionID.
//   - Kind: ControlTransaction is control; RetailTransaction is return when
//     all its lines are Return line items, else sale; anything else other.
//   - Training, Cancelled, Suspended: TrainingModeFlag, CancelFlag or
//     VoidFlag (attribute or child element) on Transaction or
//     RetailTransaction, and TransactionStatus (Cancelled, Voided,
//     PostVoided; Suspended).
//   - Lines: Sale and Return line items. SKU is ItemID, else
//     POSIdentity/POSItemID; UnitPrice is ActualSalesUnitPrice, else
//     RegularSalesUnitPrice; Amount is ExtendedAmount (required), which is
//     the line's gross: tills price multi-buys ("2 for 3.00") and weights
//     their own way.
//   - Voids: a LineItem with VoidFlag="true" never becomes a line. ARTS
//     marks the voided line itself; NCR ACS keeps the original line and
//     adds a VoidFlag line with negated quantity and amount, which cancels
//     the latest earlier line it exactly negates. A negating void that
//     matches nothing puts the transaction in File.Skipped.
//   - Discounts: Sale/RetailPriceModifier and Discount line items (Amount is
//     the money off) and NCR Monetary LoyaltyRewards (detailed records
//     only; NCR repeats transaction-level rewards as a summary).
//   - Tax: the sum of Tax line items. Tenders: TenderType, TypeCode,
//     Amount and any PointsRedeemed. Total: Total with
//     TotalType="TransactionGrandAmount".
//   - Member: Customer or LoyaltyAccount (LoyaltyAccountID is the card,
//     CustomerID the retailer's number, Telephone the mobile, EMailAddress
//     the email). NCR's acs:LoyaltyMembership is a vendor extension and is
//     not read.
//   - Links: TransactionLink elements (a return's original, a resumed
//     transaction), on the RetailTransaction or inside a Return.
//
// In the NCR ACS sample day, for every retail transaction:
//
//	TransactionGrandAmount = Σ line Amount − Σ Discount.Amount + Tax
//
// and the tenders (change written as a negative cash tender) sum to it.
//
// # Numbers
//
// Money is decimal text ("3.49", "-1.00") converted exactly to minor units
// with Limits.MinorDigits; no exponent, no grouping commas, and fraction
// digits beyond MinorDigits only if they are zeros. Quantities are units
// when integral ("4") and thousandths when fractional ("0.65" → 650) or
// carrying a weight UnitOfMeasureCode (or acs:weightItem); more than three fraction digits are
// rounded half up on the magnitude. No floating point is used anywhere.
//
// # Hostile files
//
// Parse streams tokens and keeps only the transaction being read (a line
// item is turned into a value and dropped as soon as it closes), so memory
// is bounded by the largest transaction, itself bounded by [Limits]. It
// refuses files larger than MaxBytes, nested deeper than MaxDepth, with
// more line items, transactions or tokens than allowed, with any DOCTYPE
// (so no entity declarations, external or billion-laughs), with invalid
// UTF-8 or another declared encoding, and truncated files. Every such
// error is a *[ParseError] naming the element path and input line and
// wrapping a sentinel such as [ErrTooLarge].
//
// # Caveats
//
// Tender change is kept as written: NCR writes it as its own negative
// tender, while a standard TenderChange inside a tender is not subtracted.
// Tax may be inclusive or exclusive depending on the till; Parse only
// sums it. The caller must check Transaction.Currency against its own.
package poslog
