package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// source are the metrics of the Git source and of the commits read from
// it: fetched, evaluated, rejected.
type source struct {
	fetch      prometheus.Histogram
	errors     prometheus.Counter
	rejected   *prometheus.CounterVec
	evaluation prometheus.Histogram
	// peak and up have no labels; vectors so that they are absent until
	// the first evaluation is measured, the source first read, rather
	// than a 0 that reads as a measurement.
	peak *prometheus.GaugeVec
	up   *prometheus.GaugeVec
	// headRejected says whether the newest commit is rejected, until a
	// commit is applied: CommitRejected is published once per commit.
	headRejected prometheus.Gauge
}

func newSource(reg prometheus.Registerer) *source {
	s := &source{
		fetch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sailplan_source_fetch_duration_seconds",
			Help:    "How long reading a new commit took: the head's reference listing and the fetch of its objects.",
			Buckets: durationBuckets,
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sailplan_source_errors_total",
			Help: "Failed attempts to read the Git source (its head or a fetch); every poll of a source that is down counts.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_commits_rejected_total",
			Help: "Commits rejected, nothing applied, by reason: invalid, signature, fleet or limits.",
		}, []string{"reason"}),
		evaluation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sailplan_evaluation_duration_seconds",
			Help:    "How long evaluating a commit's intents took, valid or not, those stopped at a limit included.",
			Buckets: durationBuckets,
		}),
		peak: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sailplan_evaluation_peak_memory_bytes",
			Help: "The most memory the last evaluation held resident (the evaluation child's peak RSS).",
		}, nil),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sailplan_source_up",
			Help: "1 while the Git source answers, 0 from its first failed read until it answers again.",
		}, nil),
		headRejected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sailplan_source_head_rejected",
			Help: "1 while the newest commit of the source is rejected (the fleet stays at the last good one), 0 once a commit is applied.",
		}),
	}
	for _, r := range []string{notify.RejectedInvalid, notify.RejectedSignature, notify.RejectedFleet, notify.RejectedLimits} {
		s.rejected.WithLabelValues(r)
	}
	reg.MustRegister(s.fetch, s.errors, s.rejected, s.evaluation, s.peak, s.up, s.headRejected)
	return s
}

func (s *source) handle(e notify.Event) {
	switch e := e.(type) {
	case notify.CommitSeen, notify.SourceRecovered:
		s.up.WithLabelValues().Set(1)
	case notify.CommitFetched:
		s.fetch.Observe(e.Duration.Seconds())
	case notify.SourceFailed:
		s.errors.Inc()
		s.up.WithLabelValues().Set(0)
	case notify.CommitRejected:
		s.rejected.WithLabelValues(e.Reason).Inc()
		s.headRejected.Set(1)
	case notify.CommitApplying:
		s.headRejected.Set(0)
	case notify.CommitEvaluated:
		s.evaluation.Observe(e.Duration.Seconds())
		if e.PeakBytes > 0 {
			s.peak.WithLabelValues().Set(float64(e.PeakBytes))
		}
	}
}
