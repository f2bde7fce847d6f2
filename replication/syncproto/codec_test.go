package syncproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// sampleMessages has one or more of every message type.
func sampleMessages() map[string]Message {
	at := time.Date(2026, 3, 1, 10, 30, 0, 123, time.UTC)
	return map[string]Message{
		"hello":          Hello{Protocol: ProtocolVersion, Origin: "S001", Role: RoleStore, Have: engine.VersionVector{"S001": 42, "HQ": 7, "S002": 1 << 40}},
		"hello-empty":    Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ, Have: engine.VersionVector{}},
		"events":         Events{Batch: 9, Events: []engine.RawEvent{{Origin: "S001", Seq: 43, Data: []byte("event-one")}, {Origin: "S002", Seq: 2, Data: []byte{}}}},
		"ack":            Ack{Batch: 9, Have: engine.VersionVector{"S001": 44}},
		"nack":           Nack{Batch: 10, Reason: NackGap, Have: engine.VersionVector{"S001": 44}},
		"want":           Want{Have: engine.VersionVector{"S003": 3}},
		"hold-request":   HoldRequest{ID: "S001-T01-R9", Hold: engine.Hold{ID: "S001-T01-R9", Store: "S001", Member: "+447700900123", Points: 500, At: at}},
		"hold-no-time":   HoldRequest{ID: "S001-T01-R10", Hold: engine.Hold{ID: "S001-T01-R10", Store: "S001", Member: "m", Points: -1}},
		"hold-granted":   HoldReply{ID: "S001-T01-R9", Decision: engine.HoldDecision{Granted: true, Available: 1200, Status: engine.HoldPending}},
		"hold-refused":   HoldReply{ID: "S001-T01-R9", Decision: engine.HoldDecision{Available: 100, Status: engine.HoldRefused}},
		"hold-no-leader": HoldReply{ID: "S001-T01-R9", Reason: ReplyNotLeader},
		"void-request":   VoidRequest{ID: "S001-T01-R9"},
		"void-reply":     VoidReply{ID: "S001-T01-R9", Reason: ReplyUnavailable},
		"ping":           Ping{Nonce: 77},
		"pong":           Pong{Nonce: 77},
		"redirect":       Redirect{LeaderID: "HQ2", LeaderAddr: "10.0.0.2:7400"},
		"redirect-none":  Redirect{},
		// The last chunk of an event just over MaxBatchBytes: small, so a
		// good fuzz seed (a first chunk is MaxChunkBytes of data).
		"event-chunk-last": EventChunk{Batch: 11, Origin: "HQ", Seq: 8, Size: MaxBatchBytes + 5, Offset: MaxChunkBytes, Data: []byte("tail!")},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, m := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if gs, ws := fmt.Sprintf("%+v", normal(got)), fmt.Sprintf("%+v", normal(m)); gs != ws {
				t.Fatalf("got %s\nwant %s", gs, ws)
			}
			again, err := Encode(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %v", err)
			}
		})
	}
}

// normal makes messages comparable by printing: times as instants, empty
// slices as nil.
func normal(m Message) Message {
	switch v := m.(type) {
	case HoldRequest:
		if !v.Hold.At.IsZero() {
			v.Hold.At = v.Hold.At.UTC()
		}
		return v
	case EventChunk:
		if len(v.Data) == 0 {
			v.Data = nil
		}
		return v
	case Events:
		for i := range v.Events {
			if len(v.Events[i].Data) == 0 {
				v.Events[i].Data = nil
			}
		}
		return v
	}
	return m
}

func TestDecodeRefuses(t *testing.T) {
	hello, _ := Encode(sampleMessages()["hello"])
	ping, _ := Encode(Ping{Nonce: 1})
	bigEvents := Events{Batch: 1}
	for i := range MaxBatchEvents + 1 {
		bigEvents.Events = append(bigEvents.Events, engine.RawEvent{Origin: "A", Seq: uint64(i + 1)})
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"header only version", []byte{WireVersion}, ErrMalformed},
		{"unknown wire version", append([]byte{2}, ping[1:]...), ErrVersion},
		{"unknown type", []byte{WireVersion, 99}, ErrMalformed},
		{"type zero", []byte{WireVersion, 0}, ErrMalformed},
		{"trailing byte", append(append([]byte{}, ping...), 0), ErrMalformed},
		{"truncated hello", hello[:len(hello)-1], ErrMalformed},
		{"oversize", make([]byte, MaxMessageBytes+1), ErrTooLarge},
		{"non-minimal varint", []byte{WireVersion, byte(TypePing), 0x81, 0x00}, ErrMalformed},
		{"varint overflow", []byte{WireVersion, byte(TypePing), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		{"unsorted vector", []byte{WireVersion, byte(TypeWant), 2, 1, 'B', 1, 1, 'A', 1}, ErrMalformed},
		{"repeated origin", []byte{WireVersion, byte(TypeWant), 2, 1, 'A', 1, 1, 'A', 2}, ErrMalformed},
		{"zero in vector", []byte{WireVersion, byte(TypeWant), 1, 1, 'A', 0}, ErrMalformed},
		{"bad origin chars", []byte{WireVersion, byte(TypeWant), 1, 1, ' ', 1}, ErrMalformed},
		{"forged count", []byte{WireVersion, byte(TypeWant), 0xff, 0x07}, ErrMalformed},
		{"empty batch", []byte{WireVersion, byte(TypeEvents), 1, 0}, ErrMalformed},
		{"seq zero", []byte{WireVersion, byte(TypeEvents), 1, 1, 1, 'A', 0, 0}, ErrMalformed},
		{"bool two", []byte{WireVersion, byte(TypeHoldReply), 1, 'h', 0, 2, 0, 1}, ErrMalformed},
		{"unknown hold status", []byte{WireVersion, byte(TypeHoldReply), 1, 'h', 0, 1, 0, 9}, ErrMalformed},
		{"unknown nack reason", []byte{WireVersion, byte(TypeNack), 1, 7, 0}, ErrMalformed},
		{"unknown role", []byte{WireVersion, byte(TypeHello), 0, 1, 1, 'A', 9, 0}, ErrMalformed},
		{"unknown reply reason", []byte{WireVersion, byte(TypeVoidReply), 1, 'h', 5}, ErrMalformed},
		{"chunk of a small event", chunkBytes(1, "A", 1, MaxBatchBytes, 0, MaxChunkBytes), ErrMalformed},
		{"chunk of a huge event", chunkBytes(1, "A", 1, MaxChunkedEventBytes+1, 0, MaxChunkBytes), ErrTooLarge},
		{"chunk seq zero", chunkBytes(1, "A", 0, MaxBatchBytes+1, MaxChunkBytes, 1), ErrMalformed},
		{"chunk bad origin", chunkBytes(1, "A B", 1, MaxBatchBytes+1, MaxChunkBytes, 1), ErrMalformed},
		{"chunk offset not on a boundary", chunkBytes(1, "A", 1, MaxBatchBytes+2, 1, MaxBatchBytes+1), ErrMalformed},
		{"chunk offset at the end", chunkBytes(1, "A", 1, 2*MaxChunkBytes, 2*MaxChunkBytes, 1), ErrMalformed},
		{"chunk past the end", chunkBytes(1, "A", 1, MaxChunkBytes+1, MaxChunkBytes, 2), ErrMalformed},
		{"chunk short", chunkBytes(1, "A", 1, 3*MaxChunkBytes, MaxChunkBytes, MaxChunkBytes-1), ErrMalformed},
		{"chunk empty", chunkBytes(1, "A", 1, 3*MaxChunkBytes, 0, 0), ErrMalformed},
		{"chunk data over the bound", chunkBytes(1, "A", 1, 3*MaxChunkBytes, 0, MaxChunkBytes+1), ErrMalformed},
		{"chunk truncated", chunkBytes(1, "A", 1, MaxBatchBytes+1, MaxChunkBytes, 1)[:12], ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %#v, %v; want %v", m, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "syncproto: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
	if _, err := Encode(bigEvents); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of %d events: %v; want ErrTooLarge", len(bigEvents.Events), err)
	}
	big := Events{Batch: 1, Events: []engine.RawEvent{{Origin: "A", Seq: 1, Data: make([]byte, MaxBatchBytes+1)}}}
	if _, err := Encode(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of an event over MaxBatchBytes: %v; want ErrTooLarge", err)
	}
}

// chunkBytes encodes an EventChunk by hand, bypassing Encode's checks.
func chunkBytes(batch uint64, origin string, seq, size, offset uint64, n int) []byte {
	b := []byte{WireVersion, byte(TypeEventChunk)}
	b = binary.AppendUvarint(b, batch)
	b = appendString(b, origin)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, size)
	b = binary.AppendUvarint(b, offset)
	return appendString(b, strings.Repeat("x", n))
}

func TestEncodeRefusesBadChunks(t *testing.T) {
	for _, c := range []EventChunk{
		{Batch: 1, Origin: "A", Seq: 1, Size: MaxBatchBytes, Data: make([]byte, MaxBatchBytes)},
		{Batch: 1, Origin: "A", Seq: 1, Size: MaxChunkedEventBytes + 1, Data: make([]byte, MaxChunkBytes)},
		{Batch: 1, Origin: "A", Seq: 1, Size: MaxBatchBytes + 1, Offset: 1, Data: make([]byte, MaxBatchBytes)},
		{Batch: 1, Origin: "A", Seq: 1, Size: MaxBatchBytes + 1, Offset: MaxChunkBytes, Data: nil},
	} {
		if _, err := Encode(c); err == nil {
			t.Errorf("Encode(size %d, offset %d, %d bytes) accepted", c.Size, c.Offset, len(c.Data))
		}
	}
}

// TestSplitEvent: the chunks of an event are canonical, each encodes and
// decodes, and together they are the event.
func TestSplitEvent(t *testing.T) {
	for _, size := range []int{MaxBatchBytes + 1, 2 * MaxChunkBytes, 300 << 10, MaxChunkedEventBytes} {
		e := engine.RawEvent{Origin: "HQ", Seq: 3, Data: bigData(size, 1)}
		var got []byte
		chunks := splitEvent(9, e)
		if want := (size + MaxChunkBytes - 1) / MaxChunkBytes; len(chunks) != want {
			t.Fatalf("%d bytes: %d chunks; want %d", size, len(chunks), want)
		}
		for _, c := range chunks {
			b, err := Encode(c)
			if err != nil {
				t.Fatalf("%d bytes: chunk at %d: %v", size, c.Offset, err)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatalf("%d bytes: chunk at %d: %v", size, c.Offset, err)
			}
			got = append(got, m.(EventChunk).Data...)
		}
		if !bytes.Equal(got, e.Data) {
			t.Fatalf("%d bytes: reassembled data differs", size)
		}
	}
}

func TestLargestMessagesFit(t *testing.T) {
	long := strings.Repeat("o", MaxOriginLen-4)
	vv := make(engine.VersionVector, MaxOrigins)
	for i := range MaxOrigins {
		vv[fmt.Sprintf("%s%04d", long, i)] = 1<<64 - 1
	}
	ev := Events{Batch: 1<<64 - 1}
	per := MaxBatchBytes / MaxBatchEvents
	for i := range MaxBatchEvents {
		ev.Events = append(ev.Events, engine.RawEvent{Origin: fmt.Sprintf("%s%04d", long, i), Seq: 1<<64 - 1, Data: make([]byte, per)})
	}
	// A full chunk at the largest offset of a full one (3-byte varints).
	chunk := EventChunk{Batch: 1<<64 - 1, Origin: long + "0000", Seq: 1<<64 - 1, Size: MaxChunkedEventBytes,
		Offset: (MaxChunkedEventBytes/MaxChunkBytes - 1) * MaxChunkBytes, Data: make([]byte, MaxChunkBytes)}
	for _, m := range []Message{Hello{Protocol: ProtocolVersion, Origin: long + "0000", Role: RolePeer, Have: vv}, Ack{Batch: 1<<64 - 1, Have: vv}, Nack{Batch: 1<<64 - 1, Reason: NackUnavailable, Have: vv}, ev, chunk} {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		t.Logf("largest %s: %d bytes of %d", m.Type(), len(b), MaxMessageBytes)
	}
}

// FuzzDecodeMessage: Decode never panics, and what it accepts re-encodes
// to the same bytes (the encoding is canonical).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
	})
}

// TestWriteFuzzCorpus rewrites the committed seed corpus from
// sampleMessages and a few refusals:
// SYNCPROTO_WRITE_CORPUS=1 go test -run WriteFuzzCorpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SYNCPROTO_WRITE_CORPUS") == "" {
		t.Skip("set SYNCPROTO_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzDecodeMessage")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeMessage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, m := range sampleMessages() {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		write(name, b)
	}
	write("trailing", []byte{WireVersion, byte(TypePing), 1, 0})
	write("non-minimal", []byte{WireVersion, byte(TypePing), 0x81, 0x00})
	write("unsorted-vv", []byte{WireVersion, byte(TypeWant), 2, 1, 'B', 1, 1, 'A', 1})
	write("forged-count", []byte{WireVersion, byte(TypeEvents), 1, 0xff, 0x07})
	write("version-2", []byte{2, byte(TypeHello)})
	write("chunk-small-event", chunkBytes(1, "A", 1, MaxBatchBytes, MaxChunkBytes-1, 1))
	write("chunk-past-end", chunkBytes(1, "A", 1, MaxBatchBytes+1, MaxChunkBytes, 2))
	write("chunk-huge-event", chunkBytes(1, "A", 1, MaxChunkedEventBytes+1, MaxChunkedEventBytes, 1))
}
