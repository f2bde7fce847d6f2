package posbridge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.Metrics = reg
	s, url := startServer(t, newMock(), cfg)
	c := dial(t, url, "tok-1")
	ctx := testCtx(t)
	if err := c.Call(ctx, "hello", nil, nil); err != nil {
		t.Fatal(err)
	}
	_ = c.Call(ctx, "no.such", nil, nil)
	eventually(t, "the connection to register", func() bool { return s.numConns() == 1 })

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{
		"patron_pos_connections":                                            1,
		"patron_pos_requests_total method=hello outcome=ok":                 1,
		"patron_pos_requests_total method=unknown outcome=method_not_found": 1,
		"patron_pos_request_duration_seconds method=hello":                  1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
	// A second server on the same registry reuses the collectors.
	_ = New(newMock(), cfg)
}
