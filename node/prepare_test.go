package node

import (
	"bytes"
	"errors"
	"testing"

	"github.com/patron/patron/engine"
)

func TestPrepareProgrammeEvent(t *testing.T) {
	clock := &fakeClock{t: testStart}
	hq := newPeer(t, "HQ1", clock, nil)
	store := newPeer(t, "S1", clock, nil)

	ev, err := hq.PrepareProgrammeEvent(ctx, programmeWith("v1", 0))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Origin != hq.Origin() || engine.OriginStore(hq.Origin()) != "HQ1" || ev.Seq != 1 {
		t.Fatalf("prepared %s/%d, want HQ1/1", ev.Origin, ev.Seq)
	}
	// Nothing is committed by preparing.
	vv, err := hq.VersionVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if vv[hq.Origin()] != 0 || hq.Programme() != nil {
		t.Fatalf("prepare committed something: vv %v, programme %v", vv, hq.Programme())
	}
	// A second prepare before the first is applied takes the same seq.
	clock.Advance(1)
	other, err := hq.PrepareProgrammeEvent(ctx, programmeWith("v2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if other.Seq != 1 {
		t.Fatalf("second prepare got seq %d, want 1", other.Seq)
	}

	// Applied like the Raft FSM would, on HQ and on a store.
	for _, p := range []*peer{hq, store} {
		if _, err := p.ApplyEvents(ctx, []engine.RawEvent{ev}); err != nil {
			t.Fatal(err)
		}
		if got := p.Programme(); got == nil || got.Version != "v1" {
			t.Fatalf("%s: programme %v after apply, want v1", p.Origin(), got)
		}
	}
	// The losing event is refused as a conflict; the stored one is the first.
	if _, err := hq.ApplyEvents(ctx, []engine.RawEvent{other}); !errors.Is(err, engine.ErrEventConflict) || !errors.Is(err, engine.ErrBadEvent) {
		t.Fatalf("applying the losing event: %v, want ErrEventConflict (and ErrBadEvent)", err)
	}
	held, err := hq.EventsAfter(ctx, hq.Origin(), 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || !bytes.Equal(held[0].Data, ev.Data) || bytes.Equal(held[0].Data, other.Data) {
		t.Fatal("the event stored at HQ1/1 is not the first one applied")
	}
	// Prepared again, v2 takes the next seq and becomes current.
	again, err := hq.PrepareProgrammeEvent(ctx, programmeWith("v2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if again.Seq != 2 {
		t.Fatalf("prepare after apply got seq %d, want 2", again.Seq)
	}
	if _, err := hq.ApplyEvents(ctx, []engine.RawEvent{again}); err != nil {
		t.Fatal(err)
	}
	if got := hq.Programme(); got == nil || got.Version != "v2" {
		t.Fatalf("programme %v, want v2", got)
	}

	// A stored version with other content conflicts; a bad document fails.
	if _, err := hq.PrepareProgrammeEvent(ctx, programmeWith("v1", 5)); !errors.Is(err, ErrProgrammeConflict) {
		t.Errorf("same version, other content: err %v, want ErrProgrammeConflict", err)
	}
	if _, err := hq.PrepareProgrammeEvent(ctx, []byte(`{"version": ""}`)); err == nil {
		t.Error("an invalid document was prepared")
	}
}
