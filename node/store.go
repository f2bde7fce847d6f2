package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// schemaVersion is the layout of the data file this build writes and
// reads. Bump it with a migration when a bucket or record changes shape.
const schemaVersion uint32 = 1

// Bucket names, all in one place. Keys: "id" is a string; "\x00" separates
// parts; numbers are big-endian so cursors walk them in order.
var (
	bucketMeta         = []byte("meta")           // metaSchema, metaProgramme
	bucketProgrammes   = []byte("programmes")     // version → 0x01 + raw document
	bucketMembers      = []byte("members")        // member id → memberRecord
	bucketCards        = []byte("cards")          // card number → member id
	bucketEmails       = []byte("emails")         // lower-cased email → member id
	bucketCardLog      = []byte("card_log")       // seq (uint64) → cardLogRecord
	bucketLedger       = []byte("ledger")         // member id \x00 seq (uint64) → ledgerRecord
	bucketBalances     = []byte("balances")       // member id → balanceRecord (binary)
	bucketSpend        = []byte("spend")          // member id \x00 day (uint64) → 0x01 + int64
	bucketReceipts     = []byte("receipts")       // receipt id → receiptRecord
	bucketReturns      = []byte("returns")        // receipt id \x00 return_no → returnRecord
	bucketCoupons      = []byte("coupons")        // code → couponRecord
	bucketCouponUses   = []byte("coupon_uses")    // code \x00 receipt id → empty
	bucketMemberOffers = []byte("member_coupons") // member id \x00 code → empty
	bucketTerminals    = []byte("terminals")      // terminal id → 0x01 + sha256(token)
	bucketOTPs         = []byte("otps")           // member id → otpRecord

	allBuckets = [][]byte{
		bucketMeta, bucketProgrammes, bucketMembers, bucketCards, bucketEmails,
		bucketCardLog, bucketLedger, bucketBalances, bucketSpend, bucketReceipts,
		bucketReturns, bucketCoupons, bucketCouponUses, bucketMemberOffers,
		bucketTerminals, bucketOTPs,
	}

	metaSchema    = []byte("schema_version") // uint32
	metaProgramme = []byte("programme")      // current programme version
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
	raw := meta.Get(metaSchema)
	if len(raw) != 4 {
		return fmt.Errorf("node: data file has no schema version: %w", ErrCorrupt)
	}
	if v := binary.BigEndian.Uint32(raw); v > schemaVersion {
		return &SchemaVersionError{Found: v, Supported: schemaVersion}
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("node: data file lacks bucket %s: %w", name, ErrCorrupt)
		}
	}
	return nil
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
