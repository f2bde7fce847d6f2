package transport

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Listener's collectors; they exist (unregistered) even
// without a Registerer so that the code paths are the same.
type metrics struct {
	handshakes *prometheus.CounterVec // outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "transport", Name: "handshakes_total",
			Help: "Link handshakes by outcome: accepted, unknown_identity, failed (known identity, wrong key or too slow), incomplete, busy.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		m.handshakes = register(reg, m.handshakes)
	}
	return m
}

// register registers c, reusing an identical collector already registered
// (a second Listener on the same registry). Any other failure is a
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
	panic(fmt.Sprintf("transport: register metrics: %v", err))
}
