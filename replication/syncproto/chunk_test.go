package syncproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// The chunked-event bound is the node's bound on an event other than a
// programme (engine.MaxEventBytes), as it is HQ's (hq.MaxEventBytes,
// checked where both are wired, in cmd/patron; this package must not
// import hq).
const (
	_ = uint(MaxChunkedEventBytes - engine.MaxEventBytes)
	_ = uint(engine.MaxEventBytes - MaxChunkedEventBytes)
)

// bigData is n bytes that differ with seed and position, so a chunk put
// at the wrong offset shows.
func bigData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>8) ^ seed
	}
	return b
}

// splitEvent returns the chunks of an event of batch, in order, as the
// outbox pops them.
func splitEvent(batch uint64, e engine.RawEvent) []EventChunk {
	o := newOutbox(1)
	o.push(Events{Batch: batch, Events: []engine.RawEvent{e}})
	var out []EventChunk
	for m := o.pop(); m != nil; m = o.pop() {
		out = append(out, m.(EventChunk))
	}
	return out
}

// appendRaw commits an event of the given data to l's own origin.
func (l *memLog) appendRaw(data []byte) uint64 {
	l.mu.Lock()
	seq := uint64(len(l.events[l.origin]) + 1)
	l.events[l.origin] = append(l.events[l.origin], engine.RawEvent{Origin: l.origin, Seq: seq, Data: bytes.Clone(data)})
	l.mu.Unlock()
	select {
	case l.committed <- struct{}{}:
	default:
	}
	return seq
}

// wireStats counts, on the send side, chunks and batches and the most
// bytes of any message.
type wireStats struct {
	chunks, batches, maxMsg int
}

func (w *wireStats) hook(b []byte) error {
	w.maxMsg = max(w.maxMsg, len(b))
	switch b[1] {
	case byte(TypeEventChunk):
		w.chunks++
	case byte(TypeEvents):
		w.batches++
	}
	return nil
}

// TestChunkedEventsCross: large events (300 KiB, exactly the bound) cross
// a session byte-identical, applied once, in order among small events,
// with every message within MaxMessageBytes.
func TestChunkedEventsCross(t *testing.T) {
	checkNoLeaks(t)
	hq, store := newMemLog("HQ"), newMemLog("S1")
	sizes := []int{10, 300 << 10, 20, 30, MaxChunkedEventBytes, MaxBatchBytes + 1, 5, MaxBatchBytes, 300 << 10, 7}
	for i, n := range sizes[:5] {
		hq.appendRaw(bigData(n, byte(i)))
	}
	cfg := testConfig()
	a, b := newPipe("S1", "HQ")
	var stats wireStats
	b.sendHook = stats.hook // only HQ sends events
	ctx, cancel := context.WithCancel(context.Background())
	_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
	_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, cfg)
	waitFor(t, 20*time.Second, "the first events arrive", func() bool { return store.vv()["HQ"] == 5 })
	for i, n := range sizes[5:] { // live, while in sync
		hq.appendRaw(bigData(n, byte(i+5)))
	}
	waitFor(t, 20*time.Second, "all events arrive", func() bool { return store.vv()["HQ"] == uint64(len(sizes)) })
	cancel()
	<-errA
	<-errB
	sameEvents(t, hq, store)
	for i, e := range store.all() {
		if len(e.Data) != sizes[i] || !bytes.Equal(e.Data, bigData(sizes[i], byte(i))) {
			t.Fatalf("event %d: %d bytes, not the %d sent", i+1, len(e.Data), sizes[i])
		}
	}
	if store.maxApplies() != 1 || store.applyCount() != len(sizes) {
		t.Fatalf("applied %d events, at most %d times each; want %d once", store.applyCount(), store.maxApplies(), len(sizes))
	}
	wantChunks := 0
	for _, n := range sizes {
		if n > MaxBatchBytes {
			wantChunks += (n + MaxChunkBytes - 1) / MaxChunkBytes
		}
	}
	if stats.chunks != wantChunks || stats.maxMsg > MaxMessageBytes {
		t.Fatalf("%d chunks (want %d), largest message %d bytes", stats.chunks, wantChunks, stats.maxMsg)
	}
	t.Logf("%d chunks, %d batches, largest message %d bytes", stats.chunks, stats.batches, stats.maxMsg)
}

// TestChunkedEventTornResumes cuts sessions in the middle of chunked
// events, both ways, until the logs converge: every event arrives whole
// and is applied exactly once.
func TestChunkedEventTornResumes(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	for i := range 6 {
		hq.appendRaw(bigData(300<<10+i, byte(i)))
		hq.appendRaw([]byte(fmt.Sprintf("small-%d", i)))
		store.appendRaw(bigData(100<<10+i, byte(100+i)))
		store.appendRaw([]byte(fmt.Sprintf("s-%d", i)))
	}
	cfg := testConfig()
	tornMid := 0
	for round := 0; ; round++ {
		if round > 60 {
			t.Fatal("no convergence after 60 sessions")
		}
		a, b := newPipe("S1", "HQ")
		sent, lastChunk := 0, false
		cut := 4 + round%7
		hook := func(m []byte) error {
			sent++
			if sent > cut {
				if lastChunk {
					tornMid++
				}
				return errors.New("transport torn down")
			}
			if m[1] == byte(TypeEventChunk) {
				c, _ := Decode(m)
				ch := c.(EventChunk)
				lastChunk = ch.Offset+uint64(len(ch.Data)) < ch.Size
			} else if m[1] == byte(TypeEvents) {
				lastChunk = false
			}
			return nil
		}
		if round%2 == 0 {
			b.sendHook = hook
		} else {
			a.sendHook = hook
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, cfg)
		_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, cfg)
		e1, e2 := <-errA, <-errB
		cancel()
		if e1 == nil || e2 == nil {
			t.Fatalf("round %d: sessions ended with %v, %v; want errors", round, e1, e2)
		}
		if vvEqual(store.vv(), hq.vv()) {
			t.Logf("converged after %d torn sessions, %d torn mid-event", round+1, tornMid)
			break
		}
	}
	if tornMid == 0 {
		t.Fatal("no session was torn in the middle of a chunked event")
	}
	sameEvents(t, store, hq)
	if store.maxApplies() > 1 || hq.maxApplies() > 1 {
		t.Fatal("an event was applied twice")
	}
	if hq.applyCount() != 12 || store.applyCount() != 12 {
		t.Fatalf("applied %d at HQ, %d at store; want 12 each", hq.applyCount(), store.applyCount())
	}
}

// TestOversizeEventRefused: an event over MaxChunkedEventBytes ends the
// session with ErrEventTooLarge naming the bound; what precedes it is
// delivered, it is not.
func TestOversizeEventRefused(t *testing.T) {
	checkNoLeaks(t)
	store, hq := newMemLog("S1"), newMemLog("HQ")
	store.appendRaw([]byte("before"))
	store.appendRaw(bigData(MaxChunkedEventBytes+1, 1))
	a, b := newPipe("HQ", "S1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errA := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, testConfig())
	_, errB := runSession(t, ctx, b, Local{Log: hq, Role: RoleHQ}, testConfig())
	err := <-errA
	<-errB
	if !errors.Is(err, ErrEventTooLarge) || !bytesContain(err.Error(), fmt.Sprint(MaxChunkedEventBytes)) {
		t.Fatalf("session ended with %v; want ErrEventTooLarge naming %d", err, MaxChunkedEventBytes)
	}
	if hq.vv()["S1"] > 1 {
		t.Fatalf("HQ holds S1 up to %d; the oversize event was applied", hq.vv()["S1"])
	}
}

func bytesContain(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// TestChunkedEventSessionOrder: a scripted HQ sees one event as chunks
// between batches, the next chunked event only after the first was
// answered, and the store applies a chunked event sent by hand once its
// last chunk arrived.
func TestChunkedEventSessionOrder(t *testing.T) {
	checkNoLeaks(t)
	store := newMemLog("S1")
	store.appendRaw([]byte("one"))
	big1 := store.appendRaw(bigData(100<<10, 1))
	big2 := store.appendRaw(bigData(50<<10, 2))
	store.appendRaw([]byte("four"))
	a, b := newPipe("S1", "HQ")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errc := runSession(t, ctx, a, Local{Log: store, Role: RoleStore}, testConfig())
	peer := scripted{t, b}
	peer.recv() // Hello
	peer.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ})
	if ev := peer.recv().(Events); !slicesEqual(seqs(ev.Events), []uint64{1}) {
		t.Fatalf("first batch %v; want [1]", seqs(ev.Events))
	}
	var got []byte
	for range 3 {
		c := peer.recv().(EventChunk)
		if c.Batch != 2 || c.Seq != big1 || c.Offset != uint64(len(got)) {
			t.Fatalf("chunk %+v", c)
		}
		got = append(got, c.Data...)
	}
	if !bytes.Equal(got, bigData(100<<10, 1)) {
		t.Fatal("chunks do not make the event")
	}
	// The second large event waits for the first's answer.
	for quiet := time.After(100 * time.Millisecond); ; {
		select {
		case m := <-b.in:
			if m[1] == byte(TypeEvents) || m[1] == byte(TypeEventChunk) {
				t.Fatalf("got %s before answering the chunked batch", Type(m[1]))
			}
			continue
		case <-quiet:
		}
		break
	}
	peer.send(Ack{Batch: 1, Have: engine.VersionVector{"S1": 1}})
	peer.send(Ack{Batch: 2, Have: engine.VersionVector{"S1": 2}})
	for range 2 {
		if c := peer.recv().(EventChunk); c.Batch != 3 || c.Seq != big2 {
			t.Fatalf("chunk %+v; want batch 3 of (S1, %d)", c, big2)
		}
	}
	if ev := peer.recv().(Events); ev.Batch != 4 || !slicesEqual(seqs(ev.Events), []uint64{4}) {
		t.Fatalf("batch %d %v; want 4 [4]", ev.Batch, seqs(ev.Events))
	}
	// The store receives a chunked event: applied once complete, then Ack.
	data := bigData(90<<10, 9)
	chunks := splitEvent(1, engine.RawEvent{Origin: "HQ", Seq: 1, Data: data})
	for _, c := range chunks[:len(chunks)-1] {
		peer.send(c)
	}
	time.Sleep(20 * time.Millisecond)
	if store.vv()["HQ"] != 0 {
		t.Fatal("applied before the last chunk")
	}
	peer.send(chunks[len(chunks)-1])
	if ack, ok := peer.recv().(Ack); !ok || ack.Batch != 1 || ack.Have["HQ"] != 1 {
		t.Fatalf("got %#v; want Ack of batch 1 at HQ:1", ack)
	}
	if e := store.all()[0]; e.Origin != "HQ" || !bytes.Equal(e.Data, data) {
		t.Fatal("the chunked event applied differs")
	}
	cancel()
	<-errc
}

func slicesEqual(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestLyingChunksRefused: chunks that do not continue one another, or a
// second chunked event before the first was answered, end the session
// with ErrProtocol; refusals of a chunk alone end it with ErrMalformed or
// ErrTooLarge. Nothing is applied.
func TestLyingChunksRefused(t *testing.T) {
	ev := func(seq uint64, n int) []EventChunk {
		return splitEvent(1, engine.RawEvent{Origin: "HQ", Seq: seq, Data: bigData(n, byte(seq))})
	}
	c := ev(1, 3*MaxChunkBytes)
	tests := []struct {
		name string
		send func(p scripted)
		want error
	}{
		{"first chunk not at offset 0", func(p scripted) { p.send(c[1]) }, ErrProtocol},
		{"chunk skipped", func(p scripted) { p.send(c[0]); p.send(c[2]) }, ErrProtocol},
		{"chunk repeated", func(p scripted) { p.send(c[0]); p.send(c[0]) }, ErrProtocol},
		{"total changes", func(p scripted) {
			p.send(c[0])
			d := ev(1, 3*MaxChunkBytes+1)[1]
			p.send(d)
		}, ErrProtocol},
		{"seq changes", func(p scripted) { p.send(c[0]); p.send(ev(2, 3*MaxChunkBytes)[1]) }, ErrProtocol},
		{"batch changes", func(p scripted) {
			p.send(c[0])
			d := c[1]
			d.Batch = 2
			p.send(d)
		}, ErrProtocol},
		{"batch in the middle", func(p scripted) {
			p.send(c[0])
			p.send(Events{Batch: 2, Events: []engine.RawEvent{{Origin: "HQ", Seq: 1, Data: []byte("x")}}})
		}, ErrProtocol},
		{"second chunked event before the answer", func(p scripted) {
			// The store's applier is stalled: the first event is
			// complete but unanswered when the second starts.
			for _, x := range c {
				p.send(x)
			}
			d := ev(2, 2*MaxChunkBytes)
			d[0].Batch = 2
			p.send(d[0])
		}, ErrProtocol},
		{"total over the bound", func(p scripted) {
			p.conn.Send(context.Background(), chunkBytes(1, "HQ", 1, MaxChunkedEventBytes+1, 0, MaxChunkBytes))
		}, ErrTooLarge},
		{"offset and data past the total", func(p scripted) {
			p.conn.Send(context.Background(), chunkBytes(1, "HQ", 1, MaxChunkBytes+10, MaxChunkBytes, 11))
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			store := newMemLog("S1")
			block := make(chan struct{})
			stalled := stallingApplier{log: store, block: block}
			a, b := newPipe("S1", "HQ")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, errc := runSession(t, ctx, a, Local{Log: store, Role: RoleStore, Applier: stalled}, testConfig())
			peer := scripted{t, b}
			peer.recv()
			peer.send(Hello{Protocol: ProtocolVersion, Origin: "HQ", Role: RoleHQ})
			tt.send(peer)
			err := <-errc
			close(block)
			if !errors.Is(err, tt.want) {
				t.Fatalf("session ended with %v; want %v", err, tt.want)
			}
			if n := store.applyCount(); n != 0 {
				t.Fatalf("%d events applied; want none", n)
			}
		})
	}
}

// stallingApplier applies nothing until block is closed or ctx ends.
type stallingApplier struct {
	log   *memLog
	block chan struct{}
}

func (a stallingApplier) Apply(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	select {
	case <-a.block:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return a.log.ApplyEvents(ctx, events)
}
