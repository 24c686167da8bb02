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

// TestWriteBacksCounted: write-back outcomes have their own counter and are
// no transition: the promotion stays Promoted.
func TestWriteBacksCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	ch := notify.Change{At: notify.At{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}, Promotion: notify.Promotion{Service: "reviews", Phase: "Promoted"}}
	m.Handle(notify.PromotionWrittenBack{Change: ch, Commit: "89abcdef", Branch: "main"})
	m.Handle(notify.PromotionWrittenBack{Change: ch, Commit: "89abcdef", Branch: "sailplan/promote/reviews/v2", Review: true})
	m.Handle(notify.PromotionNotWrittenBack{Change: ch, Reason: "refused"})
	want := `
# HELP sailplan_promotion_write_backs_total Write-backs of promoted candidates to Git, by service and outcome: committed, review (a branch pushed for review) or not_written (a person must make the candidate stable).
# TYPE sailplan_promotion_write_backs_total counter
sailplan_promotion_write_backs_total{outcome="committed",service="reviews"} 1
sailplan_promotion_write_backs_total{outcome="not_written",service="reviews"} 1
sailplan_promotion_write_backs_total{outcome="review",service="reviews"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sailplan_promotion_write_backs_total", "sailplan_promotion_transitions_total"); err != nil {
		t.Error(err)
	}
}
