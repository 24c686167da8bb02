package sync

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/testenv"
)

// TestNoopReconcileSendsNoWrites: once the clusters hold a commit, syncing
// again (same head, and a new commit that changes no rendered object)
// sends no write request: counted by the client, and by each apiserver's
// own apiserver_request_total.
func TestNoopReconcileSendsNoWrites(t *testing.T) {
	needClusters(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 20, 10)}, "twenty services")
	var log logBuffer
	rc := &requestCounter{}
	r := newReconciler(t, repo.URL(), ns, &log)
	r.wrapTransport = rc.wrap
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if w := rc.writes(); w["c1"] < 40 {
		t.Fatalf("first sync sent %v writes, want at least 40 per cluster (the counter is not counting)", w)
	}

	// The same head again: nothing at all may be written.
	before := writesPerCluster(t)
	rc.reset()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{}, rc.writes()); diff != "" {
		t.Errorf("client-side writes of a no-op sync (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, writesPerCluster(t)); diff != "" {
		t.Errorf("apiserver write counts moved during a no-op sync (-before +after):\n%s", diff)
	}

	// A commit that changes no rendered object: no object is written; the
	// one write per cluster is the status on the ApplySet parent, which
	// records the commit the cluster is now at.
	commit := repo.Commit(t, map[string]string{"README.md": "docs only\n"}, "docs")
	before = writesPerCluster(t)
	rc.reset()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"c1": 1, "c2": 1, "c3": 1}
	if diff := cmp.Diff(want, rc.writes()); diff != "" {
		t.Errorf("client-side writes of a docs-only commit (-want +got):\n%s", diff)
	}
	after := writesPerCluster(t)
	for name := range after {
		after[name] -= before[name]
	}
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("apiserver writes of a docs-only commit (-want +got):\n%s", diff)
	}
	for name, st := range r.Status().Clusters {
		if st.Commit != commit {
			t.Errorf("cluster %s: status commit %s, want %s", name, st.Commit, commit)
		}
	}
	for name, st := range r.Status().Clusters {
		if diff := cmp.Diff(map[Action]int{Created: 40}, st.Counts); diff != "" {
			t.Errorf("cluster %s: recorded counts (-want +got):\n%s", name, diff)
		}
	}
}

func writesPerCluster(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, c := range env.Clusters {
		out[c.Name] = apiserverWrites(t, c)
	}
	return out
}
