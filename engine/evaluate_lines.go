package engine

import (
	"cmp"
	"fmt"
	"slices"
)

// validateLines checks the basket lines in the order sent, refusing the
// first problem with invalid_params and the field it is in, and returns
// their working state sorted by line number.
func validateLines(p *Programme, lines []Line) ([]lineState, *Refusal) {
	if len(lines) == 0 {
		return nil, lineRefusal("basket.lines", "a basket needs at least one line")
	}
	if len(lines) > MaxBasketLines {
		return nil, lineRefusal("basket.lines", fmt.Sprintf("a basket has at most %d lines", MaxBasketLines))
	}
	out := make([]lineState, len(lines))
	seen := make(map[int]struct{}, len(lines))
	for i := range lines {
		l := &lines[i]
		gross, ref := lineGross(i, l)
		if ref != nil {
			return nil, ref
		}
		if _, dup := seen[l.Line]; dup {
			return nil, lineRefusal(fmt.Sprintf("basket.lines[%d].line", i),
				fmt.Sprintf("line number %d is used twice", l.Line))
		}
		seen[l.Line] = struct{}{}
		prod, known := p.Product(l.SKU)
		qm := l.QtyMilli
		if l.Qty > 0 {
			qm = l.Qty * 1000 // ≤ MaxLineQty × 1000: fits
		}
		out[i] = lineState{src: l, pos: i, prod: prod, known: known,
			qtyMilli: qm, gross: gross, net: gross}
	}
	slices.SortFunc(out, func(a, b lineState) int { return cmp.Compare(a.src.Line, b.src.Line) })
	return out, nil
}

// ValidateBasket checks a basket's shape — line numbers, quantities,
// prices, size — without pricing it, refusing the first problem with
// invalid_params and its field. Callers that must refuse malformed params
// before anything else (pos-protocol-v1, Errors) call it first; Evaluate
// runs the same checks.
func ValidateBasket(p *Programme, b Basket) *Refusal {
	_, ref := validateLines(p, b.Lines)
	return ref
}

// lineGross validates one line and returns its gross: amount when sent,
// else unit_price × qty, or unit_price × qty_milli / 1000 rounded half up.
func lineGross(i int, l *Line) (Money, *Refusal) {
	field := func(name string) string { return fmt.Sprintf("basket.lines[%d].%s", i, name) }
	switch {
	case l.Line <= 0:
		return 0, lineRefusal(field("line"), "line numbers must be positive")
	case l.SKU == "":
		return 0, lineRefusal(field("sku"), "a line needs a sku")
	case l.Qty < 0:
		return 0, lineRefusal(field("qty"), "qty must not be negative")
	case l.QtyMilli < 0:
		return 0, lineRefusal(field("qty_milli"), "qty_milli must not be negative")
	case l.Qty > 0 && l.QtyMilli > 0:
		return 0, lineRefusal(field("qty_milli"), "a line has qty or qty_milli, not both")
	case l.Qty == 0 && l.QtyMilli == 0:
		return 0, lineRefusal(field("qty"), "a line needs a positive qty or qty_milli")
	case l.Qty > MaxLineQty:
		return 0, lineRefusal(field("qty"), fmt.Sprintf("qty above the limit of %d", MaxLineQty))
	case l.QtyMilli > MaxLineQty*1000:
		return 0, lineRefusal(field("qty_milli"), fmt.Sprintf("qty_milli above the limit of %d", MaxLineQty*1000))
	case l.UnitPrice < 0:
		return 0, lineRefusal(field("unit_price"), "unit_price must not be negative")
	case l.UnitPrice > MaxLineMoney:
		return 0, lineRefusal(field("unit_price"), fmt.Sprintf("unit_price above the limit of %d", MaxLineMoney))
	}
	if l.Amount != nil {
		if *l.Amount < 0 || *l.Amount > MaxLineMoney {
			return 0, lineRefusal(field("amount"), fmt.Sprintf("amount must be within [0, %d]", MaxLineMoney))
		}
		return *l.Amount, nil
	}
	var g int64
	var ok bool
	if l.Qty > 0 {
		g, ok = mulDivFloor(int64(l.UnitPrice), l.Qty, 1) // exact: divisor 1
	} else {
		g, ok = mulDivHalfUp(int64(l.UnitPrice), l.QtyMilli, 1000) // rounded half up
	}
	if !ok || g > int64(MaxLineMoney) {
		return 0, lineRefusal(field("unit_price"), fmt.Sprintf("unit_price × quantity above the limit of %d", MaxLineMoney))
	}
	return Money(g), nil
}

func lineRefusal(field, msg string) *Refusal {
	return &Refusal{Reason: ReasonInvalidParams, Field: field, Message: msg}
}
