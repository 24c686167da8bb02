package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// Metrics is the event stream's consumer that Prometheus scrapes.
type Metrics struct {
	transitions *prometheus.CounterVec
}

// New registers the metrics with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sailplan_promotion_transitions_total",
		Help: "Promotion transitions, by service and the phase they led to.",
	}, []string{"service", "phase"})}
	reg.MustRegister(m.transitions)
	return m
}

// Handle counts one event.
func (m *Metrics) Handle(e notify.Event) {
	switch e.(type) {
	case notify.PromotionHolding:
		// Not a transition: the phase stays, only the reason changes.
	case notify.PromotionEvent:
		p := e.(notify.PromotionEvent).Current()
		m.transitions.WithLabelValues(p.Service, p.Phase).Inc()
	}
}
