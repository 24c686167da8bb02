package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

func bound(v float64) *float64 { return &v }

// TestPromotionSeries: where each promotion stands (weights per wave,
// phase, the approval it waits for and since when), its transitions, and
// its analyses with each check's last value against its bounds; a
// service whose canary leaves the intents leaves no series.
func TestPromotionSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	at := notify.At{Time: t0}
	m.Handle(notify.LeaderChanged{At: at, Leading: true})
	reviews := notify.Promotion{Service: "reviews", Phase: "Progressing", Steps: []int{10, 50, 100}, ApprovalAt: []int{50},
		Waves: []notify.WaveWeight{{Wave: 1, Step: 0, Weight: 10}, {Wave: 2, Step: -1, Weight: 0}}}
	ratings := notify.Promotion{Service: "ratings", Phase: "Progressing", Steps: []int{10, 100}, Waves: []notify.WaveWeight{{Wave: 1, Step: 0, Weight: 10}}}
	m.Handle(notify.PromotionsLoaded{At: at, Promotions: []notify.Promotion{reviews, ratings}})
	reviews.Waves[1] = notify.WaveWeight{Wave: 2, Step: 0, Weight: 10}
	m.Handle(notify.PromotionStepped{Change: notify.Change{At: at, Promotion: reviews}, Wave: 2, Weight: 10})
	reviews.Phase, reviews.WaitingSince = "WaitingForApproval", t0
	m.Handle(notify.ApprovalWaiting{Change: notify.Change{At: at, Promotion: reviews}, Wave: 1, Weight: 50})
	m.Handle(notify.PromotionHolding{Change: notify.Change{At: at, Promotion: reviews}, Reason: "outside the window"})
	m.Handle(notify.AnalysisResult{At: at, Service: "reviews", Candidate: "v2", Verdict: notify.Pass, Checks: []notify.Check{
		{Name: "requests", Value: 600, Measured: true, Min: bound(50), Passed: true},
		{Name: "success rate", Value: 99.5, Measured: true, Min: bound(99), Unit: "%", Passed: true},
		{Name: "p99 latency", Value: 20, Measured: true, Max: bound(100), Unit: "ms", Passed: true},
	}})
	// Nothing measured: the last value stays, the check counts as inconclusive.
	m.Handle(notify.AnalysisResult{At: at, Service: "reviews", Candidate: "v2", Verdict: notify.Inconclusive, Checks: []notify.Check{
		{Name: "requests", Value: 0, Measured: true, Min: bound(50)},
		{Name: "success rate", Min: bound(99), Unit: "%"},
		{Name: "p99 latency", Max: bound(100), Unit: "ms"},
	}})
	m.Handle(notify.AnalysisResult{At: at, Service: "ratings", Candidate: "v2", Verdict: notify.Fail, Checks: []notify.Check{
		{Name: "success rate", Value: 95, Measured: true, Min: bound(99), Unit: "%"},
	}})
	ratings.Phase, ratings.Waves[0].Weight = "RolledBack", 0
	m.Handle(notify.PromotionRolledBack{Change: notify.Change{At: at, Promotion: ratings}, Reason: "success rate 95% < 99%"})

	all := []string{"sailplan_promotion_weight_ratio", "sailplan_promotion_phase", "sailplan_promotion_approval_waiting",
		"sailplan_promotion_approval_waiting_since_timestamp_seconds", "sailplan_promotion_transitions_total",
		"sailplan_analyses_total", "sailplan_analysis_checks_total", "sailplan_analysis_check_value", "sailplan_analysis_check_threshold"}
	compare(t, reg, `
# HELP sailplan_analyses_total Analyses of a candidate's traffic by service and verdict: pass, fail, inconclusive (too little traffic) or unavailable (no metrics source).
# TYPE sailplan_analyses_total counter
sailplan_analyses_total{result="fail",service="ratings"} 1
sailplan_analyses_total{result="inconclusive",service="reviews"} 1
sailplan_analyses_total{result="pass",service="reviews"} 1
# HELP sailplan_analysis_check_threshold A bound of a check of a service's analysis, in the check's unit: bound is min (the value must be at least this) or max (at most this).
# TYPE sailplan_analysis_check_threshold gauge
sailplan_analysis_check_threshold{bound="max",check="p99 latency",service="reviews"} 100
sailplan_analysis_check_threshold{bound="min",check="requests",service="reviews"} 50
sailplan_analysis_check_threshold{bound="min",check="success rate",service="ratings"} 99
sailplan_analysis_check_threshold{bound="min",check="success rate",service="reviews"} 99
# HELP sailplan_analysis_check_value The value a check of a service's analysis last measured, in the check's unit (success rate in %, p99 latency in ms, requests).
# TYPE sailplan_analysis_check_value gauge
sailplan_analysis_check_value{check="p99 latency",service="reviews"} 20
sailplan_analysis_check_value{check="requests",service="reviews"} 0
sailplan_analysis_check_value{check="success rate",service="ratings"} 95
sailplan_analysis_check_value{check="success rate",service="reviews"} 99.5
# HELP sailplan_analysis_checks_total Checks of analyses by service, check and result: pass, fail, inconclusive (nothing measured) or unavailable (nothing measured, no metrics source).
# TYPE sailplan_analysis_checks_total counter
sailplan_analysis_checks_total{check="p99 latency",result="inconclusive",service="reviews"} 1
sailplan_analysis_checks_total{check="p99 latency",result="pass",service="reviews"} 1
sailplan_analysis_checks_total{check="requests",result="fail",service="reviews"} 1
sailplan_analysis_checks_total{check="requests",result="pass",service="reviews"} 1
sailplan_analysis_checks_total{check="success rate",result="fail",service="ratings"} 1
sailplan_analysis_checks_total{check="success rate",result="inconclusive",service="reviews"} 1
sailplan_analysis_checks_total{check="success rate",result="pass",service="reviews"} 1
# HELP sailplan_promotion_approval_waiting 1 while a service's promotion waits for an approval, 0 otherwise.
# TYPE sailplan_promotion_approval_waiting gauge
sailplan_promotion_approval_waiting{service="ratings"} 0
sailplan_promotion_approval_waiting{service="reviews"} 1
# HELP sailplan_promotion_approval_waiting_since_timestamp_seconds When the approval a promotion waits for was asked for, in Unix seconds; only while it waits.
# TYPE sailplan_promotion_approval_waiting_since_timestamp_seconds gauge
sailplan_promotion_approval_waiting_since_timestamp_seconds{service="reviews"} 1.7961192e+09
# HELP sailplan_promotion_phase 1 for the phase a service's promotion is in, 0 for the other phases.
# TYPE sailplan_promotion_phase gauge
sailplan_promotion_phase{phase="Aborted",service="ratings"} 0
sailplan_promotion_phase{phase="Aborted",service="reviews"} 0
sailplan_promotion_phase{phase="Paused",service="ratings"} 0
sailplan_promotion_phase{phase="Paused",service="reviews"} 0
sailplan_promotion_phase{phase="Progressing",service="ratings"} 0
sailplan_promotion_phase{phase="Progressing",service="reviews"} 0
sailplan_promotion_phase{phase="Promoted",service="ratings"} 0
sailplan_promotion_phase{phase="Promoted",service="reviews"} 0
sailplan_promotion_phase{phase="RolledBack",service="ratings"} 1
sailplan_promotion_phase{phase="RolledBack",service="reviews"} 0
sailplan_promotion_phase{phase="WaitingForApproval",service="ratings"} 0
sailplan_promotion_phase{phase="WaitingForApproval",service="reviews"} 1
# HELP sailplan_promotion_transitions_total Promotion transitions, by service and the phase they led to.
# TYPE sailplan_promotion_transitions_total counter
sailplan_promotion_transitions_total{phase="Progressing",service="reviews"} 1
sailplan_promotion_transitions_total{phase="RolledBack",service="ratings"} 1
sailplan_promotion_transitions_total{phase="WaitingForApproval",service="reviews"} 1
# HELP sailplan_promotion_weight_ratio The candidate's share of the service's traffic in the clusters of a wave, 0 to 1.
# TYPE sailplan_promotion_weight_ratio gauge
sailplan_promotion_weight_ratio{service="ratings",wave="1"} 0
sailplan_promotion_weight_ratio{service="reviews",wave="1"} 0.1
sailplan_promotion_weight_ratio{service="reviews",wave="2"} 0.1
`, all...)

	// ratings' canary is taken out of the intents: its promotion is over.
	m.Handle(notify.CommitApplying{At: at, Commit: notify.Commit{Hash: hash}, Intents: &schema.Intents{Services: map[string]*schema.Service{
		"reviews": {Canary: &schema.Canary{Steps: []int{10, 50, 100}}},
		"ratings": {},
	}}})
	for _, name := range all {
		if got := seriesOf(t, reg, name); name != "sailplan_promotion_approval_waiting_since_timestamp_seconds" && (got == "" || contains(got, `"ratings"`)) {
			t.Errorf("%s after ratings' canary left the intents: want reviews' series only, got\n%s", name, got)
		}
	}
	// A promotion stored for a service without a canary is no promotion.
	m.Handle(notify.PromotionsLoaded{At: at, Promotions: []notify.Promotion{ratings}})
	if got := seriesOf(t, reg, "sailplan_promotion_phase"); contains(got, `"ratings"`) {
		t.Errorf("phase after loading a promotion of a service without a canary:\n%s", got)
	}

	// A standby has no view of the promotions: the gauges go, the counters stay.
	m.Handle(notify.LeaderChanged{At: notify.At{Time: t0.Add(time.Minute)}, Leading: false})
	for name, want := range map[string]int{"sailplan_promotion_phase": 0, "sailplan_promotion_weight_ratio": 0, "sailplan_analysis_check_value": 0, "sailplan_analyses_total": 2} {
		if got := countSeries(t, reg, name); got != want {
			t.Errorf("%s after leading stopped: %d series, want %d", name, got, want)
		}
	}
	compare(t, reg, `
# HELP sailplan_leader 1 while this replica leads (syncs, promotes, writes the status), 0 while it stands by.
# TYPE sailplan_leader gauge
sailplan_leader 0
`, "sailplan_leader")
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
