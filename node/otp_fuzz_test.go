package node

import (
	"errors"
	"testing"
)

// FuzzDecodeOTPRecords feeds arbitrary bytes to the decoders of the OTP
// bucket's records (a member's, with its authenticator state, and a
// terminal's): none may panic, every failure is ErrCorrupt, and what
// decodes round-trips. The committed corpus
// (testdata/fuzz/FuzzDecodeOTPRecords) holds records as the node writes
// them.
func FuzzDecodeOTPRecords(f *testing.F) {
	f.Add([]byte(`{"v":1,"salt":"AAECAwQFBgcICQoLDA0ODw==","hash":"AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8=","points":100,"expires_at":"2026-06-03T10:05:00Z","tries":2,"sends":["2026-06-03T10:00:00Z"],"issued_at":"2026-06-03T10:00:00Z","resends":1,"auth":{"last_step":59349360,"tries":1,"locked_until":"2026-06-03T10:15:00Z","pending":{"secret":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=","salt":"AAEC","hash":"AAEC","issued_at":"2026-06-03T10:00:00Z","expires_at":"2026-06-03T10:05:00Z","tries":0,"resends":0}}}`))
	f.Add([]byte(`{"v":1,"salt":null,"hash":null,"points":0,"expires_at":"0001-01-01T00:00:00Z","tries":0,"sends":[],"auth":{}}`))
	f.Add([]byte(`{"v":1,"sends":["2026-06-03T10:00:00Z"],"fails":["2026-06-03T10:01:00Z","2026-06-03T10:02:00Z"]}`))
	f.Add([]byte(`{"v":1,"auth":{"pending":{"secret":7}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newRec := range []func() record{
			func() record { return &otpRecord{} },
			func() record { return &otpTerminalRecord{} },
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
			roundTrip(t, rec, newRec())
		}
	})
}
