package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// Metrics is the event stream's consumer that Prometheus scrapes.
type Metrics struct {
	transitions *prometheus.CounterVec
	writeBacks  *prometheus.CounterVec
}

// New registers the metrics with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sailplan_promotion_transitions_total",
		Help: "Promotion transitions, by service and the phase they led to.",
	}, []string{"service", "phase"}),
		writeBacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_promotion_write_backs_total",
			Help: "Write-backs of promoted candidates to Git, by service and outcome: committed, review (a branch pushed for review) or not_written (a person must make the candidate stable).",
		}, []string{"service", "outcome"}),
	}
	reg.MustRegister(m.transitions, m.writeBacks)
	return m
}

// Handle counts one event.
func (m *Metrics) Handle(e notify.Event) {
	switch e := e.(type) {
	case notify.PromotionHolding:
		// Not a transition: the phase stays, only the reason changes.
	case notify.PromotionWrittenBack:
		// Not a transition either: the promotion stays Promoted.
		outcome := "committed"
		if e.Review {
			outcome = "review"
		}
		m.writeBacks.WithLabelValues(e.Current().Service, outcome).Inc()
	case notify.PromotionNotWrittenBack:
		m.writeBacks.WithLabelValues(e.Current().Service, "not_written").Inc()
	case notify.PromotionEvent:
		p := e.Current()
		m.transitions.WithLabelValues(p.Service, p.Phase).Inc()
	}
}
