package filedrop

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label values of files_total (beside OutcomeProcessed and
// OutcomeFailed).
const (
	// FileSkipped: a file processed with nothing to apply (every
	// transaction skipped); it moves to processed/ like any other.
	FileSkipped = "skipped"
	// FileDeferred: left in the inbox for a later poll (node unavailable).
	FileDeferred = "deferred"
)

// metrics are the bridge's collectors; they exist (unregistered) even
// without a Registerer so that the code paths are the same.
type metrics struct {
	files   *prometheus.CounterVec // outcome
	txs     *prometheus.CounterVec // outcome: sale, return, failed
	skipped *prometheus.CounterVec // reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "filedrop", Name: "files_total",
			Help: "Till files by outcome: processed, failed, skipped (nothing to apply) or deferred.",
		}, []string{"outcome"}),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "filedrop", Name: "transactions_total",
			Help: "Till file transactions sent to the node, by outcome: sale, return or failed.",
		}, []string{"outcome"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "patron", Subsystem: "filedrop", Name: "transactions_skipped_total",
			Help: "Till file transactions skipped, by reason (training, cancelled, control, ...).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.files, &m.txs, &m.skipped} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			existing, ok := (*prometheus.CounterVec)(nil), false
			if errors.As(err, &are) {
				existing, ok = are.ExistingCollector.(*prometheus.CounterVec)
			}
			if !ok {
				return nil, fmt.Errorf("filedrop: register metrics: %w", err)
			}
			*c = existing // a second bridge on the same registry
		}
	}
	return m, nil
}

// count records a finished file's report.
func (m *metrics) count(r Report) {
	outcome := r.Outcome
	if outcome == OutcomeProcessed && r.Sales == 0 && r.Returns == 0 {
		outcome = FileSkipped
	}
	m.files.WithLabelValues(outcome).Inc()
	for _, t := range r.Transactions {
		switch t.Outcome {
		case TxSale, TxReturn, TxFailed:
			m.txs.WithLabelValues(t.Outcome).Inc()
		case TxSkipped:
			m.skipped.WithLabelValues(t.Reason).Inc()
		}
	}
}
