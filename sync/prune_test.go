package sync

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/testenv"
)

// TestPruneRemovedIntent: a service removed from the intents is pruned
// from every cluster; objects outside sailplan's ApplySet, even ones that
// look like sailplan's, are left alone.
func TestPruneRemovedIntent(t *testing.T) {
	needClusters(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	all := []string{"c1", "c2", "c3"}
	for _, name := range all {
		// Not members: a team's own VirtualService, and one with sailplan's
		// managed-by label but not its ApplySet label.
		applyAs(t, env.Cluster(name), "other-team", otherVirtualService(ns, "theirs", 100))
		applyAs(t, env.Cluster(name), "other-team", virtualService(ns, "lookalike", 100))
	}
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 3, 10)}, "three services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, map[string]string{"svc.cue": servicesCUE(ns, 2, 10)}, "drop svc-002")
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := wantWeights(all, 2, 10)
	for _, name := range all {
		want[name]["VirtualService/theirs"] = 0
		want[name]["VirtualService/lookalike"] = 0
	}
	if diff := cmp.Diff(want, memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after the prune (-want +got):\n%s", diff)
	}
	for _, name := range all {
		if want := "cluster=" + name + " object=VirtualService/" + ns + "/svc-002 action=pruned"; !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
		st := r.Status().Clusters[name]
		if diff := cmp.Diff(map[Action]int{Unchanged: 4, Pruned: 2}, st.Counts); diff != "" {
			t.Errorf("cluster %s: counts (-want +got):\n%s", name, diff)
		}
	}
}

// TestPruneGuard: a prune of more than half of the inventory is refused,
// deletes nothing and says so in the error and the status, until the
// setting allows it.
func TestPruneGuard(t *testing.T) {
	needClusters(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 1}), "svc.cue": servicesCUE(ns, 4, 10)}, "four services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, map[string]string{"svc.cue": servicesCUE(ns, 1, 10)}, "drop three of four")
	err := r.Sync(ctx)
	var pr *PruneRefusedError
	if !errors.As(err, &pr) {
		t.Fatalf("Sync error = %v, want a refused prune", err)
	}
	if want := "prune refused: it would delete 6 of the 8 objects sailplan manages there (75%, more than the allowed 50%)"; !strings.Contains(err.Error(), want) {
		t.Errorf("Sync error = %v\nwant it to say %q", err, want)
	}
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, 4, 10), memberWeights(t, ns)); diff != "" {
		t.Errorf("a refused prune deleted objects (-want +got):\n%s", diff)
	}
	for name, st := range r.Status().Clusters {
		if st.State != StateFailed || !strings.Contains(st.Error, "prune refused") {
			t.Errorf("cluster %s: status %+v, want failed with the refusal", name, st)
		}
	}
	// Refused again on the next sync: nothing changes by waiting.
	if err := r.Sync(ctx); !errors.As(err, &pr) {
		t.Fatalf("second Sync error = %v, want the prune refused again", err)
	}

	r.Options.PruneMaxShare = 1
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("Sync with PruneMaxShare 1: %v", err)
	}
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, 1, 10), memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after the allowed prune (-want +got):\n%s", diff)
	}
}
