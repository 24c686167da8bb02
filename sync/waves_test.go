package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/testenv"
)

// memberWeights returns, per cluster, each VirtualService's v2 weight in
// namespace ns, and the DestinationRules' names.
func memberWeights(t *testing.T, ns string) map[string]map[string]int32 {
	t.Helper()
	out := map[string]map[string]int32{}
	for name, cs := range istioClients(t) {
		out[name] = map[string]int32{}
		vss, err := cs.NetworkingV1().VirtualServices(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", name, err)
		}
		for _, vs := range vss.Items {
			w := int32(-1)
			for _, d := range vs.Spec.Http[0].Route {
				if d.Destination.Subset == "v2" {
					w = d.Weight
				}
			}
			out[name]["VirtualService/"+vs.Name] = w
		}
		drs, err := cs.NetworkingV1().DestinationRules(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", name, err)
		}
		for _, dr := range drs.Items {
			out[name]["DestinationRule/"+dr.Name] = int32(len(dr.Spec.Subsets))
		}
	}
	return out
}

// wantWeights is what memberWeights returns when every cluster in clusters
// holds n services with v2 weight w.
func wantWeights(clusters []string, n int, w int32) map[string]map[string]int32 {
	out := map[string]map[string]int32{}
	for _, c := range clusters {
		out[c] = map[string]int32{}
		for i := range n {
			out[c][fmt.Sprintf("VirtualService/svc-%03d", i)] = w
			out[c][fmt.Sprintf("DestinationRule/svc-%03d", i)] = 2
		}
	}
	return out
}

// TestWaveFailureStopsLaterWaves: a conflict in c1 (wave 1) fails the
// wave; c2 and c3 (wave 2) are not touched and their status says why.
// With ContinueOnWaveFailure they are applied.
func TestWaveFailureStopsLaterWaves(t *testing.T) {
	needClusters(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	// Someone else owns svc-000's routes in c1.
	other := otherVirtualService(ns, "svc-000", 100)
	applyAs(t, env.Cluster("c1"), "other-team", other)

	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 2, "c3": 2}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	err := r.Sync(ctx)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Sync error = %v, want a ConflictError", err)
	}
	for _, want := range []string{"wave 1 failed", "cluster c1", "VirtualService/" + ns + "/svc-000", `.spec.http is owned by "other-team"`, "later waves not applied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Sync error lacks %q:\n%v", want, err)
		}
	}
	got := memberWeights(t, ns)
	if len(got["c2"])+len(got["c3"]) != 0 {
		t.Errorf("wave 2 was applied after wave 1 failed: %v", got)
	}
	for _, name := range []string{"c2", "c3"} {
		st, ok, err := clusterFor(t, name, ns).ReadStatus(ctx)
		if err != nil || !ok {
			t.Fatalf("cluster %s: status: ok=%v err=%v", name, ok, err)
		}
		if st.State != StateWaiting || st.Target != commit || !strings.Contains(st.Error, "wave 1 failed") {
			t.Errorf("cluster %s: status = %+v, want waiting for %s because wave 1 failed", name, st, commit)
		}
	}
	st, _, _ := clusterFor(t, "c1", ns).ReadStatus(ctx)
	if st.State != StateFailed || !strings.Contains(st.Error, "other-team") {
		t.Errorf("cluster c1: status = %+v, want failed naming other-team", st)
	}

	r.Options.ContinueOnWaveFailure = true
	if err := r.Sync(ctx); err == nil || !strings.Contains(err.Error(), "wave 1 failed") {
		t.Fatalf("Sync error = %v, want wave 1 still failing", err)
	}
	got = memberWeights(t, ns)
	want := wantWeights([]string{"c2", "c3"}, 2, 10)
	if diff := cmp.Diff(want["c2"], got["c2"]); diff != "" {
		t.Errorf("cluster c2 with ContinueOnWaveFailure (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want["c3"], got["c3"]); diff != "" {
		t.Errorf("cluster c3 with ContinueOnWaveFailure (-want +got):\n%s", diff)
	}
}

// TestUnreachableClusterCaughtUp: c2 is down when a commit arrives; c1 (its
// wave) and c3 (the next wave) get the commit anyway, and c2 is caught up
// by the retry backoff, not by the (hour-long) interval, once it is back.
func TestUnreachableClusterCaughtUp(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	c2 := env.Cluster("c2")
	if err := c2.StopAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := c2.StartAPIServer(ctx); err != nil {
				t.Error(err)
			}
		}
	})

	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 3, 20)}, "three services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	runReconciler(t, r, time.Hour)

	eventually(t, time.Minute, "c1 and c3 synced while c2 is down", func() error {
		st := r.Status()
		for _, name := range []string{"c1", "c3"} {
			if cs := st.Clusters[name]; cs.State != StateSynced || cs.Commit != commit {
				return fmt.Errorf("cluster %s: %+v", name, cs)
			}
		}
		if cs := st.Clusters["c2"]; cs.State != StateUnreachable {
			return fmt.Errorf("cluster c2: %+v, want unreachable", cs)
		}
		return nil
	})
	if err := c2.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	eventually(t, 2*time.Minute, "c2 caught up", func() error {
		if cs := r.Status().Clusters["c2"]; cs.State != StateSynced || cs.Commit != commit {
			return fmt.Errorf("cluster c2: %+v", cs)
		}
		return nil
	})
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, 3, 20), memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after catch-up (-want +got):\n%s", diff)
	}
}

// TestAPIServerKilledMidApply: c2's apiserver is killed (SIGKILL) in the
// middle of the first apply of 120 objects and started again; the daemon
// converges every cluster with nothing lost or left half-done.
func TestAPIServerKilledMidApply(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	c2 := env.Cluster("c2")
	killed := make(chan struct{})
	var patches counter
	rc := &requestCounter{hook: func(cluster string, req *http.Request) {
		if cluster == "c2" && req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/namespaces/"+ns+"/") {
			if patches.inc() == 40 {
				c2.KillAPIServer()
				close(killed)
			}
		}
	}}
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	const n = 60
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 1}), "svc.cue": servicesCUE(ns, n, 30)}, "sixty services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.wrapTransport = rc.wrap
	runReconciler(t, r, time.Hour)

	select {
	case <-killed:
	case <-time.After(time.Minute):
		t.Fatalf("c2 never got 40 applies; log:\n%s", log.String())
	}
	eventually(t, time.Minute, "c2 seen unreachable", func() error {
		if cs := r.Status().Clusters["c2"]; cs.State != StateUnreachable {
			return fmt.Errorf("cluster c2: %+v", cs)
		}
		return nil
	})
	if err := c2.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "every cluster synced", func() error {
		st := r.Status()
		if st.Applied != commit {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, n, 30), memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after the restart (-want +got):\n%s", diff)
	}
	// The inventory is whole: every member labelled, the parent listing
	// both kinds and the namespace.
	for _, c := range env.Clusters {
		cl := clusterFor(t, c.Name, ns)
		p, err := cl.readParent(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := parentState{exists: true, groupKinds: []string{"DestinationRule.networking.istio.io", "VirtualService.networking.istio.io"}}
		got := p
		got.status = ""
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(parentState{})); diff != "" {
			t.Errorf("cluster %s: parent (-want +got):\n%s", c.Name, diff)
		}
		members := labelledMembers(t, c, ns, cl.inventory.ID())
		if len(members) != 2*n {
			t.Errorf("cluster %s: %d members carry the part-of label, want %d", c.Name, len(members), 2*n)
		}
	}
}

// labelledMembers lists the VirtualServices and DestinationRules in ns that
// carry the ApplySet's part-of label.
func labelledMembers(t *testing.T, c *testenv.Cluster, ns, id string) []string {
	t.Helper()
	cs := istioClients(t)[c.Name]
	sel := metav1.ListOptions{LabelSelector: LabelPartOf + "=" + id}
	vss, err := cs.NetworkingV1().VirtualServices(ns).List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	drs, err := cs.NetworkingV1().DestinationRules(ns).List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, vs := range vss.Items {
		out = append(out, "VirtualService/"+vs.Name)
	}
	for _, dr := range drs.Items {
		out = append(out, "DestinationRule/"+dr.Name)
	}
	sort.Strings(out)
	return out
}
