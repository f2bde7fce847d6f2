package node

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

func lotsCodecSample() *engine.LotReplay {
	at := time.Date(2026, 6, 3, 10, 0, 0, 123, time.UTC)
	return &engine.LotReplay{Through: at.Add(-time.Hour), LastAt: at, LastID: "S001-T01-9/earn", Debt: 0, Expired: 40,
		Held: at.Add(24 * time.Hour), Live: []engine.ReplayLot{
			{Lot: engine.Lot{ID: "S001-T01-9/earn", At: at, Points: 45, Remaining: 30, ExpiresAt: at.AddDate(1, 0, 0),
				PendingUntil: at.AddDate(0, 0, 14)}, Kind: engine.EntryEarn, Ref: "S001-T01-9", Store: "S001"},
			{Lot: engine.Lot{ID: engine.MergedLotID, At: at.Add(-48 * time.Hour), Points: 7, Remaining: 7}},
		}}
}

func TestLotsCodecRoundTrip(t *testing.T) {
	for _, r := range []*engine.LotReplay{lotsCodecSample(), engine.NewLotReplay(time.Time{})} {
		got, err := decodeLots(encodeLots(r))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip\ngot  %+v\nwant %+v", got, r)
		}
	}
	data := encodeLots(lotsCodecSample())
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{2}, data[1:]...),
		"truncated": data[:len(data)-1],
		"trailing":  append(bytes.Clone(data), 0),
		"count":     append(encodeLots(engine.NewLotReplay(time.Time{}))[:len(encodeLots(engine.NewLotReplay(time.Time{})))-1], 0xff, 0xff, 0x7f),
	} {
		if _, err := decodeLots(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeLots: the decoder never panics, fails only with ErrCorrupt,
// and what it decodes encodes back to the same bytes.
func FuzzDecodeLots(f *testing.F) {
	f.Add(encodeLots(lotsCodecSample()))
	f.Add(encodeLots(engine.NewLotReplay(time.Time{})))
	f.Add([]byte{lotsCodecVersion})
	f.Add([]byte{lotsCodecVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeLots(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again := encodeLots(r)
		r2, err := decodeLots(again)
		if err != nil || !bytes.Equal(encodeLots(r2), again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
