package bench

import (
	"fmt"
	"slices"
	"time"
)

// Latencies are measured durations.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 100) by the
// nearest-rank method (rounding the rank up), or 0 for no samples.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999) // nearest rank, rounded up
	return s[min(max(rank, 1), len(s))-1]
}

// Summary formats n, p50, p90, p99 and max.
func (l Latencies) Summary() string {
	if len(l) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(l),
		ms(l.Percentile(50)), ms(l.Percentile(90)), ms(l.Percentile(99)), ms(l.Percentile(100)))
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
