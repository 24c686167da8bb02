package sync

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sailplan/sailplan/testenv"
)

func TestNextStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	synced := ClusterStatus{Commit: "a", Target: "a", State: StateSynced, Wave: 1, Counts: map[Action]int{Created: 4}, Time: t0}
	tests := []struct {
		name   string
		prev   ClusterStatus
		commit string
		counts map[Action]int
		err    error
		want   ClusterStatus
	}{
		{"no-op keeps everything, time included", synced, "a", map[Action]int{Unchanged: 4}, nil, synced},
		{"change records counts", synced, "b", map[Action]int{Configured: 1, Unchanged: 3}, nil,
			ClusterStatus{Commit: "b", Target: "b", State: StateSynced, Wave: 1, Counts: map[Action]int{Configured: 1, Unchanged: 3}}},
		{"failure keeps the applied commit", synced, "b", map[Action]int{Unchanged: 4}, errors.New("boom"),
			ClusterStatus{Commit: "a", Target: "b", State: StateFailed, Wave: 1, Counts: map[Action]int{Created: 4}, Error: "boom"}},
		{"first sync", ClusterStatus{}, "a", map[Action]int{Unchanged: 4}, nil,
			ClusterStatus{Commit: "a", Target: "a", State: StateSynced, Wave: 1, Counts: map[Action]int{Unchanged: 4}}},
	}
	for _, tt := range tests {
		got := nextStatus(tt.prev, 1, tt.commit, tt.counts, tt.err)
		ignoreTime := cmpopts.IgnoreFields(ClusterStatus{}, "Time")
		if tt.name == "no-op keeps everything, time included" {
			ignoreTime = nil
		}
		if diff := cmp.Diff(tt.want, got, ignoreTime); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestStatusInCluster: what the reconciler reports and what `sailplan
// status` reads from the cluster agree.
func TestStatusInCluster(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 2, "c3": 3}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"c1", "c2", "c3"} {
		got, ok, err := clusterFor(t, name, ns).ReadStatus(t.Context())
		if err != nil || !ok {
			t.Fatalf("cluster %s: ok=%v err=%v", name, ok, err)
		}
		want := ClusterStatus{Commit: commit, Target: commit, State: StateSynced, Wave: i + 1, Counts: map[Action]int{Created: 4}}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ClusterStatus{}, "Time")); diff != "" {
			t.Errorf("cluster %s: status read back (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(r.Status().Clusters[name], got); diff != "" {
			t.Errorf("cluster %s: reconciler's and cluster's status differ (-reconciler +cluster):\n%s", name, diff)
		}
	}
}
