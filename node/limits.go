package node

import "time"

// Limits. Each bounds work done inside one write transaction or memory held
// per request; the reasons are in the comments.
const (
	// MaxStoreIDLen and MaxTerminalIDLen keep receipt ids short enough
	// for a printed receipt and a bbolt key.
	MaxStoreIDLen    = 32
	MaxTerminalIDLen = 32
	// MinTerminalTokenLen only catches blanks and placeholders: length
	// cannot measure a token's entropy. Generated tokens are far longer;
	// operator-chosen ones (tests, load tests) may be short words.
	MinTerminalTokenLen = 8
	// MaxReceiptNoLen is the protocol's limit on receipt_no (and
	// return_no).
	MaxReceiptNoLen = 64
	// MaxTenders: a bill split over more means of payment is a mistake.
	MaxTenders = 16
	// MaxCoupons bounds coupon look-ups per request.
	MaxCoupons = 16
	// MaxFieldLen bounds every free-text profile field, keeping member
	// records small.
	MaxFieldLen = 200
	// MaxGroups bounds a member's customer groups.
	MaxGroups = 32
	// MaxCardsPerMember bounds the cards list held in the member record.
	MaxCardsPerMember = 32
	// MaxOffersShown bounds the personal offers handed to a till.
	MaxOffersShown = 20
	// DefaultLedgerLimit and MaxLedgerLimit page member.ledger
	// (protocol default 100; 1000 keeps a page under ~200 KB).
	DefaultLedgerLimit = 100
	MaxLedgerLimit     = 1000
	// MaxGeneratedCoupons bounds the codes one programme may generate: all
	// are written in the transaction that loads it.
	MaxGeneratedCoupons = 200_000
	// DefaultTierWindowDays applies when the programme sets no
	// tier_window_days (the spec's example is a year).
	DefaultTierWindowDays = 365
)

// Replication limits.
const (
	// MaxEventsPerRead bounds EventsAfter's answer: a sync batch, not a
	// whole log, is read in one transaction.
	MaxEventsPerRead = 10_000
	// MaxApplyEvents bounds one ApplyEvents batch: it commits in one
	// write transaction that holds up the group commit of sales.
	MaxApplyEvents = 10_000
	// VoidHoldTimeout bounds voiding a hold whose sale failed; an
	// unvoided hold expires at HQ anyway.
	VoidHoldTimeout = 2 * time.Second
	// MaxOverdraftEntries bounds the offline entries an overdraft report
	// lists.
	MaxOverdraftEntries = 32
)

// OTP limits (pos-protocol-v1.md, redeem.otp).
const (
	OTPDigits   = 6
	OTPValidity = 5 * time.Minute
	// OTPMaxTries wrong answers lock the OTP.
	OTPMaxTries = 5
	// OTPMaxSends within OTPSendWindow per member bounds SMS cost and
	// guessing: at most 3 × 5 guesses of 10^6 codes per 10 minutes.
	OTPMaxSends   = 3
	OTPSendWindow = 10 * time.Minute
)

// Storage tuning.
const (
	// OpenTimeout: the file lock is held by another process (a second
	// patron on the same file); fail fast instead of hanging.
	OpenTimeout = 2 * time.Second
	// BatchMaxSize caps one group: each sale evaluates inside the write
	// transaction (tens of µs), so 64 keeps a group under a few ms and
	// its dirty pages small.
	BatchMaxSize = 64
)
