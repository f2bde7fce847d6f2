package posbridge

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's collectors; they exist (unregistered) even
// without a Registerer so that the code paths are the same.
type metrics struct {
	connections prometheus.Gauge
	requests    *prometheus.CounterVec   // method, outcome (ok or reason)
	latency     *prometheus.HistogramVec // method
	dropped     *prometheus.CounterVec   // why
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "patron", Subsystem: "pos", Name: "connections",
			Help: "Open till WebSocket connections.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "pos", Name: "requests_total",
			Help: "Till requests by method and outcome (ok or the error reason).",
		}, []string{"method", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "patron", Subsystem: "pos", Name: "request_duration_seconds",
			Help:    "Till request latency by method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}, []string{"method"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "pos", Name: "connections_dropped_total",
			Help: "Till connections dropped by the server, by cause.",
		}, []string{"cause"}),
	}
	if reg == nil {
		return m
	}
	m.connections = register(reg, m.connections)
	m.requests = register(reg, m.requests)
	m.latency = register(reg, m.latency)
	m.dropped = register(reg, m.dropped)
	return m
}

// register registers c, reusing an identical collector that is already
// registered (a second Server on the same registry). Any other failure is a
// programming error.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("posbridge: register metrics: %v", err))
}

// methodLabel bounds the method label to known methods.
func methodLabel(method string) string {
	if _, ok := methods[method]; ok {
		return method
	}
	return "unknown"
}
