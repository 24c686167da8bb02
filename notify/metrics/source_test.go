package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// TestSourceSeries: the source's reads, its failures and recovery, the
// rejected commits by reason, and what evaluations took.
func TestSourceSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	at := notify.At{Time: t0}
	// Before anything is read, nothing is claimed of the source.
	compare(t, reg, `
# HELP sailplan_commits_rejected_total Commits rejected, nothing applied, by reason: invalid, signature, fleet or limits.
# TYPE sailplan_commits_rejected_total counter
sailplan_commits_rejected_total{reason="fleet"} 0
sailplan_commits_rejected_total{reason="invalid"} 0
sailplan_commits_rejected_total{reason="limits"} 0
sailplan_commits_rejected_total{reason="signature"} 0
# HELP sailplan_source_head_rejected 1 while the newest commit of the source is rejected (the fleet stays at the last good one), 0 once a commit is applied.
# TYPE sailplan_source_head_rejected gauge
sailplan_source_head_rejected 0
`, "sailplan_commits_rejected_total", "sailplan_source_head_rejected", "sailplan_source_up", "sailplan_evaluation_peak_memory_bytes")

	c := notify.Commit{Hash: hash}
	m.Handle(notify.CommitSeen{At: at, Source: "https://git.example/intents@main", Commit: c})
	m.Handle(notify.CommitFetched{At: at, Commit: c, Duration: 40 * time.Millisecond})
	m.Handle(notify.CommitEvaluated{At: at, Commit: c, Duration: 3 * time.Second, PeakBytes: 64 << 20})
	m.Handle(notify.CommitRejected{At: at, Commit: c, Reason: notify.RejectedLimits, Errors: []string{"evaluation used more than 256 MiB"}})
	m.Handle(notify.SourceFailed{At: at, Source: "https://git.example/intents@main", Err: "connection refused"})
	m.Handle(notify.SourceFailed{At: at, Source: "https://git.example/intents@main", Err: "connection refused"})
	compare(t, reg, `
# HELP sailplan_commits_rejected_total Commits rejected, nothing applied, by reason: invalid, signature, fleet or limits.
# TYPE sailplan_commits_rejected_total counter
sailplan_commits_rejected_total{reason="fleet"} 0
sailplan_commits_rejected_total{reason="invalid"} 0
sailplan_commits_rejected_total{reason="limits"} 1
sailplan_commits_rejected_total{reason="signature"} 0
# HELP sailplan_evaluation_duration_seconds How long evaluating a commit's intents took, valid or not, those stopped at a limit included.
# TYPE sailplan_evaluation_duration_seconds histogram
sailplan_evaluation_duration_seconds_bucket{le="0.01"} 0
sailplan_evaluation_duration_seconds_bucket{le="0.025"} 0
sailplan_evaluation_duration_seconds_bucket{le="0.05"} 0
sailplan_evaluation_duration_seconds_bucket{le="0.1"} 0
sailplan_evaluation_duration_seconds_bucket{le="0.25"} 0
sailplan_evaluation_duration_seconds_bucket{le="0.5"} 0
sailplan_evaluation_duration_seconds_bucket{le="1"} 0
sailplan_evaluation_duration_seconds_bucket{le="2.5"} 0
sailplan_evaluation_duration_seconds_bucket{le="5"} 1
sailplan_evaluation_duration_seconds_bucket{le="10"} 1
sailplan_evaluation_duration_seconds_bucket{le="30"} 1
sailplan_evaluation_duration_seconds_bucket{le="60"} 1
sailplan_evaluation_duration_seconds_bucket{le="120"} 1
sailplan_evaluation_duration_seconds_bucket{le="+Inf"} 1
sailplan_evaluation_duration_seconds_sum 3
sailplan_evaluation_duration_seconds_count 1
# HELP sailplan_evaluation_peak_memory_bytes The most memory the last evaluation held resident (the evaluation child's peak RSS).
# TYPE sailplan_evaluation_peak_memory_bytes gauge
sailplan_evaluation_peak_memory_bytes 6.7108864e+07
# HELP sailplan_source_errors_total Failed attempts to read the Git source (its head or a fetch); every poll of a source that is down counts.
# TYPE sailplan_source_errors_total counter
sailplan_source_errors_total 2
# HELP sailplan_source_fetch_duration_seconds How long reading a new commit took: the head's reference listing and the fetch of its objects.
# TYPE sailplan_source_fetch_duration_seconds histogram
sailplan_source_fetch_duration_seconds_bucket{le="0.01"} 0
sailplan_source_fetch_duration_seconds_bucket{le="0.025"} 0
sailplan_source_fetch_duration_seconds_bucket{le="0.05"} 1
sailplan_source_fetch_duration_seconds_bucket{le="0.1"} 1
sailplan_source_fetch_duration_seconds_bucket{le="0.25"} 1
sailplan_source_fetch_duration_seconds_bucket{le="0.5"} 1
sailplan_source_fetch_duration_seconds_bucket{le="1"} 1
sailplan_source_fetch_duration_seconds_bucket{le="2.5"} 1
sailplan_source_fetch_duration_seconds_bucket{le="5"} 1
sailplan_source_fetch_duration_seconds_bucket{le="10"} 1
sailplan_source_fetch_duration_seconds_bucket{le="30"} 1
sailplan_source_fetch_duration_seconds_bucket{le="60"} 1
sailplan_source_fetch_duration_seconds_bucket{le="120"} 1
sailplan_source_fetch_duration_seconds_bucket{le="+Inf"} 1
sailplan_source_fetch_duration_seconds_sum 0.04
sailplan_source_fetch_duration_seconds_count 1
# HELP sailplan_source_head_rejected 1 while the newest commit of the source is rejected (the fleet stays at the last good one), 0 once a commit is applied.
# TYPE sailplan_source_head_rejected gauge
sailplan_source_head_rejected 1
# HELP sailplan_source_up 1 while the Git source answers, 0 from its first failed read until it answers again.
# TYPE sailplan_source_up gauge
sailplan_source_up 0
`, "sailplan_commits_rejected_total", "sailplan_evaluation_duration_seconds", "sailplan_evaluation_peak_memory_bytes", "sailplan_source_errors_total",
		"sailplan_source_fetch_duration_seconds", "sailplan_source_head_rejected", "sailplan_source_up")

	// The source answers again and the next commit is applied.
	m.Handle(notify.SourceRecovered{At: at, Source: "https://git.example/intents@main", Down: time.Minute})
	m.Handle(fleet("c1"))
	compare(t, reg, `
# HELP sailplan_source_head_rejected 1 while the newest commit of the source is rejected (the fleet stays at the last good one), 0 once a commit is applied.
# TYPE sailplan_source_head_rejected gauge
sailplan_source_head_rejected 0
# HELP sailplan_source_up 1 while the Git source answers, 0 from its first failed read until it answers again.
# TYPE sailplan_source_up gauge
sailplan_source_up 1
`, "sailplan_source_head_rejected", "sailplan_source_up")
}
