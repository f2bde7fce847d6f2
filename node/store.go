package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// schemaVersion is the layout of the data file this build writes and
// reads. Bump it with a migration when a bucket or record changes shape.
// Version 2 made the node event-sourced (events, version vector, holds);
// version 1 files are refused (no migration: there is no production data
// of version 1). Versions 3 and 4 added store-local buckets (offline
// spending; the SMS outbox), which opening an older file creates.
// Version 5 added the report indexes (report_index.go), which opening an
// older file builds from the fold.
const schemaVersion uint32 = 5

// minMigratableVersion is the oldest file version Open migrates.
const minMigratableVersion uint32 = 2

// Bucket names, all in one place. Keys: "id" is a string; "\x00" separates
// parts; numbers are big-endian so cursors walk them in order. The buckets
// marked "fold" are the materialized state: a fold of the events bucket,
// identical on every node that holds the same events. The others are
// local to this node.
var (
	bucketMeta         = []byte("meta")           // metaSchema, metaProgramme, metaHLC, metaApplied
	bucketEvents       = []byte("events")         // origin \x00 seq (uint64) → encoded event
	bucketVV           = []byte("vv")             // origin → highest contiguous seq held (uint64)
	bucketProgrammes   = []byte("programmes")     // fold: version → programmeRecord
	bucketMembers      = []byte("members")        // fold: member id → memberRecord
	bucketCards        = []byte("cards")          // fold: card number \x00 member id → empty
	bucketEmails       = []byte("emails")         // fold: lower-cased email \x00 member id → empty
	bucketCardLog      = []byte("card_log")       // fold: at (uint64) \x00 origin \x00 seq \x00 i → cardLogRecord
	bucketLedger       = []byte("ledger")         // fold: member id \x00 at (uint64) entry id → ledgerRecord
	bucketEntryIDs     = []byte("entry_ids")      // fold: entry id → member id (a duplicate id is a no-op)
	bucketBalances     = []byte("balances")       // fold: member id → 0x01 + int64
	bucketSpend        = []byte("spend")          // fold: member id \x00 day (uint64) → 0x01 + int64
	bucketReceipts     = []byte("receipts")       // fold: receipt id → receiptRecord
	bucketReturns      = []byte("returns")        // fold: receipt id \x00 return_no \x00 origin → returnRecord
	bucketCoupons      = []byte("coupons")        // fold: code → couponRecord
	bucketCouponUses   = []byte("coupon_uses")    // fold: code \x00 receipt id → useUsed or useReleased
	bucketMemberOffers = []byte("member_coupons") // fold: member id \x00 code → empty
	bucketAnswers      = []byte("answers")        // local: "s" \x00 receipt id, "r" \x00 receipt \x00 return_no, "e" \x00 terminal \x00 request fingerprint → answerRecord
	bucketTerminals    = []byte("terminals")      // local: terminal id → 0x01 + sha256(token)
	bucketOTPs         = []byte("otps")           // local: member id → otpRecord
	bucketHolds        = []byte("holds")          // HQ: hold id → holdRecord
	bucketHoldPending  = []byte("hold_pending")   // HQ: member id \x00 hold id → pendingValue
	bucketOverdrafts   = []byte("overdrafts")     // local: member id \x00 origin \x00 seq → overdraftRecord
	bucketOutbox       = []byte("outbox")         // local: message id → outboxRecord
	bucketOutboxDue    = []byte("outbox_due")     // local: due (timeKey) message id → empty; see outbox.go
	bucketOfflineSpent = []byte("offline_spent")  // local: member id → 0x01 + int64 points redeemed offline since HQ last answered
	bucketLots         = []byte("lots")           // fold cache: member id → encoded lot replay (lots_codec.go); made on first use, so not in allBuckets

	// migratedBuckets are the buckets files before version 5 may lack;
	// opening such a file creates them.
	migratedBuckets = append([][]byte{bucketOfflineSpent, bucketOutbox, bucketOutboxDue}, reportBuckets...)

	allBuckets = append([][]byte{
		bucketMeta, bucketEvents, bucketVV, bucketProgrammes, bucketMembers, bucketCards, bucketEmails,
		bucketCardLog, bucketLedger, bucketEntryIDs, bucketBalances, bucketSpend, bucketReceipts,
		bucketReturns, bucketCoupons, bucketCouponUses, bucketMemberOffers, bucketAnswers,
		bucketTerminals, bucketOTPs, bucketHolds, bucketHoldPending, bucketOverdrafts, bucketOfflineSpent,
		bucketOutbox, bucketOutboxDue,
	}, reportBuckets...)

	// foldBuckets are hashed into StateDigest's "#state".
	foldBuckets = [][]byte{
		bucketProgrammes, bucketMembers, bucketCards, bucketEmails, bucketCardLog, bucketLedger,
		bucketEntryIDs, bucketBalances, bucketSpend, bucketReceipts, bucketReturns, bucketCoupons,
		bucketCouponUses, bucketMemberOffers,
	}

	metaSchema         = []byte("schema_version")     // uint32
	metaProgramme      = []byte("programme")          // current programme version
	metaProgrammeStamp = []byte("programme_stamp")    // stamp of the current programme's event
	metaHLC            = []byte("hlc")                // the node's last HLC: wall int64, logical uint32
	metaApplied        = []byte("raft_applied_index") // last Raft index applied (HoldStore), uint64
)

// recordVersion is the version field of every JSON record.
const recordVersion = 1

// binaryVersion is the first byte of every binary value.
const binaryVersion byte = 1

// initSchema creates the buckets of a new file, or checks the schema
// version of an existing one.
func initSchema(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("node: create bucket %s: %w", name, err)
			}
		}
		v := binary.BigEndian.AppendUint32(nil, schemaVersion)
		return tx.Bucket(bucketMeta).Put(metaSchema, v)
	}
	if err := checkSchema(tx); err != nil {
		return err
	}
	if v := binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(metaSchema)); v < schemaVersion {
		if err := migrateReportIndexes(tx, v); err != nil {
			return err
		}
		return migrateLocalBuckets(tx)
	}
	return nil
}

// checkSchema checks the schema version and buckets of an existing file
// (a version 2 or 3 file passes: initSchema migrates it).
func checkSchema(tx *bbolt.Tx) error {
	raw := tx.Bucket(bucketMeta).Get(metaSchema)
	if len(raw) != 4 {
		return fmt.Errorf("node: data file has no schema version: %w", ErrCorrupt)
	}
	v := binary.BigEndian.Uint32(raw)
	if v != schemaVersion && v < minMigratableVersion {
		return &SchemaVersionError{Found: v, Supported: schemaVersion}
	}
	if v > schemaVersion {
		return &SchemaVersionError{Found: v, Supported: schemaVersion}
	}
	for _, name := range allBuckets {
		if v < schemaVersion && slices.ContainsFunc(migratedBuckets, func(b []byte) bool { return bytes.Equal(b, name) }) {
			continue // migrateLocalBuckets makes it
		}
		if tx.Bucket(name) == nil {
			return fmt.Errorf("node: data file lacks bucket %s: %w", name, ErrCorrupt)
		}
	}
	return nil
}

// migrateLocalBuckets takes a version 2 or 3 file to the current version:
// it adds the store-local buckets those versions lacked (none holds folded
// state, so nothing needs recomputing).
func migrateLocalBuckets(tx *bbolt.Tx) error {
	for _, name := range migratedBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("node: migrate: create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(metaSchema, binary.BigEndian.AppendUint32(nil, schemaVersion))
}

// record is a JSON value stored with a version field.
type record interface{ version() int }

// putJSON stores rec under key.
func putJSON(b *bbolt.Bucket, key []byte, rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("node: encode %T: %w", rec, err)
	}
	if err := b.Put(key, data); err != nil {
		return fmt.Errorf("node: put %T: %w", rec, err)
	}
	return nil
}

// getJSON loads key into rec; it reports false when the key is absent.
// The decoded record holds no reference to the transaction's memory.
func getJSON(b *bbolt.Bucket, key []byte, rec record) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, decodeJSON(data, rec)
}

// decodeJSON decodes strictly: unknown fields, trailing data and unknown
// versions are rejected.
func decodeJSON(data []byte, rec record) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rec); err != nil {
		return fmt.Errorf("node: decode %T: %w: %w", rec, ErrCorrupt, err)
	}
	if dec.More() {
		return fmt.Errorf("node: decode %T: trailing data: %w", rec, ErrCorrupt)
	}
	if v := rec.version(); v != recordVersion {
		return fmt.Errorf("node: decode %T: version %d: %w", rec, v, ErrCorrupt)
	}
	return nil
}

// key joins parts with a 0x00 separator.
func key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// seqKey is prefix \x00 big-endian n.
func seqKey(prefix string, n uint64) []byte {
	k := make([]byte, 0, len(prefix)+9)
	k = append(k, prefix...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, n)
}

// uint64Value encodes n big-endian.
func uint64Value(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// decodeUint64 decodes uint64Value; nil is 0.
func decodeUint64(data []byte) (uint64, error) {
	if data == nil {
		return 0, nil
	}
	if len(data) != 8 {
		return 0, fmt.Errorf("node: decode uint64 value: %w", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(data), nil
}

// timeKey is a time as 8 bytes that sort in time order (unix nanoseconds
// with the sign bit flipped).
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

// dayKey is member \x00 day, with the day's sign bit flipped so negative
// days (before 1970) still sort first.
func dayKey(member string, day int64) []byte {
	return seqKey(member, uint64(day)^(1<<63))
}

// int64Value encodes a signed value with the binary version byte.
func int64Value(v int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{binaryVersion}, uint64(v))
}

// decodeInt64 decodes int64Value.
func decodeInt64(data []byte) (int64, error) {
	if len(data) != 9 || data[0] != binaryVersion {
		return 0, fmt.Errorf("node: decode int64 value: %w", ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(data[1:])), nil
}

// putJSONValue stores a JSON value that is not a versioned record (a
// meta value whose key names its format).
func putJSONValue(b *bbolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("node: encode %T: %w", v, err)
	}
	if err := b.Put(k, data); err != nil {
		return fmt.Errorf("node: put %T: %w", v, err)
	}
	return nil
}

// decodeStrict decodes a JSON value strictly (unknown fields, trailing
// data: ErrCorrupt).
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("node: decode %T: %w: %w", v, ErrCorrupt, err)
	}
	if dec.More() {
		return fmt.Errorf("node: decode %T: trailing data: %w", v, ErrCorrupt)
	}
	return nil
}
