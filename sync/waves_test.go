package sync

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// memberWeights returns, per cluster (only those named, when some are),
// each VirtualService's v2 weight in namespace ns, and the
// DestinationRules' names.
func memberWeights(t *testing.T, ns string, only ...string) map[string]map[string]int32 {
	t.Helper()
	out := map[string]map[string]int32{}
	for name, cs := range istioClients(t) {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
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
// wave, and its event counts it; c2 and c3 (wave 2) are not touched and
// their status says why.
// With ContinueOnWaveFailure they are applied.
func TestWaveFailureStopsLaterWaves(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	// Someone else owns svc-000's routes in c1.
	other := fixture.OtherVirtualService(ns, "svc-000", 100)
	fixture.ApplyAs(t, env.Cluster("c1"), "other-team", other)

	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 2, "c3": 2}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	events := &eventLog{}
	r.bus.Subscribe(events)
	err := r.Sync(ctx)
	var ce *apply.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Sync error = %v, want a apply.ConflictError", err)
	}
	// The conflict is counted by kind, beside what the sync did do.
	r.bus.Flush()
	if want := "failed c1 " + commit[:7] + " kinds=DestinationRule:2/0/0/0,VirtualService:1/0/0/0 conflicts=map[VirtualService:1]"; !events.has(want) {
		lines, _ := events.take()
		t.Errorf("no event %q among:\n%s", want, strings.Join(lines, "\n"))
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
	status := r.Status()
	for _, name := range []string{"c2", "c3"} {
		st := status.Clusters[name]
		if st.State != notify.StateWaiting || st.Target != commit || !strings.Contains(st.Error, "wave 1 failed") {
			t.Errorf("cluster %s: status = %+v, want waiting for %s because wave 1 failed", name, st, commit)
		}
	}
	if st := status.Clusters["c1"]; st.State != notify.StateFailed || !strings.Contains(st.Error, "other-team") || strings.HasPrefix(st.Error, "cluster c1") {
		t.Errorf("cluster c1: status = %+v, want failed naming other-team (and not the cluster again)", st)
	}
	if c := status.Commits[0]; c.Fate != notify.FateHeld || !strings.HasPrefix(c.Reason, "cluster c1 failed: ") {
		t.Errorf("commit = %s (%s), want held by c1's failure", c.Fate, c.Reason)
	}

	r.ContinueOnWaveFailure = true
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

// TestUnreachableClusterHoldsLaterWaves: c2 (wave 1) is down when a
// commit arrives. c1, its wave, gets the commit; c3, in wave 2, does not,
// and waits, with a reason naming c2, until c2 is back (caught up by the
// retry backoff, not the hour-long interval); then c3 follows. With one
// unreachable cluster allowed per wave, the next commit reaches c3 while
// c2 is down again.
func TestUnreachableClusterHoldsLaterWaves(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	up := env.Cluster("c2").Down(t)

	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 3, 20)}, "three services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	runReconciler(t, r, time.Hour)

	wantWait := "wave 1 holds " + commit[:7] + " back: c2 cannot be reached and does not have it yet (0 allowed per wave: --max-unreachable-per-wave)"
	eventually(t, time.Minute, "c1 synced, c2 unreachable, c3 waiting", func() error {
		st := r.Status()
		if cs := st.Clusters["c1"]; cs.State != notify.StateSynced || cs.Commit != commit {
			return fmt.Errorf("cluster c1: %+v", cs)
		}
		if cs := st.Clusters["c2"]; cs.State != notify.StateUnreachable {
			return fmt.Errorf("cluster c2: %+v, want unreachable", cs)
		}
		if cs := st.Clusters["c3"]; cs.State != notify.StateWaiting || cs.Error != wantWait || cs.Target != commit {
			return fmt.Errorf("cluster c3: %+v, want waiting: %s", cs, wantWait)
		}
		if c := st.Commits[0]; c.Fate != notify.FateHeld || c.Reason != wantWait {
			return fmt.Errorf("commit %s (%s), want held", c.Fate, c.Reason)
		}
		return nil
	})
	if got := memberWeights(t, ns, "c3")["c3"]; len(got) != 0 {
		t.Fatalf("wave 2 got the commit while wave 1 could not: %v", got)
	}
	up()
	back := time.Now()
	eventually(t, 2*time.Minute, "c2 caught up, then c3", func() error {
		st := r.Status()
		for _, name := range []string{"c2", "c3"} {
			if cs := st.Clusters[name]; cs.State != notify.StateSynced || cs.Commit != commit {
				return fmt.Errorf("cluster %s: %+v", name, cs)
			}
		}
		return nil
	})
	t.Logf("c2's apiserver back to c3 holding the commit: %s", time.Since(back).Round(100*time.Millisecond))
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, 3, 20), memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after catch-up (-want +got):\n%s", diff)
	}

	// One unreachable cluster per wave allowed: the next commit goes on.
	r.MaxUnreachable = intstr.FromInt(1)
	env.Cluster("c2").Down(t)
	next := repo.Commit(t, map[string]string{"svc.cue": servicesCUE(ns, 3, 40)}, "40 %")
	r.Trigger()
	eventually(t, time.Minute, "c3 at the next commit while c2 is down", func() error {
		st := r.Status()
		if cs := st.Clusters["c3"]; cs.State != notify.StateSynced || cs.Commit != next {
			return fmt.Errorf("cluster c3: %+v", cs)
		}
		return nil
	})
}

// TestExcludedCluster: a cluster its operator excludes is neither applied
// nor waited for, needs no kubeconfig context, and shows as excluded.
func TestExcludedCluster(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2, "c9": 1}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.Exclude = []string{"c2", "c9"} // c9 has no context at all
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	for name, want := range map[string]string{"c1": notify.StateSynced, "c2": notify.StateExcluded, "c3": notify.StateSynced, "c9": notify.StateExcluded} {
		if got := st.Clusters[name].State; got != want {
			t.Errorf("cluster %s: %s, want %s", name, got, want)
		}
	}
	if c := st.Commits[0]; c.Fate != notify.FateApplied || c.Commit.Hash != commit || !st.Healthy() {
		t.Errorf("commit %s %s, healthy %v; want applied and healthy", c.Commit.Hash, c.Fate, st.Healthy())
	}
	if got := memberWeights(t, ns)["c2"]; len(got) != 0 {
		t.Errorf("the excluded c2 was applied: %v", got)
	}
	if n := strings.Count(log.String(), "cluster excluded"); n != 2 {
		t.Errorf("%d log lines about excluded clusters, want one each:\n%s", n, log.String())
	}
}

// TestAPIServerKilledMidApply: c2's apiserver is killed (SIGKILL) in the
// middle of the first apply of 120 objects and started again; the daemon
// converges every cluster with nothing lost or left half-done.
func TestAPIServerKilledMidApply(t *testing.T) {
	env.Need(t)
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
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.wrapTransport = rc.wrap
	runReconciler(t, r, time.Hour)

	select {
	case <-killed:
	case <-time.After(time.Minute):
		t.Fatalf("c2 never got 40 applies; log:\n%s", log.String())
	}
	eventually(t, time.Minute, "c2 seen unreachable", func() error {
		if cs := r.Status().Clusters["c2"]; cs.State != notify.StateUnreachable {
			return fmt.Errorf("cluster c2: %+v", cs)
		}
		return nil
	})
	if err := c2.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "every cluster synced", func() error {
		st := r.Status()
		if applied(st) != commit {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if diff := cmp.Diff(wantWeights([]string{"c1", "c2", "c3"}, n, 30), memberWeights(t, ns)); diff != "" {
		t.Errorf("clusters after the restart (-want +got):\n%s", diff)
	}
	// The inventory is whole: every member labelled, the parent listing
	// both kinds and no namespace but its own.
	id := applySetID(ns)
	for _, c := range env.Clusters {
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		parent, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), apply.DefaultParentName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			apply.LabelApplySetID:                id,
			apply.AnnotationTooling:              apply.Tooling,
			apply.AnnotationContainsGroupKinds:   "DestinationRule.networking.istio.io,VirtualService.networking.istio.io",
			apply.AnnotationAdditionalNamespaces: "",
		}
		got := map[string]string{apply.LabelApplySetID: parent.Labels[apply.LabelApplySetID]}
		for _, a := range []string{apply.AnnotationTooling, apply.AnnotationContainsGroupKinds, apply.AnnotationAdditionalNamespaces} {
			got[a] = parent.Annotations[a]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cluster %s: parent (-want +got):\n%s", c.Name, diff)
		}
		members := labelledMembers(t, c, ns, id)
		if len(members) != 2*n {
			t.Errorf("cluster %s: %d members carry the part-of label, want %d", c.Name, len(members), 2*n)
		}
	}
}

// labelledMembers lists the VirtualServices and DestinationRules in ns that
// carry the ApplySet's part-of label.
func labelledMembers(t testing.TB, c *testenv.Cluster, ns, id string) []string {
	t.Helper()
	cs := istioClients(t)[c.Name]
	sel := metav1.ListOptions{LabelSelector: apply.LabelPartOf + "=" + id}
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

// TestPruneRemovedIntent: a service removed from the intents is pruned
// from every cluster; objects outside sailplan's ApplySet, even ones that
// look like sailplan's, are left alone.
func TestPruneRemovedIntent(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	all := []string{"c1", "c2", "c3"}
	for _, name := range all {
		// Not members: a team's own VirtualService, and one with sailplan's
		// managed-by label but not its ApplySet label.
		fixture.ApplyAs(t, env.Cluster(name), "other-team", fixture.OtherVirtualService(ns, "theirs", 100))
		fixture.ApplyAs(t, env.Cluster(name), "other-team", fixture.VirtualService(ns, "lookalike", 100))
	}
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 3, 10)}, "three services")
	var log testenv.LogBuffer
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
		if diff := cmp.Diff(notify.Counts{Unchanged: 4, Pruned: 2}, st.Counts); diff != "" {
			t.Errorf("cluster %s: counts (-want +got):\n%s", name, diff)
		}
	}
}

// TestPruneGuard: a prune of more than half of the inventory is refused,
// deletes nothing and says so in the error and the status, until the
// setting allows it.
func TestPruneGuard(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 1}), "svc.cue": servicesCUE(ns, 4, 10)}, "four services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, map[string]string{"svc.cue": servicesCUE(ns, 1, 10)}, "drop three of four")
	err := r.Sync(ctx)
	var pr *apply.PruneRefusedError
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
		if st.State != notify.StateFailed || !strings.Contains(st.Error, "prune refused") {
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

// TestPollPutsDriftBack: an object deleted in a cluster that already holds
// the commit, and put back by the next sync before any drift watch runs,
// is published as drift corrected, not only as created; a change of commit
// is not drift.
func TestPollPutsDriftBack(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	var mu stdsync.Mutex
	var drift []notify.DriftCorrected
	r.bus.Subscribe(notify.HandlerFunc(func(e notify.Event) {
		if d, ok := e.(notify.DriftCorrected); ok {
			mu.Lock()
			drift = append(drift, d)
			mu.Unlock()
		}
	}))
	heard := func() []notify.DriftCorrected {
		r.bus.Flush()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(drift)
	}
	r.bus.Subscribe(r.Reconciler)
	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10), "ratings.cue": testenv.CanaryCUE(ns, "ratings", "")}, "reviews 90/10")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 80, 20)}, "reviews 80/20")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A promotion's step renders the same commit again, with new weights.
	r.bus.Publish(notify.PromotionStepped{Change: notify.Change{Promotion: notify.Promotion{Service: "ratings", Candidate: "v2", Phase: "Progressing",
		Waves: []notify.WaveWeight{{Wave: 1, Weight: 20}, {Wave: 2, Weight: 20}}}}, Wave: 2, Weight: 20})
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.Clusters["c2"].Counts.Configured == 0 {
		t.Fatalf("the step wrote nothing to c2: %+v", st.Clusters["c2"])
	}
	if got := heard(); len(got) != 0 {
		t.Fatalf("a new commit's or a promotion step's writes were published as drift: %+v", got)
	}
	if err := istioClients(t)["c2"].NetworkingV1().VirtualServices(ns).Delete(t.Context(), "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []notify.DriftCorrected{{Cluster: "c2", Object: "VirtualService/" + ns + "/reviews", Kind: "VirtualService", Drift: "deleted"}}
	if diff := cmp.Diff(want, heard(), cmpopts.IgnoreFields(notify.DriftCorrected{}, "At")); diff != "" {
		t.Errorf("drift published (-want +got):\n%s", diff)
	}
}
