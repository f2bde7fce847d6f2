package engine

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

func TestFold(t *testing.T) {
	equal(t, "empty", Fold(nil), Points(0))
	equal(t, "sum", Fold([]Entry{{Points: 30}, {Points: -400}, {Points: 1200}}), Points(830))
}

func TestPropFoldOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pts := rapid.SliceOf(rapid.Int64Range(-1_000_000, 1_000_000)).Draw(t, "points")
		entries := make([]Entry, len(pts))
		var want Points
		for i, v := range pts {
			entries[i] = Entry{ID: fmt.Sprint(i), Points: Points(v)}
			want += Points(v)
		}
		if got := Fold(rapid.Permutation(entries).Draw(t, "order")); got != want {
			t.Fatalf("Fold = %d, want %d", got, want)
		}
	})
}
