package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus collectors.
type metrics struct {
	sales      prometheus.Counter
	returns    prometheus.Counter
	refusals   *prometheus.CounterVec
	batchSize  prometheus.Histogram
	events     prometheus.Counter
	overdrafts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sales: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sales_total", Help: "Sales completed (replays not counted).",
		}),
		returns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_returns_total", Help: "Returns and voids completed (replays not counted).",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patron_node_refusals_total", Help: "Business refusals by protocol reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patron_node_commit_batch_size",
			Help:    "Calls group-committed per write transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 7), // 1..64 = BatchMaxSize
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_events_received_total", Help: "Events received from other nodes and applied.",
		}),
		overdrafts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_overdrafts_total", Help: "Overdrafts found when applying events (see Overdrafts).",
		}),
	}
	for _, c := range []prometheus.Collector{m.sales, m.returns, m.refusals, m.batchSize, m.events, m.overdrafts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("node: register metrics: %w", err)
		}
	}
	return m, nil
}
