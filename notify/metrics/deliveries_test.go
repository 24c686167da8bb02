package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// TestDeliverySeries: webhooks by provider and result; Slack
// interactions by result, every result from the start.
func TestDeliverySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	at := notify.At{Time: t0}
	m.Handle(notify.WebhookReceived{At: at, Provider: "github", Result: notify.WebhookAccepted})
	m.Handle(notify.WebhookReceived{At: at, Provider: "github", Result: notify.WebhookUnauthorized})
	m.Handle(notify.WebhookReceived{At: at, Provider: "github", Result: notify.WebhookUnauthorized})
	m.Handle(notify.WebhookReceived{At: at, Provider: "gitlab", Result: notify.WebhookReplay})
	m.Handle(notify.InteractionReceived{At: at, Result: notify.InteractionApplied})
	m.Handle(notify.InteractionReceived{At: at, Result: notify.InteractionTooLarge})
	compare(t, reg, `
# HELP sailplan_slack_interactions_total Slack interactions by result: applied, not_allowed, stale, failed, ignored, unauthorized, too_large or bad_request.
# TYPE sailplan_slack_interactions_total counter
sailplan_slack_interactions_total{result="applied"} 1
sailplan_slack_interactions_total{result="bad_request"} 0
sailplan_slack_interactions_total{result="failed"} 0
sailplan_slack_interactions_total{result="ignored"} 0
sailplan_slack_interactions_total{result="not_allowed"} 0
sailplan_slack_interactions_total{result="stale"} 0
sailplan_slack_interactions_total{result="too_large"} 1
sailplan_slack_interactions_total{result="unauthorized"} 0
# HELP sailplan_webhook_deliveries_total Push webhook deliveries by provider and result: accepted, ignored, unauthorized, replay, too_large or bad_request.
# TYPE sailplan_webhook_deliveries_total counter
sailplan_webhook_deliveries_total{provider="github",result="accepted"} 1
sailplan_webhook_deliveries_total{provider="github",result="unauthorized"} 2
sailplan_webhook_deliveries_total{provider="gitlab",result="replay"} 1
`, "sailplan_slack_interactions_total", "sailplan_webhook_deliveries_total")
}
