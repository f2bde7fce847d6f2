package hq

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HQ node's Prometheus collectors.
type metrics struct {
	entriesApplied *prometheus.CounterVec // by kind, on every node (replays included)
	eventsPerEntry prometheus.Histogram   // leader: events grouped into one entry
	applyLatency   *prometheus.HistogramVec
	leaderChanges  prometheus.Counter
	holds          *prometheus.CounterVec // leader: decisions and expiries by outcome
	tlsRejected    prometheus.Counter
	pendingAppends prometheus.GaugeFunc
	isLeader       prometheus.GaugeFunc
	appliedIndexFn prometheus.GaugeFunc

	reg prometheus.Registerer // nil: nothing registered
}

// newMetrics makes the collectors; register exposes them.
func newMetrics(pending, leader, applied func() float64) *metrics {
	m := &metrics{
		entriesApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patron_hq_entries_applied_total",
			Help: "Raft entries applied by this node's FSM, by command kind (replays after restart included).",
		}, []string{"kind"}),
		eventsPerEntry: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patron_hq_events_per_entry",
			Help:    "Store events grouped into one Raft entry by the leader.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1..16384 ≥ MaxBatchEvents default
		}),
		applyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patron_hq_apply_seconds",
			Help:    "Leader: from proposing an entry to its apply on the leader (commit on a quorum included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. 4 s
		}, []string{"kind"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_hq_leader_changes_total",
			Help: "Leader changes this node observed.",
		}),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patron_hq_holds_total",
			Help: "Leader: hold decisions returned (granted, refused), voids proposed (voided) and holds expired (expired).",
		}, []string{"outcome"}),
		tlsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patron_hq_tls_rejected_total",
			Help: "Inbound raft connections whose mutual-TLS handshake failed (unknown CA, no certificate, timeout).",
		}),
		pendingAppends: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "patron_hq_pending_appends",
			Help: "AppendEvents calls queued for the proposer.",
		}, pending),
		isLeader: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "patron_hq_is_leader",
			Help: "1 when this node is the raft leader.",
		}, leader),
		appliedIndexFn: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "patron_hq_applied_index",
			Help: "Last raft index applied by this node.",
		}, applied),
	}
	for _, o := range []string{"granted", "refused", "voided", "expired"} {
		m.holds.WithLabelValues(o)
	}
	return m
}

// register registers the collectors with reg (nil: none). The gauge
// functions may run from then on.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors()[:i] {
				reg.Unregister(r)
			}
			return fmt.Errorf("hq: register metrics: %w", err)
		}
	}
	m.reg = reg
	return nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.entriesApplied, m.eventsPerEntry, m.applyLatency,
		m.leaderChanges, m.holds, m.tlsRejected, m.pendingAppends, m.isLeader, m.appliedIndexFn}
}

// unregister removes the collectors, so a node reopened in the same
// process can register again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
