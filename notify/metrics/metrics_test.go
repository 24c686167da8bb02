package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sailplan/sailplan/notify"
)

func TestTransitionsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	at := notify.At{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	p := notify.Promotion{Service: "reviews", Phase: "Progressing"}
	m.Handle(notify.PromotionStarted{Change: notify.Change{At: at, Promotion: p}})
	m.Handle(notify.PromotionStepped{Change: notify.Change{At: at, Promotion: p}, Wave: 1, Weight: 10})
	m.Handle(notify.PromotionHolding{Change: notify.Change{At: at, Promotion: p}, Reason: "outside the window"})
	p.Phase = "Paused"
	m.Handle(notify.PromotionDecided{Change: notify.Change{At: at, Promotion: p}, Decision: notify.DecisionPause, By: "alice", Via: "cli"})
	m.Handle(notify.CommitSeen{At: at})
	want := `
# HELP sailplan_promotion_transitions_total Promotion transitions, by service and the phase they led to.
# TYPE sailplan_promotion_transitions_total counter
sailplan_promotion_transitions_total{phase="Paused",service="reviews"} 1
sailplan_promotion_transitions_total{phase="Progressing",service="reviews"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sailplan_promotion_transitions_total"); err != nil {
		t.Error(err)
	}
}
