package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeRecords feeds arbitrary bytes to every stored-record decoder:
// none may panic, every failure must be ErrCorrupt, and whatever decodes
// must encode and decode back to the same value.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"+919800000001","first_name":"Asha","last_name":"","email":"","country":"","birthday":"","anniversary":"","groups":[],"consents":{"programme_terms":true},"enrolled_at":"2026-06-03T10:00:00Z","cards":[{"number":"GOLD-0001","type":"gold","status":"active","issued_at":"2026-06-03T10:00:00Z"}]}`))
	f.Add([]byte(`{"v":2,"id":"x"}`))
	f.Add([]byte(`{"v":1,"id":"x","extra":1}`))
	f.Add([]byte(`{"v":1} {}`))
	f.Add([]byte{binaryVersion, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newRec := range []func() record{
			func() record { return &memberRecord{} },
			func() record { return &cardLogRecord{} },
			func() record { return &ledgerRecord{} },
			func() record { return &receiptRecord{} },
			func() record { return &returnRecord{} },
			func() record { return &couponRecord{} },
			func() record { return &otpRecord{} },
		} {
			rec := newRec()
			if err := decodeJSON(data, rec); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%T: error %v is not ErrCorrupt", rec, err)
				}
				continue
			}
			if rec.version() != recordVersion {
				t.Fatalf("%T: accepted version %d", rec, rec.version())
			}
			again := newRec()
			roundTrip(t, rec, again)
		}
		b, err := decodeBalance(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("balance: error %v is not ErrCorrupt", err)
			}
			return
		}
		if data != nil {
			b2, err := decodeBalance(b.encode())
			if err != nil || b2 != b {
				t.Fatalf("balance round trip: %+v → %+v, %v", b, b2, err)
			}
		}
	})
}

// roundTrip checks that rec's encoding decodes into again and encodes to
// the same bytes (comparing encodings sidesteps time.Time's location
// pointers, which decoding does not preserve).
func roundTrip(t *testing.T, rec, again record) {
	t.Helper()
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("%T: encode: %v", rec, err)
	}
	if err := decodeJSON(data, again); err != nil {
		t.Fatalf("%T: decode of its own encoding %s: %v", rec, data, err)
	}
	data2, err := json.Marshal(again)
	if err != nil {
		t.Fatalf("%T: encode: %v", again, err)
	}
	if !bytes.Equal(data, data2) {
		t.Fatalf("%T: round trip changed the record:\n%s\n%s", rec, data, data2)
	}
}
