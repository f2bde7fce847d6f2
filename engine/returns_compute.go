package engine

import (
	"errors"
	"fmt"
)

// ComputeReturn computes a return of lines from the receipt sale, given the
// returns already made against it (prior), from what the receipt recorded,
// never re-priced (programme-v1, Returns). For each line returned, earn,
// points share and money paid come back in proportion to the quantity this
// return names: floor(line total × quantity returned / quantity sold), each
// return rounded down on its own; the return that completes a line takes
// whatever is left, so piece-by-piece returns give back exactly what the
// line took. Bonus points (bill and item level) and cashback come back only
// with the return that completes the whole receipt (Complete).
//
// A malformed request is refused with a *Refusal (invalid_params, field
// "lines" or "lines[i].line", "lines[i].qty", "lines[i].qty_milli").
func ComputeReturn(sale *Evaluation, prior []ReturnResult, lines []ReturnLine) (*ReturnResult, error) {
	if sale == nil {
		return nil, errors.New("engine: return against no sale")
	}
	if len(lines) == 0 {
		return nil, lineRefusal("lines", "a return needs at least one line")
	}
	sold := soldIndex(sale)
	done := returnedSoFar(prior)
	res := &ReturnResult{Lines: make([]ReturnedLine, 0, len(lines))}
	now := make(map[int]int64, len(lines)) // line → quantity (milli or units) this return
	for i, rl := range lines {
		lr, ok := sold[rl.Line]
		if !ok {
			return nil, lineRefusal(fmt.Sprintf("lines[%d].line", i), fmt.Sprintf("the receipt has no line %d", rl.Line))
		}
		if _, dup := now[rl.Line]; dup {
			return nil, lineRefusal(fmt.Sprintf("lines[%d].line", i), fmt.Sprintf("line %d is named twice", rl.Line))
		}
		q, ref := returnQty(i, lr, rl)
		if ref != nil {
			return nil, ref
		}
		prev := done[rl.Line]
		if q > soldQty(lr)-prev.qty {
			return nil, lineRefusal(qtyField(i, lr), fmt.Sprintf("line %d has %d left to return", rl.Line, soldQty(lr)-prev.qty))
		}
		now[rl.Line] = q
		back := returnedPart(lr, prev, q)
		res.Lines = append(res.Lines, back)
		res.Money += back.Money
		res.Refunded += back.PointsShare
		res.ClawedBack += back.Earn
	}
	res.Complete = true
	for _, lr := range sale.Lines {
		if done[lr.Line].qty+now[lr.Line] < soldQty(lr) {
			res.Complete = false
			break
		}
	}
	if res.Complete {
		res.ClawedBack += sale.Bonus + sale.Cashback
		for i := range res.Lines {
			res.Lines[i].Bonus = sold[res.Lines[i].Line].Bonus
		}
		for _, lr := range sale.Lines {
			res.ClawedBack += lr.Bonus // the lines of this return and of earlier ones
		}
	}
	return res, nil
}

// RemainingLines lists what is left to return of the receipt, in receipt
// order: returning them (sale.void) completes the receipt.
func RemainingLines(sale *Evaluation, prior []ReturnResult) []ReturnLine {
	done := returnedSoFar(prior)
	out := []ReturnLine{}
	for _, lr := range sale.Lines {
		left := soldQty(lr) - done[lr.Line].qty
		if left <= 0 {
			continue
		}
		rl := ReturnLine{Line: lr.Line}
		if lr.QtyMilli > 0 {
			rl.QtyMilli = left
		} else {
			rl.Qty = left
		}
		out = append(out, rl)
	}
	return out
}

// lineReturned is what earlier returns took from one line.
type lineReturned struct {
	qty   int64 // units, or thousandths for a weighed line
	money Money
	share Points
	earn  Points
}

func returnedSoFar(prior []ReturnResult) map[int]lineReturned {
	done := make(map[int]lineReturned)
	for _, r := range prior {
		for _, l := range r.Lines {
			d := done[l.Line]
			d.qty += l.Qty + l.QtyMilli // one of them is zero
			d.money += l.Money
			d.share += l.PointsShare
			d.earn += l.Earn
			done[l.Line] = d
		}
	}
	return done
}

func soldIndex(sale *Evaluation) map[int]LineResult {
	sold := make(map[int]LineResult, len(sale.Lines))
	for _, lr := range sale.Lines {
		sold[lr.Line] = lr
	}
	return sold
}

// soldQty is the line's quantity in the unit it was sold by.
func soldQty(lr LineResult) int64 {
	if lr.QtyMilli > 0 {
		return lr.QtyMilli
	}
	return lr.Qty
}

func qtyField(i int, lr LineResult) string {
	if lr.QtyMilli > 0 {
		return fmt.Sprintf("lines[%d].qty_milli", i)
	}
	return fmt.Sprintf("lines[%d].qty", i)
}

// returnQty checks that a return line uses the unit its line was sold by
// and a positive quantity.
func returnQty(i int, lr LineResult, rl ReturnLine) (int64, *Refusal) {
	if lr.QtyMilli > 0 {
		if rl.Qty != 0 {
			return 0, lineRefusal(fmt.Sprintf("lines[%d].qty", i), "the line was sold by weight: return qty_milli")
		}
		if rl.QtyMilli <= 0 {
			return 0, lineRefusal(fmt.Sprintf("lines[%d].qty_milli", i), "qty_milli must be positive")
		}
		return rl.QtyMilli, nil
	}
	if rl.QtyMilli != 0 {
		return 0, lineRefusal(fmt.Sprintf("lines[%d].qty_milli", i), "the line was sold by unit: return qty")
	}
	if rl.Qty <= 0 {
		return 0, lineRefusal(fmt.Sprintf("lines[%d].qty", i), "qty must be positive")
	}
	return rl.Qty, nil
}

// returnedPart is what returning q more of a line gives back: q's own
// proportion of the line, rounded down (programme-v1: "in proportion to the
// quantity returned (rounded down)"); the return that completes the line
// takes all that is left. Earlier returns took at most their rounded-down
// proportions, so what is left always covers this one.
func returnedPart(lr LineResult, prev lineReturned, q int64) ReturnedLine {
	sold := soldQty(lr)
	completes := prev.qty+q >= sold
	part := func(total, taken int64) int64 {
		if completes {
			return total - taken
		}
		share, ok := mulDivFloor(max(total, 0), q, sold) // rounded down
		if !ok {
			panic("engine: return share overflow") // total ≤ 10^15, q < sold
		}
		return min(share, max(total-taken, 0))
	}
	back := ReturnedLine{Line: lr.Line,
		Money:       Money(part(int64(lr.Paid), int64(prev.money))),
		PointsShare: Points(part(int64(lr.PointsShare), int64(prev.share))),
		Earn:        Points(part(int64(lr.Earn), int64(prev.earn))),
	}
	if lr.QtyMilli > 0 {
		back.QtyMilli = q
	} else {
		back.Qty = q
	}
	return back
}
