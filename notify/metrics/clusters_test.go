package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const hash = "0123456789abcdef0123456789abcdef01234567"

// fleet is the intents of a commit declaring these clusters.
func fleet(clusters ...string) notify.CommitApplying {
	in := &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{}}}
	for i, c := range clusters {
		in.Fleet.Clusters[c] = schema.Cluster{Wave: i + 1}
	}
	return notify.CommitApplying{At: notify.At{Time: t0}, Commit: notify.Commit{Hash: hash}, Intents: in}
}

// TestClusterSeries: every kind of cluster event lands in its series;
// the commit each cluster holds is the one _info series with a hash.
func TestClusterSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	at := notify.At{Time: t0}
	m.Handle(notify.LeaderChanged{At: at, Leading: true})
	m.Handle(fleet("c1", "c2", "c3", "c4"))
	m.Handle(notify.ClusterSynced{At: at, Cluster: "c1", Wave: 1, Commit: hash, Committed: t0.Add(-time.Hour), Duration: 300 * time.Millisecond,
		Kinds: map[string]notify.Counts{"VirtualService": {Created: 2, Unchanged: 1}}})
	m.Handle(notify.ClusterFailed{At: at, Cluster: "c2", Wave: 2, Commit: hash, Err: "conflict", Duration: 2 * time.Second,
		Kinds: map[string]notify.Counts{"DestinationRule": {Configured: 1}}, Conflicts: map[string]int{"VirtualService": 1}})
	m.Handle(notify.PruneRefused{At: at, Cluster: "c2", Commit: hash, Delete: 9, Inventory: 10, MaxShare: 0.5})
	m.Handle(notify.ClusterUnreachable{At: at, Cluster: "c3", Wave: 3, Commit: hash, Err: "connection refused"})
	m.Handle(notify.DriftCorrected{At: at, Cluster: "c1", Object: "VirtualService/shop/reviews", Kind: "VirtualService", Drift: "changed"})
	m.Handle(notify.DriftCorrected{At: at, Cluster: "c1", Object: "VirtualService/shop/reviews", Kind: "VirtualService", Drift: "deleted", Err: "forbidden"})

	compare(t, reg, `
# HELP sailplan_cluster_commit_info The commit each cluster holds, as the leader last synced it: 1, with the commit's full hash.
# TYPE sailplan_cluster_commit_info gauge
sailplan_cluster_commit_info{cluster="c1",commit="0123456789abcdef0123456789abcdef01234567"} 1
# HELP sailplan_cluster_commit_timestamp_seconds The committer time of the commit each cluster holds, in Unix seconds.
# TYPE sailplan_cluster_commit_timestamp_seconds gauge
sailplan_cluster_commit_timestamp_seconds{cluster="c1"} 1.7961156e+09
# HELP sailplan_cluster_conflicts_total Objects left as they were because another field manager owns fields of theirs, by cluster and kind, once per sync.
# TYPE sailplan_cluster_conflicts_total counter
sailplan_cluster_conflicts_total{cluster="c2",kind="VirtualService"} 1
# HELP sailplan_cluster_drift_corrections_total Objects changed or deleted (drift) by someone else that sailplan put back (corrected) or failed to (failed), by cluster and kind.
# TYPE sailplan_cluster_drift_corrections_total counter
sailplan_cluster_drift_corrections_total{cluster="c1",drift="changed",kind="VirtualService",result="corrected"} 1
sailplan_cluster_drift_corrections_total{cluster="c1",drift="deleted",kind="VirtualService",result="failed"} 1
# HELP sailplan_cluster_objects_total Objects a sync found or left, by cluster, kind and action: created, configured, unchanged or pruned.
# TYPE sailplan_cluster_objects_total counter
sailplan_cluster_objects_total{action="configured",cluster="c1",kind="VirtualService"} 0
sailplan_cluster_objects_total{action="configured",cluster="c2",kind="DestinationRule"} 1
sailplan_cluster_objects_total{action="created",cluster="c1",kind="VirtualService"} 2
sailplan_cluster_objects_total{action="created",cluster="c2",kind="DestinationRule"} 0
sailplan_cluster_objects_total{action="pruned",cluster="c1",kind="VirtualService"} 0
sailplan_cluster_objects_total{action="pruned",cluster="c2",kind="DestinationRule"} 0
sailplan_cluster_objects_total{action="unchanged",cluster="c1",kind="VirtualService"} 1
sailplan_cluster_objects_total{action="unchanged",cluster="c2",kind="DestinationRule"} 0
# HELP sailplan_cluster_prunes_refused_total Prunes refused because they would delete more of the cluster's inventory than --prune-max-share allows, once per sync.
# TYPE sailplan_cluster_prunes_refused_total counter
sailplan_cluster_prunes_refused_total{cluster="c1"} 0
sailplan_cluster_prunes_refused_total{cluster="c2"} 1
sailplan_cluster_prunes_refused_total{cluster="c3"} 0
# HELP sailplan_cluster_state 1 for the state a declared cluster is in (pending, synced, failed, waiting, unreachable or excluded), 0 for the others.
# TYPE sailplan_cluster_state gauge
sailplan_cluster_state{cluster="c1",state="excluded"} 0
sailplan_cluster_state{cluster="c1",state="failed"} 0
sailplan_cluster_state{cluster="c1",state="pending"} 0
sailplan_cluster_state{cluster="c1",state="synced"} 1
sailplan_cluster_state{cluster="c1",state="unreachable"} 0
sailplan_cluster_state{cluster="c1",state="waiting"} 0
sailplan_cluster_state{cluster="c2",state="excluded"} 0
sailplan_cluster_state{cluster="c2",state="failed"} 1
sailplan_cluster_state{cluster="c2",state="pending"} 0
sailplan_cluster_state{cluster="c2",state="synced"} 0
sailplan_cluster_state{cluster="c2",state="unreachable"} 0
sailplan_cluster_state{cluster="c2",state="waiting"} 0
sailplan_cluster_state{cluster="c3",state="excluded"} 0
sailplan_cluster_state{cluster="c3",state="failed"} 0
sailplan_cluster_state{cluster="c3",state="pending"} 0
sailplan_cluster_state{cluster="c3",state="synced"} 0
sailplan_cluster_state{cluster="c3",state="unreachable"} 1
sailplan_cluster_state{cluster="c3",state="waiting"} 0
sailplan_cluster_state{cluster="c4",state="excluded"} 0
sailplan_cluster_state{cluster="c4",state="failed"} 0
sailplan_cluster_state{cluster="c4",state="pending"} 1
sailplan_cluster_state{cluster="c4",state="synced"} 0
sailplan_cluster_state{cluster="c4",state="unreachable"} 0
sailplan_cluster_state{cluster="c4",state="waiting"} 0
# HELP sailplan_cluster_syncs_total Syncs of a cluster by result: synced, failed (it answered with an error), unreachable, or waiting (not applied: an earlier wave failed or holds).
# TYPE sailplan_cluster_syncs_total counter
sailplan_cluster_syncs_total{cluster="c1",result="failed"} 0
sailplan_cluster_syncs_total{cluster="c1",result="synced"} 1
sailplan_cluster_syncs_total{cluster="c1",result="unreachable"} 0
sailplan_cluster_syncs_total{cluster="c1",result="waiting"} 0
sailplan_cluster_syncs_total{cluster="c2",result="failed"} 1
sailplan_cluster_syncs_total{cluster="c2",result="synced"} 0
sailplan_cluster_syncs_total{cluster="c2",result="unreachable"} 0
sailplan_cluster_syncs_total{cluster="c2",result="waiting"} 0
sailplan_cluster_syncs_total{cluster="c3",result="failed"} 0
sailplan_cluster_syncs_total{cluster="c3",result="synced"} 0
sailplan_cluster_syncs_total{cluster="c3",result="unreachable"} 1
sailplan_cluster_syncs_total{cluster="c3",result="waiting"} 0
`, "sailplan_cluster_commit_info", "sailplan_cluster_commit_timestamp_seconds", "sailplan_cluster_conflicts_total", "sailplan_cluster_drift_corrections_total",
		"sailplan_cluster_objects_total", "sailplan_cluster_prunes_refused_total", "sailplan_cluster_state", "sailplan_cluster_syncs_total")

	compare(t, reg, `
# HELP sailplan_cluster_sync_duration_seconds How long a sync of a cluster that answered took, from the first request to the last.
# TYPE sailplan_cluster_sync_duration_seconds histogram
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.01"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.025"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.05"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.1"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.25"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="0.5"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="1"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="2.5"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="5"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="10"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="30"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="60"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="120"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c1",le="+Inf"} 1
sailplan_cluster_sync_duration_seconds_sum{cluster="c1"} 0.3
sailplan_cluster_sync_duration_seconds_count{cluster="c1"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.01"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.025"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.05"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.1"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.25"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="0.5"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="1"} 0
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="2.5"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="5"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="10"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="30"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="60"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="120"} 1
sailplan_cluster_sync_duration_seconds_bucket{cluster="c2",le="+Inf"} 1
sailplan_cluster_sync_duration_seconds_sum{cluster="c2"} 2
sailplan_cluster_sync_duration_seconds_count{cluster="c2"} 1
`, "sailplan_cluster_sync_duration_seconds")

	// c2 and c3 leave the fleet: nothing of theirs stays.
	m.Handle(fleet("c1", "c4"))
	for name, want := range map[string]int{
		"sailplan_cluster_commit_info": 1, "sailplan_cluster_conflicts_total": 0, "sailplan_cluster_drift_corrections_total": 2,
		"sailplan_cluster_objects_total": 4, "sailplan_cluster_prunes_refused_total": 1, "sailplan_cluster_state": 12,
		"sailplan_cluster_syncs_total": 4, "sailplan_cluster_sync_duration_seconds": 1,
	} {
		if got := countSeries(t, reg, name); got != want {
			t.Errorf("%s after c2 and c3 left the fleet: %d series, want %d", name, got, want)
		}
	}
	if got := seriesOf(t, reg, "sailplan_cluster_state"); strings.Contains(got, "c2") || strings.Contains(got, "c3") {
		t.Errorf("states after c2 and c3 left the fleet:\n%s", got)
	}

	// A standby has no view of the fleet: the gauges go, the counters stay.
	m.Handle(notify.LeaderChanged{At: at, Leading: false})
	for name, want := range map[string]int{"sailplan_cluster_commit_info": 0, "sailplan_cluster_commit_timestamp_seconds": 0, "sailplan_cluster_state": 0, "sailplan_cluster_syncs_total": 4} {
		if got := countSeries(t, reg, name); got != want {
			t.Errorf("%s after leading stopped: %d series, want %d", name, got, want)
		}
	}
}
