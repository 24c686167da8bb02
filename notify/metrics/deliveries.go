package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// deliveries count what reaches the daemon from outside: push webhooks
// and Slack interactions, on every replica.
type deliveries struct {
	webhooks     *prometheus.CounterVec
	interactions *prometheus.CounterVec
}

func newDeliveries(reg prometheus.Registerer) *deliveries {
	d := &deliveries{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_webhook_deliveries_total",
			Help: "Push webhook deliveries by provider and result: accepted, ignored, unauthorized, replay, too_large or bad_request.",
		}, []string{"provider", "result"}),
		interactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_slack_interactions_total",
			Help: "Slack interactions by result: applied, not_allowed, stale, failed, ignored, unauthorized, too_large or bad_request.",
		}, []string{"result"}),
	}
	// Every result from the start, so that a rate of refusals exists
	// before the first one. A webhook's series start with its first
	// delivery: only then is the provider known.
	for _, r := range []string{notify.InteractionApplied, notify.InteractionNotAllowed, notify.InteractionStale, notify.InteractionFailed,
		notify.InteractionIgnored, notify.InteractionUnauthorized, notify.InteractionTooLarge, notify.InteractionBadRequest} {
		d.interactions.WithLabelValues(r)
	}
	reg.MustRegister(d.webhooks, d.interactions)
	return d
}

func (d *deliveries) handle(e notify.Event) {
	switch e := e.(type) {
	case notify.WebhookReceived:
		d.webhooks.WithLabelValues(e.Provider, e.Result).Inc()
	case notify.InteractionReceived:
		d.interactions.WithLabelValues(e.Result).Inc()
	}
}
