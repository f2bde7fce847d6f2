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

	smsQueued, smsSent, smsFailed, smsRetried, smsSkipped, smsDelivered prometheus.Counter
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
		smsQueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_queued_total", Help: "Text messages queued in the outbox.",
		}),
		smsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_sent_total", Help: "Text messages the gateway accepted.",
		}),
		smsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_failed_total", Help: "Text messages given up (permanent failure or attempts spent).",
		}),
		smsRetried: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_retried_total", Help: "Failed send attempts scheduled for a retry.",
		}),
		smsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_skipped_total", Help: "Text messages not sent: consent withdrawn, or an OTP expired first.",
		}),
		smsDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_node_sms_delivered_total", Help: "Delivery receipts reporting a message delivered.",
		}),
	}
	for _, c := range []prometheus.Collector{m.sales, m.returns, m.refusals, m.batchSize, m.events, m.overdrafts,
		m.smsQueued, m.smsSent, m.smsFailed, m.smsRetried, m.smsSkipped, m.smsDelivered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("node: register metrics: %w", err)
		}
	}
	return m, nil
}
