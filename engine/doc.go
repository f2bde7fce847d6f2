// Package engine is Patron's pure domain: money and points arithmetic, the
// programme (catalogue, earning, redemption, tiers, consents, campaigns,
// coupons), basket evaluation, redemption shares, returns and the ledger fold.
//
// The engine decides; its callers perform. Every function takes the state it
// needs as values and returns results as values. It must not do I/O, start
// goroutines, keep global mutable state, read the clock (the caller passes
// the time) or iterate a map into output without sorting. Money is [Money]
// (int64 minor units) and points are [Points]; there are no floats, and every
// division names its rounding.
package engine
