package engine

import (
	"math"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// The 128-bit fast paths against math/big as the reference model.

func TestPropRatioFloorMatchesBig(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nums := rapid.SliceOfN(rapid.Int64Range(0, math.MaxInt64), 1, 6).Draw(t, "nums")
		small := rapid.SliceOfN(rapid.Int64Range(0, 1000), 0, 12).Draw(t, "small")
		nums = append(nums, small...)
		dens := rapid.SliceOfN(rapid.Int64Range(1, math.MaxInt64), 1, 8).Draw(t, "dens")
		got, gotOK := ratioFloor(nums, dens)
		want, wantOK := ratioFloorBig(nums, dens)
		if got != want || gotOK != wantOK {
			t.Fatalf("ratioFloor(%v, %v) = %d, %v; big says %d, %v", nums, dens, got, gotOK, want, wantOK)
		}
	})
}

func TestPropMulDivHalfUpMatchesBig(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.Int64Range(0, math.MaxInt64).Draw(t, "a")
		b := rapid.Int64Range(0, math.MaxInt64).Draw(t, "b")
		c := rapid.Int64Range(1, math.MaxInt64).Draw(t, "c")
		got, ok := mulDivHalfUp(a, b, c)
		x := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		x.Mul(x, big.NewInt(2)).Add(x, big.NewInt(c))
		x.Quo(x, new(big.Int).Mul(big.NewInt(c), big.NewInt(2))) // floor((2ab + c) / 2c)
		if ok != x.IsInt64() || (ok && got != x.Int64()) {
			t.Fatalf("mulDivHalfUp(%d, %d, %d) = %d, %v; want %v", a, b, c, got, ok, x)
		}
	})
}

func TestReducePct(t *testing.T) {
	for _, tt := range []struct{ pct, num, den int64 }{
		{110, 11, 10}, {150, 3, 2}, {125, 5, 4}, {100, 1, 1}, {200, 2, 1}, {7, 7, 100},
	} {
		n, d := reducePct(tt.pct)
		if n != tt.num || d != tt.den {
			t.Errorf("reducePct(%d) = %d/%d, want %d/%d", tt.pct, n, d, tt.num, tt.den)
		}
	}
}
