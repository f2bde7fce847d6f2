package engine

import "testing"

func TestOriginStore(t *testing.T) {
	for _, tc := range []struct{ origin, store string }{
		{"S001", "S001"},
		{"S001.482913057", "S001"},
		{"store.1.482913057", "store.1"},
		{"S001.48291305", "S001.48291305"},     // 8 digits: not an incarnation
		{"S001.4829130570", "S001.4829130570"}, // 10 digits
		{"S001.48291305x", "S001.48291305x"},
		{".482913057", ".482913057"}, // no store
		{"HQ1", "HQ1"},
		{"", ""},
	} {
		if got := OriginStore(tc.origin); got != tc.store {
			t.Errorf("OriginStore(%q) = %q, want %q", tc.origin, got, tc.store)
		}
	}
}
