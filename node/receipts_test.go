package node

import (
	"reflect"
	"testing"
)

func TestReceiptReadsTheStoredAnswer(t *testing.T) {
	h := newHarness(t, "off")
	h.enroll(t, "+919800000001", "", "")
	want, err := h.CompleteSale(ctx, "T01", SaleRequest{ReceiptNo: "R1", Basket: books(2, 45000), Member: mobile("+919800000001")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Receipt(ctx, "T02", want.ReceiptID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Receipt = %s, want %s", mustJSON(t, got), mustJSON(t, want))
	}
	_, err = h.Receipt(ctx, "T01", "S001-T01-nope")
	wantReason(t, err, ReasonNotFound)
}
