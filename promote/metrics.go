package promote

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts promotion transitions for the daemon's /metrics.
type Metrics struct {
	transitions *prometheus.CounterVec
}

// NewMetrics registers the promotion metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sailplan_promotion_transitions_total",
		Help: "Promotion transitions, by service and the phase they led to.",
	}, []string{"service", "phase"})}
	reg.MustRegister(m.transitions)
	return m
}

func (m *Metrics) transition(service string, phase Phase) {
	m.transitions.WithLabelValues(service, string(phase)).Inc()
}
