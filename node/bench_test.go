package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSaleComplete measures durable (fsynced) sales from parallel
// tills, with group commit (DB.Batch) and with one fsync per sale
// (DB.Update), e.g.
//
//	go test -run '^$' -bench SaleComplete -cpu 1,8,32 ./node
func BenchmarkSaleComplete(b *testing.B) {
	for _, mode := range []string{"batch", "update"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{Path: filepath.Join(b.TempDir(), "bench.db"), Store: "S001", CommitEach: mode == "update"}
			n, err := Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			if _, err := n.LoadProgramme(context.Background(), testProgramme("bench", "off")); err != nil {
				b.Fatal(err)
			}
			const members = 64
			for i := range members {
				if _, err := n.Enroll(context.Background(), "T01", EnrollRequest{Mobile: fmt.Sprintf("+9198%08d", i),
					Consents: map[string]bool{"programme_terms": true}}); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			b.SetParallelism(8) // many tills per core: they wait on fsync, not CPU
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					_, err := n.CompleteSale(context.Background(), "T01", SaleRequest{ReceiptNo: fmt.Sprint(i),
						Basket: books(1, 10000), Member: mobile(fmt.Sprintf("+9198%08d", i%members))})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sales/s")
		})
	}
}
