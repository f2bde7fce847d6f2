package filedrop

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patron/patron/engine"
)

func TestShare(t *testing.T) {
	tests := []struct {
		amounts []engine.Money
		off     engine.Money
		want    []engine.Money
	}{
		{[]engine.Money{9000, 1500, 500}, 200, []engine.Money{8836, 1473, 491}},
		{[]engine.Money{100, 100, 100}, 100, []engine.Money{66, 67, 67}},
		{[]engine.Money{1, 1}, 2, []engine.Money{0, 0}},
		{[]engine.Money{0, 5}, 3, []engine.Money{0, 2}},
	}
	for _, tt := range tests {
		lines := make([]engine.Line, len(tt.amounts))
		var total engine.Money
		for i, a := range tt.amounts {
			a := a
			lines[i].Amount = &a
			total += a
		}
		share(lines, tt.off, total)
		var sum engine.Money
		for i := range lines {
			sum += *lines[i].Amount
		}
		if sum != total-tt.off {
			t.Errorf("share(%v, %d): sum %d, want %d", tt.amounts, tt.off, sum, total-tt.off)
		}
		for i := range lines {
			if got := *lines[i].Amount; got != tt.want[i] {
				t.Errorf("share(%v, %d): line %d = %d, want %d", tt.amounts, tt.off, i, got, tt.want[i])
			}
		}
	}
}

func TestEscapeID(t *testing.T) {
	for in, want := range map[string]string{"31": "31", "T-01": "T_2D01", "T_01": "T_5F01", "a.b": "a.b"} {
		if got := escapeID(in); got != want {
			t.Errorf("escapeID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOfferJSON(t *testing.T) {
	r := newRig(t, "S001", "off")
	r.enroll(t)
	cfg := r.cfg
	cfg.OfferFormat = OfferJSON
	b, err := New(r.node, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.ProcessFile(context.Background(), r.drop(t, "testdata/sale-loyalty.xml", "sale.xml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Outbox, rep.Transactions[0].OfferFile))
	if err != nil {
		t.Fatal(err)
	}
	var f OfferFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != "1" || f.Points.Balance != 106 || len(f.Offers) != 1 || f.Offers[0].AmountOff != "5.00" || f.Receipt.Net != "108.00" {
		t.Errorf("offer = %s", data)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Inbox: "x", Outbox: "x/", OfferFormat: "csv", PollInterval: -1, TerminalPrefix: "W-"}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Outbox", "OfferFormat", "PollInterval", "TerminalPrefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}
