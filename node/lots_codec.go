package node

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
)

// The stored form of a member's lot replay (bucketLots). It is read three
// times by a sale of a member with lots (pricing, the fold, the answer)
// and a frequent shopper may hold hundreds of lots, so it is binary: a
// JSON form cost a millisecond a read at 300 lots.
//
//	version byte (lotsCodecVersion)
//	through, last_at (time), last_id (string), debt, expired (int64), held (time)
//	count (uvarint), then per lot:
//	  id (string), at (time), points, remaining (int64), expires_at, pending_until (time),
//	  kind, ref, store (string)
//
// Integers are zig-zag varints, strings a uvarint length and the bytes,
// times a varint of Unix seconds and a uvarint of nanoseconds (below
// 10^9), decoded in UTC (the zero time round-trips as itself). Decoding is strict: another version, a truncated or
// overlong value, or trailing bytes are ErrCorrupt.

// lotsCodecVersion is the first byte of an encoded replay.
const lotsCodecVersion byte = 1

// maxLotsRecordLots bounds the lots a stored replay may claim, so a
// corrupt count cannot make the decoder allocate without limit; the
// decoder also never allocates more lots than the bytes could hold.
const maxLotsRecordLots = 1 << 20

func encodeLots(r *engine.LotReplay) []byte {
	b := []byte{lotsCodecVersion}
	b = appendTime(b, r.Through)
	b = appendTime(b, r.LastAt)
	b = appendString(b, r.LastID)
	b = binary.AppendVarint(b, int64(r.Debt))
	b = binary.AppendVarint(b, int64(r.Expired))
	b = appendTime(b, r.Held)
	b = binary.AppendUvarint(b, uint64(len(r.Live)))
	for _, l := range r.Live {
		b = appendString(b, l.ID)
		b = appendTime(b, l.At)
		b = binary.AppendVarint(b, int64(l.Points))
		b = binary.AppendVarint(b, int64(l.Remaining))
		b = appendTime(b, l.ExpiresAt)
		b = appendTime(b, l.PendingUntil)
		b = appendString(b, string(l.Kind))
		b = appendString(b, l.Ref)
		b = appendString(b, l.Store)
	}
	return b
}

func decodeLots(data []byte) (*engine.LotReplay, error) {
	d := lotsDecoder{data: data}
	if len(data) == 0 || data[0] != lotsCodecVersion {
		return nil, fmt.Errorf("node: decode lots: unknown version: %w", ErrCorrupt)
	}
	d.data = data[1:]
	r := &engine.LotReplay{Through: d.time(), LastAt: d.time(), LastID: d.string(),
		Debt: engine.Points(d.varint()), Expired: engine.Points(d.varint()), Held: d.time()}
	n := d.uvarint()
	// Each lot takes at least 12 bytes (9 one-byte fields and 3 lengths).
	if d.err == nil && (n > maxLotsRecordLots || n > uint64(len(d.data))/12) {
		d.fail("too many lots")
	}
	r.Live = make([]engine.ReplayLot, 0, min(n, maxLotsRecordLots))
	for i := uint64(0); i < n && d.err == nil; i++ {
		var l engine.ReplayLot
		l.ID, l.At = d.string(), d.time()
		l.Points, l.Remaining = engine.Points(d.varint()), engine.Points(d.varint())
		l.ExpiresAt, l.PendingUntil = d.time(), d.time()
		l.Kind, l.Ref, l.Store = engine.EntryKind(d.string()), d.string(), d.string()
		r.Live = append(r.Live, l)
	}
	if d.err == nil && len(d.data) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// lotsDecoder reads the fields in turn; after the first problem every
// read returns a zero value and err is kept.
type lotsDecoder struct {
	data []byte
	err  error
}

func (d *lotsDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("node: decode lots: %s: %w", what, ErrCorrupt)
	}
}

func (d *lotsDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.data)
	if n <= 0 {
		d.fail("bad integer")
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *lotsDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.fail("bad length")
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *lotsDecoder) time() time.Time {
	sec, nsec := d.varint(), d.uvarint()
	if d.err == nil && nsec >= 1e9 {
		d.fail("bad nanoseconds")
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *lotsDecoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.data)) {
		d.fail("string past the end")
		return ""
	}
	s := string(d.data[:n])
	d.data = d.data[n:]
	return s
}
