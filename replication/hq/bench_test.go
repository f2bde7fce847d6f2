package hq

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// BenchmarkAppendEvents3Nodes measures events committed per second on a
// 3-node loopback cluster with mutual TLS and fsync'd raft logs, many
// callers at once (as many store sync sessions would be). The FSM store
// is the in-memory fake, so the node's own per-entry fsync is not in the
// figure. ns/op is per event.
func BenchmarkAppendEvents3Nodes(b *testing.B) {
	for _, perCall := range []int{1, 16} {
		b.Run(fmt.Sprintf("events_per_call=%d", perCall), func(b *testing.B) {
			c := newCluster(b, three, nil)
			l := c.leader()
			var writer atomic.Int64
			calls := (b.N + perCall - 1) / perCall
			var next atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				origin := fmt.Sprintf("S%03d", writer.Add(1))
				seq := uint64(0)
				batch := make([]engine.RawEvent, perCall)
				for pb.Next() {
					if next.Add(1) > int64(calls) {
						continue
					}
					for i := range batch {
						seq++
						batch[i] = engine.RawEvent{Origin: origin, Seq: seq, Data: make([]byte, 200)}
					}
					if _, err := l.AppendEvents(context.Background(), batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			events := calls * perCall
			_, _, entries := c.store(l.ID()).counters()
			b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
			if entries > 0 {
				b.ReportMetric(float64(events)/float64(entries), "events/entry")
			}
		})
	}
}
