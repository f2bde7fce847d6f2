package engine

// Money is an amount in the currency's minor units (paise, cents).
type Money int64

// Points is a number of loyalty points.
type Points int64
