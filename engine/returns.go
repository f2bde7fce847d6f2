package engine

// ReturnLine asks to return Qty units (or QtyMilli thousandths, for weighed
// lines) of one receipt line.
type ReturnLine struct {
	Line     int   `json:"line"`
	Qty      int64 `json:"qty,omitempty"`
	QtyMilli int64 `json:"qty_milli,omitempty"`
}

// ReturnedLine is what one return gave back for one line.
type ReturnedLine struct {
	Line        int    `json:"line"`
	Qty         int64  `json:"qty,omitempty"`
	QtyMilli    int64  `json:"qty_milli,omitempty"`
	Money       Money  `json:"money"`        // money paid coming back
	PointsShare Points `json:"points_share"` // redeemed points coming back
	Earn        Points `json:"earn"`         // earned points taken back
	Bonus       Points `json:"bonus_points"` // item-level bonus taken back (full return only)
}

// ReturnResult is one computed return. ClawedBack = Σ Earn + bonus and
// cashback taken back; Refunded = Σ PointsShare.
type ReturnResult struct {
	Lines      []ReturnedLine `json:"lines"`
	Money      Money          `json:"money"`
	ClawedBack Points         `json:"clawed_back"`
	Refunded   Points         `json:"refunded"`
	// Complete is true when this return completes the whole receipt: the
	// bill's bonus and cashback came back with it and its coupon uses are
	// released.
	Complete bool `json:"complete"`
}
