package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
)

// durationBuckets fit what sailplan times, from 10 ms to 2 min: a sync
// that changes nothing or a small fetch takes tens of milliseconds, an
// evaluation seconds, a first apply of thousands of objects a minute.
var durationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics is the event stream's consumer that Prometheus scrapes. Every
// metric comes from an event: nothing in sync or promote counts for it.
// Counters and histograms count what this process saw; gauges describe
// the fleet and the promotions as the leader sees them, and a replica
// that stops leading drops them, so that a query over replicas never
// mixes in a standby's stale view. The source's gauges stay: the same
// reconciler does not say again what it already said when this replica
// leads again, so they say what this process last read, and the alerts
// join them with sailplan_leader. Series of a cluster or service that a
// new commit no longer declares are deleted (see forget).
type Metrics struct {
	clusters   *clusters
	source     *source
	deliveries *deliveries
	promotions *promotions
	leader     prometheus.Gauge
}

// New registers the metrics with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clusters:   newClusters(reg),
		source:     newSource(reg),
		deliveries: newDeliveries(reg),
		promotions: newPromotions(reg),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sailplan_leader",
			Help: "1 while this replica leads (syncs, promotes, writes the status), 0 while it stands by.",
		}),
	}
	reg.MustRegister(m.leader)
	return m
}

// Handle counts one event. It never blocks: it only updates counters and
// the small state the gauges are read from.
func (m *Metrics) Handle(e notify.Event) {
	m.clusters.handle(e)
	m.source.handle(e)
	m.deliveries.handle(e)
	m.promotions.handle(e)
	if l, ok := e.(notify.LeaderChanged); ok {
		m.leader.Set(bool01(l.Leading))
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
