package testcluster

import (
	"sync/atomic"
	"time"
)

// Clock is one node's wall clock: the real one plus an offset the
// schedule moves, so a node's clock can drift, jump forward and jump
// back while the node runs (node.Config.Now). Timers and deadlines in the
// code under test keep using the runtime's monotonic clock; only what a
// node stamps (event HLCs, ledger times) sees the skew.
type Clock struct {
	offset atomic.Int64 // nanoseconds added to time.Now
}

// Now is the skewed time.
func (c *Clock) Now() time.Time { return time.Now().Add(c.Offset()) }

// Offset is the current skew.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Set makes the clock run d ahead of real time (behind if negative): a
// jump from wherever it was.
func (c *Clock) Set(d time.Duration) { c.offset.Store(int64(d)) }

// Drift moves the clock by d from where it is.
func (c *Clock) Drift(d time.Duration) { c.offset.Add(int64(d)) }
