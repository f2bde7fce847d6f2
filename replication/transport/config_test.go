package transport

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	key := make([]byte, MinKeyBytes)
	tests := []struct {
		name    string
		cfg     ClientConfig
		wantErr []string
	}{
		{"valid with defaults", ClientConfig{Identity: "S001", Key: key}, nil},
		{"everything wrong at once", ClientConfig{
			Key:  key[:4],
			Link: LinkConfig{MaxRecordsPerKey: 1 << 21, MaxKeyAge: 48 * time.Hour, RTOMax: -1},
		}, []string{"Identity", "Key has 4 bytes", "MaxRecordsPerKey", "MaxKeyAge", "RTOMax is negative"}},
		{"idle below two keepalives", ClientConfig{Identity: "S001", Key: key,
			Link: LinkConfig{KeepaliveInterval: time.Second, IdleTimeout: time.Second}}, []string{"IdleTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.withDefaults().validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestDatagramBudget(t *testing.T) {
	if got := sctpMTU + dtlsRecordOverheadBytes; got != MaxDatagramBytes {
		t.Errorf("SCTP MTU %d + DTLS overhead %d = %d, want %d", sctpMTU, dtlsRecordOverheadBytes, got, MaxDatagramBytes)
	}
}
