package syncproto

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/patron/patron/engine"
)

// The encoding: byte WireVersion, byte Type, then the body. Integers are
// canonical (minimal) unsigned varints, signed ones zig-zag varints;
// strings and byte slices are a varint length then the bytes; a version
// vector is a count then (origin, seq) pairs in strictly increasing origin
// order with seq > 0. Every encoding is canonical: a message that decodes
// re-encodes to the same bytes, and one that would not is refused.

// Encode returns the wire form of m. It refuses (ErrMalformed,
// ErrTooLarge) what Decode would refuse, so a peer never receives a
// message this build would not accept.
func Encode(m Message) ([]byte, error) {
	if err := validate(m); err != nil {
		return nil, err
	}
	b := []byte{WireVersion, byte(m.Type())}
	switch m := m.(type) {
	case Hello:
		b = binary.BigEndian.AppendUint16(b, m.Protocol)
		b = appendString(b, m.Origin)
		b = append(b, byte(m.Role))
		b = appendVV(b, m.Have)
	case Events:
		b = binary.AppendUvarint(b, m.Batch)
		b = binary.AppendUvarint(b, uint64(len(m.Events)))
		for _, e := range m.Events {
			b = appendString(b, e.Origin)
			b = binary.AppendUvarint(b, e.Seq)
			b = appendString(b, string(e.Data))
		}
	case Ack:
		b = binary.AppendUvarint(b, m.Batch)
		b = appendVV(b, m.Have)
	case Nack:
		b = binary.AppendUvarint(b, m.Batch)
		b = append(b, byte(m.Reason))
		b = appendVV(b, m.Have)
	case Want:
		b = appendVV(b, m.Have)
	case HoldRequest:
		b = appendString(b, m.ID)
		b = appendString(b, m.Hold.ID)
		b = appendString(b, m.Hold.Store)
		b = appendString(b, m.Hold.Member)
		b = binary.AppendVarint(b, int64(m.Hold.Points))
		present, nanos := timeWire(m.Hold.At)
		b = appendBool(b, present)
		if present {
			b = binary.AppendVarint(b, nanos)
		}
	case HoldReply:
		b = appendString(b, m.ID)
		b = append(b, byte(m.Reason))
		if m.Reason == ReplyOK {
			b = appendBool(b, m.Decision.Granted)
			b = binary.AppendVarint(b, int64(m.Decision.Available))
			b = append(b, byte(slices.Index(holdStatuses, m.Decision.Status)))
		}
	case VoidRequest:
		b = appendString(b, m.ID)
	case VoidReply:
		b = appendString(b, m.ID)
		b = append(b, byte(m.Reason))
	case Ping:
		b = binary.AppendUvarint(b, m.Nonce)
	case Pong:
		b = binary.AppendUvarint(b, m.Nonce)
	case Redirect:
		b = appendString(b, m.LeaderID)
		b = appendString(b, m.LeaderAddr)
	case EventChunk:
		b = binary.AppendUvarint(b, m.Batch)
		b = appendString(b, m.Origin)
		b = binary.AppendUvarint(b, m.Seq)
		b = binary.AppendUvarint(b, m.Size)
		b = binary.AppendUvarint(b, m.Offset)
		b = appendString(b, string(m.Data))
	default:
		return nil, fmt.Errorf("syncproto: encode %T: %w", m, ErrMalformed)
	}
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("syncproto: encode %s: %d bytes: %w", m.Type(), len(b), ErrTooLarge)
	}
	return b, nil
}

// Decode parses one message. It refuses an unknown wire version
// (ErrVersion), an unknown type, trailing bytes, a broken limit or a
// non-canonical encoding (ErrMalformed, ErrTooLarge).
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("syncproto: decode: %d bytes: %w", len(b), ErrTooLarge)
	}
	if len(b) < 2 {
		return nil, malformed("decode: %d bytes, no header", len(b))
	}
	if b[0] != WireVersion {
		return nil, fmt.Errorf("syncproto: decode: wire version %d: %w", b[0], ErrVersion)
	}
	t := Type(b[1])
	r := &reader{b: b[2:]}
	m := decodeBody(t, r)
	if r.err != nil {
		return nil, fmt.Errorf("syncproto: decode %s: %w", t, r.err)
	}
	if m == nil {
		return nil, malformed("decode: unknown message type %d", uint8(t))
	}
	if len(r.b) != 0 {
		return nil, malformed("decode %s: %d trailing bytes", t, len(r.b))
	}
	if err := validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeBody(t Type, r *reader) Message {
	switch t {
	case TypeHello:
		return Hello{Protocol: r.uint16(), Origin: r.string(MaxOriginLen), Role: Role(r.byte()), Have: r.vv()}
	case TypeEvents:
		m := Events{Batch: r.uvarint()}
		n := r.count(MaxBatchEvents)
		for i := 0; i < n && r.err == nil; i++ {
			m.Events = append(m.Events, engine.RawEvent{Origin: r.string(MaxOriginLen), Seq: r.uvarint(), Data: []byte(r.string(MaxBatchBytes))})
		}
		return m
	case TypeAck:
		return Ack{Batch: r.uvarint(), Have: r.vv()}
	case TypeNack:
		return Nack{Batch: r.uvarint(), Reason: NackReason(r.byte()), Have: r.vv()}
	case TypeWant:
		return Want{Have: r.vv()}
	case TypeHoldRequest:
		m := HoldRequest{ID: r.string(MaxIDLen)}
		m.Hold = engine.Hold{ID: r.string(MaxIDLen), Store: r.string(MaxOriginLen), Member: r.string(MaxIDLen), Points: engine.Points(r.varint())}
		if r.bool() {
			m.Hold.At = time.Unix(0, r.varint()).UTC()
		}
		return m
	case TypeHoldReply:
		m := HoldReply{ID: r.string(MaxIDLen), Reason: ReplyReason(r.byte())}
		if m.Reason == ReplyOK {
			m.Decision.Granted = r.bool()
			m.Decision.Available = engine.Points(r.varint())
			if s := int(r.byte()); s < len(holdStatuses) {
				m.Decision.Status = holdStatuses[s]
			} else {
				r.fail("hold status %d", s)
			}
		}
		return m
	case TypeVoidRequest:
		return VoidRequest{ID: r.string(MaxIDLen)}
	case TypeVoidReply:
		return VoidReply{ID: r.string(MaxIDLen), Reason: ReplyReason(r.byte())}
	case TypePing:
		return Ping{Nonce: r.uvarint()}
	case TypePong:
		return Pong{Nonce: r.uvarint()}
	case TypeRedirect:
		return Redirect{LeaderID: r.string(MaxOriginLen), LeaderAddr: r.string(MaxAddrLen)}
	case TypeEventChunk:
		return EventChunk{Batch: r.uvarint(), Origin: r.string(MaxOriginLen), Seq: r.uvarint(),
			Size: r.uvarint(), Offset: r.uvarint(), Data: []byte(r.string(MaxChunkBytes))}
	}
	return nil
}

// validate checks the rules both Encode and Decode enforce beyond the
// byte layout.
func validate(m Message) error {
	t := m.Type()
	bad := func(format string, args ...any) error {
		return malformed("%s: "+format, append([]any{t}, args...)...)
	}
	switch m := m.(type) {
	case Hello:
		if !validOrigin(m.Origin) {
			return bad("origin %q", m.Origin)
		}
		if m.Role < RoleStore || m.Role > RolePeer {
			return bad("role %d", m.Role)
		}
		return validVV(t, m.Have)
	case Events:
		return validEvents(m)
	case Ack:
		return validVV(t, m.Have)
	case Nack:
		if m.Reason < NackGap || m.Reason > NackUnavailable {
			return bad("reason %d", m.Reason)
		}
		return validVV(t, m.Have)
	case Want:
		return validVV(t, m.Have)
	case HoldRequest:
		if !validID(m.ID) || !validID(m.Hold.ID) || len(m.Hold.Store) > MaxOriginLen || len(m.Hold.Member) > MaxIDLen {
			return bad("ids %q %q", m.ID, m.Hold.ID)
		}
	case HoldReply:
		if !validID(m.ID) || m.Reason > ReplyNotLeader {
			return bad("id %q reason %d", m.ID, m.Reason)
		}
		if m.Reason != ReplyOK && m.Decision != (engine.HoldDecision{}) {
			return bad("decision with reason %s", m.Reason)
		}
		if !slices.Contains(holdStatuses, m.Decision.Status) {
			return bad("hold status %q", m.Decision.Status)
		}
	case VoidRequest:
		if !validID(m.ID) {
			return bad("id %q", m.ID)
		}
	case VoidReply:
		if !validID(m.ID) || m.Reason > ReplyNotLeader {
			return bad("id %q reason %d", m.ID, m.Reason)
		}
	case Redirect:
		if len(m.LeaderID) > MaxOriginLen || len(m.LeaderAddr) > MaxAddrLen {
			return bad("too long")
		}
	case EventChunk:
		return validChunk(m)
	case Ping, Pong:
	default:
		return fmt.Errorf("syncproto: %T is not a message: %w", m, ErrMalformed)
	}
	return nil
}

func validEvents(m Events) error {
	if len(m.Events) == 0 {
		return malformed("events: empty batch")
	}
	if len(m.Events) > MaxBatchEvents {
		return fmt.Errorf("syncproto: events: %d events: %w", len(m.Events), ErrTooLarge)
	}
	total := 0
	for _, e := range m.Events {
		if !validOrigin(e.Origin) || e.Seq == 0 {
			return malformed("events: event (%q, %d)", e.Origin, e.Seq)
		}
		total += len(e.Data)
	}
	if total > MaxBatchBytes {
		return fmt.Errorf("syncproto: events: %d bytes of data: %w", total, ErrTooLarge)
	}
	return nil
}

// validChunk checks one chunk on its own: an event that needs chunks (it
// does not fit a batch) and fits the bound, and the canonical chunking
// (see EventChunk). That the chunks of a session continue one another is
// the receiver's check.
func validChunk(m EventChunk) error {
	if !validOrigin(m.Origin) || m.Seq == 0 {
		return malformed("event_chunk: event (%q, %d)", m.Origin, m.Seq)
	}
	if m.Size > MaxChunkedEventBytes {
		return fmt.Errorf("syncproto: event_chunk: (%s, %d) is %d bytes, over MaxChunkedEventBytes (%d): %w",
			m.Origin, m.Seq, m.Size, MaxChunkedEventBytes, ErrTooLarge)
	}
	if m.Size <= MaxBatchBytes {
		return malformed("event_chunk: (%s, %d) of %d bytes fits a batch", m.Origin, m.Seq, m.Size)
	}
	if m.Offset >= m.Size || m.Offset%MaxChunkBytes != 0 {
		return malformed("event_chunk: (%s, %d): offset %d of %d bytes", m.Origin, m.Seq, m.Offset, m.Size)
	}
	if want := min(MaxChunkBytes, m.Size-m.Offset); uint64(len(m.Data)) != want {
		return malformed("event_chunk: (%s, %d): %d bytes at offset %d of %d, want %d",
			m.Origin, m.Seq, len(m.Data), m.Offset, m.Size, want)
	}
	return nil
}

// chunkAt returns the chunk of e, an event of batch too large for an
// Events message, starting at off (a multiple of MaxChunkBytes below
// len(e.Data)). Data shares e.Data.
func chunkAt(batch uint64, e engine.RawEvent, off int) EventChunk {
	end := min(off+MaxChunkBytes, len(e.Data))
	return EventChunk{Batch: batch, Origin: e.Origin, Seq: e.Seq, Size: uint64(len(e.Data)),
		Offset: uint64(off), Data: e.Data[off:end:end]}
}

// chunked reports whether a batch is one event too large for an Events
// message, carried as EventChunks. validEvents refuses such an Events
// message, so the outbox and the applier can tell the two apart by size.
func chunked(m Events) bool {
	return len(m.Events) == 1 && len(m.Events[0].Data) > MaxBatchBytes
}

func validVV(t Type, vv engine.VersionVector) error {
	if len(vv) > MaxOrigins {
		return fmt.Errorf("syncproto: %s: %d origins: %w", t, len(vv), ErrTooLarge)
	}
	for o, n := range vv {
		if !validOrigin(o) || n == 0 {
			return malformed("%s: version vector entry (%q, %d)", t, o, n)
		}
	}
	return nil
}

// validOrigin: 1 to MaxOriginLen letters, digits, '_', '.' or '-'.
func validOrigin(s string) bool {
	return validChars(s, MaxOriginLen)
}

// validID: 1 to MaxIDLen letters, digits, '_', '.' or '-'.
func validID(s string) bool {
	return validChars(s, MaxIDLen)
}

func validChars(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendVV writes a vector in canonical form: sorted, zero entries
// omitted (validate has refused them, so none are here).
func appendVV(b []byte, vv engine.VersionVector) []byte {
	origins := make([]string, 0, len(vv))
	for o := range vv {
		origins = append(origins, o)
	}
	slices.Sort(origins)
	b = binary.AppendUvarint(b, uint64(len(origins)))
	for _, o := range origins {
		b = appendString(b, o)
		b = binary.AppendUvarint(b, vv[o])
	}
	return b
}

// reader decodes with a sticky error: after the first failure every read
// returns a zero value.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("bool not 0 or 1")
	return false
}

func (r *reader) uint16() uint16 {
	if len(r.b) < 2 {
		r.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

// uvarint reads a minimal unsigned varint.
func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	if n > 1 && r.b[n-1] == 0 {
		r.fail("non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.Varint
}

// count reads a length and refuses one above max or above the bytes left
// (each counted item takes at least one byte), so a forged count cannot
// make us allocate.
func (r *reader) count(max int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail("count %d", n)
		return 0
	}
	return int(n)
}

func (r *reader) string(max int) string {
	n := r.count(max)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// vv reads a version vector and refuses unsorted or repeated origins.
func (r *reader) vv() engine.VersionVector {
	n := r.count(MaxOrigins)
	vv := make(engine.VersionVector, n)
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		o := r.string(MaxOriginLen)
		seq := r.uvarint()
		if r.err == nil && i > 0 && o <= prev {
			r.fail("version vector origins not in increasing order")
		}
		vv[o] = seq
		prev = o
	}
	return vv
}
