package transport_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/patron/patron/replication/transport"
)

// BenchmarkSend measures one direction over loopback, without faults and
// with the default link settings except the logger: messages/s and MB/s.
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{256, 4 << 10, transport.MaxMessageBytes} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			link := transport.LinkConfig{Logger: testLink().Logger}
			p := newBenchPair(b, link)
			ctx := context.Background()
			msg := make([]byte, size)
			done := make(chan error, 1)
			go func() {
				for range b.N {
					if _, err := p.server.Recv(ctx); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if err := p.client.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if c := p.clientPC.Counters().Add(p.serverPC.Counters()); c.Overflowed > 0 || c.Oversize > 0 {
				b.Logf("datagrams lost locally: %s", c)
			}
		})
	}
}
