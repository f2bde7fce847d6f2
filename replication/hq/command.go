package hq

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/patron/patron/engine"
)

// The command encoding is the format of every Raft entry this package
// proposes, so it lands on disk in every HQ node's log and in snapshots'
// trailing logs: versioned, strict and canonical.
//
//	entry   = version(1 byte) kind(1 byte) body
//	events  = uvarint(n) n × (string(origin) uvarint(seq) bytes(data))
//	hold    = string(id) string(store) string(member) varint(points) varint(at unix ns)
//	void    = string(id)
//	expire  = varint(cutoff unix ns)
//	string  = uvarint(len) len bytes of UTF-8; bytes = uvarint(len) len bytes
//
// Decoding rejects an unknown version or kind, trailing bytes, non-minimal
// varints, and values the encoder would refuse (empty, long or
// non-printable ids, seq 0,
// points ≤ 0, more than MaxEntryEvents events), so encode(decode(b)) == b
// for every b that decodes.

// commandVersion is the encoding version this node writes and reads.
const commandVersion = 1

// commandKind says what a command does.
type commandKind uint8

// The command kinds. Values are on disk: never renumber.
const (
	kindApplyEvents commandKind = 1
	kindPlaceHold   commandKind = 2
	kindVoidHold    commandKind = 3
	kindExpireHolds commandKind = 4
)

func (k commandKind) String() string {
	switch k {
	case kindApplyEvents:
		return "apply_events"
	case kindPlaceHold:
		return "place_hold"
	case kindVoidHold:
		return "void_hold"
	case kindExpireHolds:
		return "expire_holds"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// command is one Raft entry's content: kind says which field is set.
type command struct {
	kind   commandKind
	events []engine.RawEvent // kindApplyEvents
	hold   engine.Hold       // kindPlaceHold
	holdID string            // kindVoidHold
	cutoff time.Time         // kindExpireHolds
}

// encodeCommand encodes c, or reports why the encoding cannot carry it.
func encodeCommand(c command) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+c.sizeHint())
	b = append(b, commandVersion, byte(c.kind))
	switch c.kind {
	case kindApplyEvents:
		b = binary.AppendUvarint(b, uint64(len(c.events)))
		for _, e := range c.events {
			b = appendBytes(b, []byte(e.Origin))
			b = binary.AppendUvarint(b, e.Seq)
			b = appendBytes(b, e.Data)
		}
	case kindPlaceHold:
		b = appendBytes(b, []byte(c.hold.ID))
		b = appendBytes(b, []byte(c.hold.Store))
		b = appendBytes(b, []byte(c.hold.Member))
		b = binary.AppendVarint(b, int64(c.hold.Points))
		b = binary.AppendVarint(b, c.hold.At.UnixNano())
	case kindVoidHold:
		b = appendBytes(b, []byte(c.holdID))
	case kindExpireHolds:
		b = binary.AppendVarint(b, c.cutoff.UnixNano())
	}
	if len(b) > MaxEntryBytes {
		return nil, fmt.Errorf("%w: entry of %d bytes exceeds %d", ErrInvalid, len(b), MaxEntryBytes)
	}
	return b, nil
}

func (c command) sizeHint() int {
	n := 64
	for _, e := range c.events {
		n += eventSize(e) + 2*binary.MaxVarintLen64
	}
	return n
}

// eventSize is what an event counts against MaxBatchBytes.
func eventSize(e engine.RawEvent) int { return len(e.Origin) + len(e.Data) }

// validate checks what both the encoder and the decoder require.
func (c command) validate() error {
	switch c.kind {
	case kindApplyEvents:
		if len(c.events) == 0 || len(c.events) > MaxEntryEvents {
			return fmt.Errorf("%w: %d events in one entry, want 1 to %d", ErrInvalid, len(c.events), MaxEntryEvents)
		}
		for _, e := range c.events {
			if err := validateEvent(e); err != nil {
				return err
			}
		}
		return nil
	case kindPlaceHold:
		return validateHold(c.hold)
	case kindVoidHold:
		return validateID("hold id", c.holdID)
	case kindExpireHolds:
		return validateTime("cutoff", c.cutoff)
	}
	return fmt.Errorf("%w: unknown command kind %d", ErrInvalid, c.kind)
}

func validateEvent(e engine.RawEvent) error {
	if err := validateID("event origin", e.Origin); err != nil {
		return err
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: event %s/0: sequence numbers start at 1", ErrInvalid, e.Origin)
	}
	if len(e.Data) > MaxEventBytes {
		return fmt.Errorf("%w: event %s/%d of %d bytes exceeds %d", ErrInvalid, e.Origin, e.Seq, len(e.Data), MaxEventBytes)
	}
	return nil
}

func validateHold(h engine.Hold) error {
	for _, f := range []struct{ name, v string }{{"hold id", h.ID}, {"hold store", h.Store}, {"hold member", h.Member}} {
		if err := validateID(f.name, f.v); err != nil {
			return err
		}
	}
	if h.Points <= 0 {
		return fmt.Errorf("%w: hold %s: points %d must be positive", ErrInvalid, h.ID, h.Points)
	}
	return validateTime("hold time", h.At)
}

// validateID accepts 1 to MaxIDBytes bytes of printable UTF-8 (no
// control characters), which the node also requires: an id the node
// refused inside the FSM would stop every replica.
func validateID(what, s string) error {
	ok := s != "" && len(s) <= MaxIDBytes && utf8.ValidString(s)
	for _, r := range s {
		ok = ok && r >= 0x20 && r != 0x7f
	}
	if !ok {
		return fmt.Errorf("%w: %s %q must be 1 to %d bytes of printable UTF-8", ErrInvalid, what, s, MaxIDBytes)
	}
	return nil
}

// Times travel as Unix nanoseconds, which cover 1678 to 2262.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func validateTime(what string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%w: %s %v out of range", ErrInvalid, what, t)
	}
	return nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeCommand decodes one entry strictly. Its errors wrap ErrBadCommand.
func decodeCommand(b []byte) (command, error) {
	d := decoder{b: b}
	c, err := d.command()
	if err == nil && len(d.b) != 0 {
		err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if err == nil {
		err = c.validate()
	}
	if err != nil {
		return command{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	return c, nil
}

// decoder consumes b from the front; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) command() (command, error) {
	if len(d.b) > MaxEntryBytes {
		return command{}, fmt.Errorf("entry of %d bytes exceeds %d", len(d.b), MaxEntryBytes)
	}
	if len(d.b) < 2 {
		return command{}, fmt.Errorf("entry of %d bytes is too short", len(d.b))
	}
	if d.b[0] != commandVersion {
		return command{}, fmt.Errorf("unknown version %d", d.b[0])
	}
	c := command{kind: commandKind(d.b[1])}
	d.b = d.b[2:]
	switch c.kind {
	case kindApplyEvents:
		c.events = d.events()
	case kindPlaceHold:
		c.hold = engine.Hold{ID: d.string(), Store: d.string(), Member: d.string()}
		c.hold.Points = engine.Points(d.varint())
		c.hold.At = time.Unix(0, d.varint()).UTC()
	case kindVoidHold:
		c.holdID = d.string()
	case kindExpireHolds:
		c.cutoff = time.Unix(0, d.varint()).UTC()
	default:
		return command{}, fmt.Errorf("unknown kind %d", c.kind)
	}
	return c, d.err
}

func (d *decoder) events() []engine.RawEvent {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	// Each event takes at least 3 bytes, which bounds the allocation by
	// the input before MaxEntryEvents is checked.
	if n == 0 || n > MaxEntryEvents || n > uint64(len(d.b)/3) {
		d.fail(fmt.Errorf("event count %d out of range", n))
		return nil
	}
	evs := make([]engine.RawEvent, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := engine.RawEvent{Origin: d.string(), Seq: d.uvarint()}
		e.Data = d.bytes(MaxEventBytes)
		evs = append(evs, e)
	}
	return evs
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail(fmt.Errorf("bad or non-minimal uvarint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		d.fail(fmt.Errorf("bad or non-minimal varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("length %d exceeds limit %d or input", n, limit))
		return nil
	}
	// Copy: raft may reuse the log's buffer after Apply returns, and the
	// store keeps what it is given.
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string {
	return string(d.bytes(MaxIDBytes))
}
