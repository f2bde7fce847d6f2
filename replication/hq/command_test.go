package hq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func sampleCommands() map[string]command {
	return map[string]command{
		"events": {kind: kindApplyEvents, events: []engine.RawEvent{
			{Origin: "S001", Seq: 1, Data: []byte("one")},
			{Origin: "S001", Seq: 2, Data: []byte{}},
			{Origin: "S002", Seq: 1 << 40, Data: bytes.Repeat([]byte{0xff}, 300)},
		}},
		"hold":   {kind: kindPlaceHold, hold: engine.Hold{ID: "S001-T01-42", Store: "S001", Member: "+447700900123", Points: 250, At: at}},
		"void":   {kind: kindVoidHold, holdID: "S001-T01-42"},
		"expire": {kind: kindExpireHolds, cutoff: at.Add(-2 * time.Minute)},
	}
}

// normalized makes empty Data nil, as decoding does.
func normalized(c command) command {
	for i := range c.events {
		if len(c.events[i].Data) == 0 {
			c.events[i].Data = nil
		}
	}
	return c
}

func TestCommandRoundTrip(t *testing.T) {
	for name, c := range sampleCommands() {
		b, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if want := normalized(c); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, want)
		}
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	hold, err := encodeCommand(sampleCommands()["hold"])
	if err != nil {
		t.Fatal(err)
	}
	void, err := encodeCommand(sampleCommands()["void"])
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":           nil,
		"version 2":       append([]byte{2}, hold[1:]...),
		"unknown kind":    {1, 9, 0},
		"trailing byte":   append(bytes.Clone(hold), 0),
		"truncated":       hold[:len(hold)-1],
		"no events":       {1, 1, 0},
		"non-minimal len": {1, 3, 0x81, 0x00, 'h'},
		"empty hold id":   {1, 3, 0},
		"seq 0":           {1, 1, 1, 1, 'S', 0, 0},
		"zero points":     binary.AppendVarint(append([]byte{1, 2, 1, 'h', 1, 'S', 1, 'M'}, 0), at.UnixNano()),
		"long id":         append([]byte{1, 3, MaxIDBytes + 1}, bytes.Repeat([]byte{'x'}, MaxIDBytes+1)...),
		"bad utf8":        {1, 3, 1, 0xff},
		"control char":    {1, 3, 2, 'h', '\n'},
		"huge count":      {1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeCommand(b); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: err = %v, want ErrBadCommand", name, err)
		}
	}
	if _, err := decodeCommand(void); err != nil {
		t.Fatalf("void sample: %v", err)
	}
}

func TestEncodeCommandRefuses(t *testing.T) {
	for name, c := range map[string]command{
		"no events":   {kind: kindApplyEvents},
		"zero points": {kind: kindPlaceHold, hold: engine.Hold{ID: "h", Store: "S", Member: "M", At: at}},
		"no member":   {kind: kindPlaceHold, hold: engine.Hold{ID: "h", Store: "S", Points: 1, At: at}},
		"year 1":      {kind: kindExpireHolds, cutoff: time.Time{}},
		"kind 0":      {},
	} {
		if _, err := encodeCommand(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// TestFuzzCorpus keeps the committed seed corpus in step with the
// encoder: regenerate with HQ_WRITE_CORPUS=1.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeCommand")
	for name, c := range sampleCommands() {
		b, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "seed-"+name)
		want := "go test fuzz v1\n[]byte(" + strings.ReplaceAll(quoteBytes(b), "\n", "") + ")\n"
		if os.Getenv("HQ_WRITE_CORPUS") != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (regenerate with HQ_WRITE_CORPUS=1)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale: regenerate with HQ_WRITE_CORPUS=1", file)
		}
	}
}

func quoteBytes(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		sb.WriteString(`\x`)
		sb.WriteByte("0123456789abcdef"[c>>4])
		sb.WriteByte("0123456789abcdef"[c&15])
	}
	sb.WriteByte('"')
	return sb.String()
}

// FuzzDecodeCommand: decoding never panics, and whatever decodes
// re-encodes to the same bytes (the encoding is canonical, so every
// replica agrees on what an entry means).
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		b, err := encodeCommand(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		again, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("decoded command does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
	})
}
