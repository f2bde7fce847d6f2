package engine

// Fold returns a member's balance from their ledger entries: the sum of
// their signed points, in any order.
func Fold(entries []Entry) Points {
	var sum Points
	for _, e := range entries {
		sum += e.Points
	}
	return sum
}
