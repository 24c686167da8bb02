package metrics

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Results of a cluster's sync (sailplan_cluster_syncs_total).
const (
	resultSynced      = "synced"
	resultFailed      = "failed"
	resultUnreachable = "unreachable"
	resultWaiting     = "waiting"
	// Of a drift correction.
	resultCorrected = "corrected"
)

// clusters are the metrics of each cluster's syncs, from the cluster
// events, and the commit each holds.
type clusters struct {
	duration      *prometheus.HistogramVec
	syncs         *prometheus.CounterVec
	objects       *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	drift         *prometheus.CounterVec
	prunesRefused *prometheus.CounterVec
	commitInfo    *prometheus.Desc
	commitTime    *prometheus.Desc
	state         *prometheus.Desc

	mu sync.Mutex
	// held is the commit each cluster holds, as its last successful sync
	// said; states the state each cluster is in, as the model names it.
	// The leader's view, dropped when it stops leading.
	held   map[string]heldCommit
	states map[string]string
	// known are the clusters that have series.
	known map[string]bool
}

type heldCommit struct {
	hash      string
	committed time.Time
}

func newClusters(reg prometheus.Registerer) *clusters {
	c := &clusters{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sailplan_cluster_sync_duration_seconds",
			Help:    "How long a sync of a cluster that answered took, from the first request to the last.",
			Buckets: durationBuckets,
		}, []string{"cluster"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_cluster_syncs_total",
			Help: "Syncs of a cluster by result: synced, failed (it answered with an error), unreachable, or waiting (not applied: an earlier wave failed or holds).",
		}, []string{"cluster", "result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_cluster_objects_total",
			Help: "Objects a sync found or left, by cluster, kind and action: created, configured, unchanged or pruned.",
		}, []string{"cluster", "kind", "action"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_cluster_conflicts_total",
			Help: "Objects left as they were because another field manager owns fields of theirs, by cluster and kind, once per sync.",
		}, []string{"cluster", "kind"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_cluster_drift_corrections_total",
			Help: "Objects changed or deleted (drift) by someone else that sailplan put back (corrected) or failed to (failed), by cluster and kind.",
		}, []string{"cluster", "kind", "drift", "result"}),
		prunesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_cluster_prunes_refused_total",
			Help: "Prunes refused because they would delete more of the cluster's inventory than --prune-max-share allows, once per sync.",
		}, []string{"cluster"}),
		commitInfo: prometheus.NewDesc("sailplan_cluster_commit_info",
			"The commit each cluster holds, as the leader last synced it: 1, with the commit's full hash.", []string{"cluster", "commit"}, nil),
		commitTime: prometheus.NewDesc("sailplan_cluster_commit_timestamp_seconds",
			"The committer time of the commit each cluster holds, in Unix seconds.", []string{"cluster"}, nil),
		state: prometheus.NewDesc("sailplan_cluster_state",
			"1 for the state a declared cluster is in (pending, synced, failed, waiting, unreachable or excluded), 0 for the others.", []string{"cluster", "state"}, nil),
		held:   map[string]heldCommit{},
		states: map[string]string{},
		known:  map[string]bool{},
	}
	reg.MustRegister(c.duration, c.syncs, c.objects, c.conflicts, c.drift, c.prunesRefused, c)
	return c
}

func (c *clusters) handle(e notify.Event) {
	switch e := e.(type) {
	case notify.ClusterSynced:
		c.synced(e.Cluster, resultSynced, e.Kinds)
		c.duration.WithLabelValues(e.Cluster).Observe(e.Duration.Seconds())
		c.mu.Lock()
		c.held[e.Cluster] = heldCommit{hash: e.Commit, committed: e.Committed}
		c.states[e.Cluster] = notify.StateSynced
		c.mu.Unlock()
	case notify.ClusterFailed:
		c.synced(e.Cluster, resultFailed, e.Kinds)
		c.setState(e.Cluster, notify.StateFailed)
		c.duration.WithLabelValues(e.Cluster).Observe(e.Duration.Seconds())
		for kind, n := range e.Conflicts {
			c.conflicts.WithLabelValues(e.Cluster, kind).Add(float64(n))
		}
	case notify.ClusterUnreachable:
		// Not timed: the time is the probe's timeout, not a sync's.
		c.synced(e.Cluster, resultUnreachable, e.Kinds)
		c.setState(e.Cluster, notify.StateUnreachable)
	case notify.ClusterWaiting:
		c.synced(e.Cluster, resultWaiting, nil)
		c.setState(e.Cluster, notify.StateWaiting)
	case notify.ClusterExcluded:
		c.setState(e.Cluster, notify.StateExcluded)
	case notify.PruneRefused:
		c.see(e.Cluster)
		c.prunesRefused.WithLabelValues(e.Cluster).Inc()
	case notify.DriftCorrected:
		c.see(e.Cluster)
		result := resultCorrected
		if e.Err != "" {
			result = resultFailed
		}
		c.drift.WithLabelValues(e.Cluster, e.Kind, e.Drift, result).Inc()
	case notify.CommitApplying:
		if e.Intents != nil {
			c.forget(e.Intents.Fleet.Clusters)
		}
	case notify.LeaderChanged:
		if !e.Leading {
			c.mu.Lock()
			clear(c.held)
			clear(c.states)
			c.mu.Unlock()
		}
	}
}

// setState is the state a cluster entered.
func (c *clusters) setState(cluster, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states[cluster] = state
}

// synced counts a sync of cluster and what it did to objects, by kind.
func (c *clusters) synced(cluster, result string, kinds map[string]notify.Counts) {
	c.see(cluster)
	c.syncs.WithLabelValues(cluster, result).Inc()
	for kind, n := range kinds {
		c.objects.WithLabelValues(cluster, kind, "created").Add(float64(n.Created))
		c.objects.WithLabelValues(cluster, kind, "configured").Add(float64(n.Configured))
		c.objects.WithLabelValues(cluster, kind, "unchanged").Add(float64(n.Unchanged))
		c.objects.WithLabelValues(cluster, kind, "pruned").Add(float64(n.Pruned))
	}
}

// see starts a cluster's series: every result of its syncs, and its
// refused prunes, at 0, so that a rate of failures exists before the
// first one.
func (c *clusters) see(cluster string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known[cluster] {
		return
	}
	c.known[cluster] = true
	for _, r := range []string{resultSynced, resultFailed, resultUnreachable, resultWaiting} {
		c.syncs.WithLabelValues(cluster, r)
	}
	c.prunesRefused.WithLabelValues(cluster)
}

// forget deletes every series of the clusters the fleet no longer
// declares: a cluster taken out of the intents is not sailplan's any more.
// The clusters it newly declares are pending until their first sync.
func (c *clusters) forget(declared map[string]schema.Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range declared {
		if _, ok := c.states[name]; !ok {
			c.states[name] = notify.StatePending
		}
	}
	for name := range c.states {
		if _, ok := declared[name]; !ok {
			delete(c.states, name)
		}
	}
	for name := range c.known {
		if _, ok := declared[name]; ok {
			continue
		}
		gone := prometheus.Labels{"cluster": name}
		for _, v := range []*prometheus.MetricVec{c.duration.MetricVec, c.syncs.MetricVec, c.objects.MetricVec, c.conflicts.MetricVec, c.drift.MetricVec, c.prunesRefused.MetricVec} {
			v.DeletePartialMatch(gone)
		}
		delete(c.known, name)
		delete(c.held, name)
	}
}

// clusterStates are the states of sailplan_cluster_state, as the model
// (notify.Status) names them.
var clusterStates = []string{notify.StatePending, notify.StateSynced, notify.StateFailed, notify.StateWaiting, notify.StateUnreachable, notify.StateExcluded}

// Describe and Collect serve the gauges of the commits the clusters hold
// and of the state each is in.
func (c *clusters) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.commitInfo
	ch <- c.commitTime
	ch <- c.state
}

func (c *clusters) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(c.held)) {
		h := c.held[name]
		ch <- prometheus.MustNewConstMetric(c.commitInfo, prometheus.GaugeValue, 1, name, h.hash)
		if !h.committed.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.commitTime, prometheus.GaugeValue, float64(h.committed.Unix()), name)
		}
	}
	for name, state := range c.states {
		for _, s := range clusterStates {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, bool01(s == state), name, s)
		}
	}
}
