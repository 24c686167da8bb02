package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

// fleetCUE is c1 in wave 1, c2 and c3 in wave 2.
var fleetCUE = testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2, "c3": 2})

// serviceCUE is the reviews service with its default route split v1/v2.
func serviceCUE(ns string, v1, v2 int) string { return testenv.ReviewsCUE(ns, v1, v2) }

func istioClients(t testing.TB) map[string]istioclient.Interface {
	t.Helper()
	out := map[string]istioclient.Interface{}
	for _, c := range env.Clusters {
		cs, err := istioclient.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name] = cs
	}
	return out
}

func wantRoutes(v1, v2 int32) []*networkingv1alpha3.HTTPRoute {
	dest := func(subset string, w int32) *networkingv1alpha3.HTTPRouteDestination {
		return &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: subset}, Weight: w}
	}
	return []*networkingv1alpha3.HTTPRoute{
		{
			Match: []*networkingv1alpha3.HTTPMatchRequest{{Headers: map[string]*networkingv1alpha3.StringMatch{
				"x-canary": {MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "true"}},
			}}},
			Route: []*networkingv1alpha3.HTTPRouteDestination{dest("v2", 100)},
		},
		{Route: nonZero(dest("v1", v1), dest("v2", v2))},
	}
}

// nonZero leaves out destinations at weight 0, as render does.
func nonZero(ds ...*networkingv1alpha3.HTTPRouteDestination) []*networkingv1alpha3.HTTPRouteDestination {
	var out []*networkingv1alpha3.HTTPRouteDestination
	for _, d := range ds {
		if d.Weight > 0 {
			out = append(out, d)
		}
	}
	return out
}

// observed is what one cluster holds for the reviews service.
type observed struct {
	vsVersion, drVersion string
	commit               string
}

// checkCluster reads the reviews VirtualService and DestinationRule back
// from every cluster and compares their specs with what the intents say.
func checkClusters(t *testing.T, ns string, v1, v2 int32) map[string]observed {
	t.Helper()
	ctx := t.Context()
	out := map[string]observed{}
	for name, cs := range istioClients(t) {
		vs, err := cs.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", name, err)
		}
		if diff := cmp.Diff([]string{"reviews"}, vs.Spec.Hosts); diff != "" {
			t.Errorf("cluster %s: VirtualService hosts (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantRoutes(v1, v2), vs.Spec.Http, protocmp.Transform()); diff != "" {
			t.Errorf("cluster %s: VirtualService http (-want +got):\n%s", name, diff)
		}
		if got := vs.Labels[render.LabelManagedBy]; got != "sailplan" {
			t.Errorf("cluster %s: managed-by label = %q", name, got)
		}
		dr, err := cs.NetworkingV1().DestinationRules(ns).Get(ctx, "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", name, err)
		}
		wantSubsets := []*networkingv1alpha3.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "v2", Labels: map[string]string{"version": "v2"}},
		}
		if diff := cmp.Diff(wantSubsets, dr.Spec.Subsets, protocmp.Transform()); diff != "" {
			t.Errorf("cluster %s: DestinationRule subsets (-want +got):\n%s", name, diff)
		}
		var managers []string
		for _, mf := range vs.ManagedFields {
			managers = append(managers, mf.Manager+"/"+string(mf.Operation))
		}
		if diff := cmp.Diff([]string{"sailplan/Apply"}, managers); diff != "" {
			t.Errorf("cluster %s: VirtualService field managers (-want +got):\n%s", name, diff)
		}
		out[name] = observed{vs.ResourceVersion, dr.ResourceVersion, vs.Annotations[render.AnnotationCommit]}
	}
	return out
}

// TestSpine drives the whole path against two real clusters and a Git
// repository served over HTTP: first commit, weight change, a broken
// commit that must change nothing, and a commit that changes no intent.
func TestSpine(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)

	first := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "reviews: 90/10")
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync %s: %v\nlog:\n%s", first, err, log.String())
	}
	got := checkClusters(t, ns, 90, 10)
	for name, o := range got {
		if o.commit != first {
			t.Errorf("cluster %s: commit annotation = %q, want %q", name, o.commit, first)
		}
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		for _, obj := range []string{"VirtualService/" + ns + "/reviews", "DestinationRule/" + ns + "/reviews"} {
			if want := fmt.Sprintf("cluster=%s object=%s action=created", c, obj); !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log.String())
			}
		}
	}

	second := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 50, 50)}, "reviews: 50/50")
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync %s: %v", second, err)
	}
	afterWeights := checkClusters(t, ns, 50, 50)
	for name, o := range afterWeights {
		if o.commit != second {
			t.Errorf("cluster %s: commit annotation = %q, want %q", name, o.commit, second)
		}
		if o.drVersion != got[name].drVersion {
			t.Errorf("cluster %s: DestinationRule rewritten by a weight change (resourceVersion %s -> %s)", name, got[name].drVersion, o.drVersion)
		}
	}
	if want := "object=VirtualService/" + ns + "/reviews action=configured"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q", want)
	}

	// A typo: CUE rejects the field; nothing may change anywhere.
	broken := strings.Replace(serviceCUE(ns, 10, 90), "namespace:", "namespce:", 1)
	bad := repo.Commit(t, map[string]string{"reviews.cue": broken}, "typo")
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync of a bad commit returned an error, want it reported in the status: %v", err)
	}
	st := r.Status()
	if got := st.Commits[0]; got.Commit.Hash != bad || got.Fate != notify.FateRejected || applied(st) != second {
		t.Errorf("status = newest %s %s, applied %s; want %s rejected, %s applied", got.Commit.Hash, got.Fate, applied(st), bad, second)
	}
	if got := st.Commits[0].Errors; len(got) != 1 || !strings.HasPrefix(got[0], "reviews.cue:4:2: services.reviews.namespce: field not allowed") {
		t.Errorf("rejection = %q, want it to name reviews.cue:4:2 and the field", got)
	}
	if diff := cmp.Diff(afterWeights, checkClusters(t, ns, 50, 50), cmp.AllowUnexported(observed{})); diff != "" {
		t.Errorf("a rejected commit changed the clusters (-want +got):\n%s", diff)
	}

	// A commit that changes no intent (the fix restores the last good
	// content, and a README is added): every object stays as it is, with
	// the commit that last changed it.
	repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 50, 50), "README.md": "docs only\n"}, "fix typo, add README")
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(afterWeights, checkClusters(t, ns, 50, 50), cmp.AllowUnexported(observed{})); diff != "" {
		t.Errorf("an unchanged intent rewrote objects (-want +got):\n%s", diff)
	}
}

// TestRunFollowsBranch runs the daemon loop and pushes while it runs: the
// new weights must arrive in both clusters without another call.
func TestRunFollowsBranch(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 100, 0)}, "all on v1")

	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	runReconciler(t, r, 200*time.Millisecond)

	waitApplied(t, r, "")
	checkClusters(t, ns, 100, 0)
	next := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 75, 25)}, "25% to v2")
	waitApplied(t, r, next)
	checkClusters(t, ns, 75, 25)
}

// waitApplied waits until the reconciler has applied commit (any commit
// when empty).
func waitApplied(t *testing.T, r *testReconciler, commit string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got := applied(r.Status())
		if got != "" && (commit == "" || got == commit) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("commit %q not applied within 30s; status %+v", commit, r.Status())
}

// TestMissingContext: a fleet cluster without a kubeconfig context is an
// error that names it, and nothing is applied to the clusters that exist.
func TestMissingContext(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{
		"fleet.cue":   fleetCUE + "fleet: clusters: c9: wave: 3\n",
		"reviews.cue": serviceCUE(ns, 90, 10),
	}, "a cluster we cannot reach")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	err := r.Sync(t.Context())
	if err == nil || !strings.Contains(err.Error(), `cluster c9: no context named "c9" in the kubeconfig`) {
		t.Fatalf("Sync error = %v, want it to name cluster c9", err)
	}
	want := notify.CommitStatus{Fate: notify.FateRejected, Reason: notify.RejectedFleet, Errors: []string{`cluster c9: no context named "c9" in the kubeconfig`}}
	if diff := cmp.Diff(want, r.Status().Commits[0], cmpopts.IgnoreFields(notify.CommitStatus{}, "Commit", "Seen", "Done")); diff != "" {
		t.Errorf("commit status (-want +got):\n%s", diff)
	}
	// Tried again at every sync (the kubeconfig may be fixed), said once.
	if err := r.Sync(t.Context()); err == nil {
		t.Fatal("second Sync succeeded")
	}
	if n := strings.Count(log.String(), "no context named"); n != 1 {
		t.Errorf("the fleet error is logged %d times in two syncs, want once:\n%s", n, log.String())
	}
	for name, cs := range istioClients(t) {
		list, err := cs.NetworkingV1().VirtualServices(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Errorf("cluster %s: %d VirtualServices applied despite the error", name, len(list.Items))
		}
	}
}

// blockingSource counts Head calls and holds each until released.
type blockingSource struct {
	calls   chan int
	release chan struct{}
	n       int
}

func (s *blockingSource) Head(ctx context.Context) (string, error) {
	s.n++
	s.calls <- s.n
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return "", fmt.Errorf("no head in this test")
}

func (s *blockingSource) Fetch(context.Context) (*source.Revision, error) {
	return nil, fmt.Errorf("not fetched in this test")
}

func (s *blockingSource) String() string { return "blocking" }

// TestTriggerCoalesces: triggers that arrive while a sync runs ask for
// exactly one more sync, and Trigger never blocks.
func TestTriggerCoalesces(t *testing.T) {
	src := &blockingSource{calls: make(chan int, 10), release: make(chan struct{})}
	r := &Reconciler{Source: src}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, time.Hour) }()

	if n := <-src.calls; n != 1 {
		t.Fatalf("first Head call is number %d", n)
	}
	for range 10 {
		r.Trigger() // the first sync is still running
	}
	src.release <- struct{}{}
	if n := <-src.calls; n != 2 {
		t.Fatalf("second Head call is number %d", n)
	}
	// Stop while the second sync runs: a third sync would mean a trigger
	// was left over from the burst.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-src.calls:
		t.Fatalf("Head called %d times for one burst of triggers, want 2", n)
	default:
	}
}

// TestNoopReconcileSendsNoWrites: once the clusters hold a commit, syncing
// again (same head, and a new commit that changes no rendered object)
// sends no write request: counted by the client, and by each apiserver's
// own apiserver_request_total.
func TestNoopReconcileSendsNoWrites(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 2}), "svc.cue": servicesCUE(ns, 20, 10)}, "twenty services")
	var log testenv.LogBuffer
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

	// A commit that changes no rendered object writes nothing either: the
	// objects keep the commit that last changed them, and the model says
	// which commit each cluster is at.
	commit := repo.Commit(t, map[string]string{"README.md": "docs only\n"}, "docs")
	before = writesPerCluster(t)
	rc.reset()
	if err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{}, rc.writes()); diff != "" {
		t.Errorf("client-side writes of a docs-only commit (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, writesPerCluster(t)); diff != "" {
		t.Errorf("apiserver write counts moved for a docs-only commit (-before +after):\n%s", diff)
	}
	for name, st := range r.Status().Clusters {
		if st.Commit != commit || st.State != notify.StateSynced {
			t.Errorf("cluster %s: %s at %s, want synced at %s", name, st.State, st.Commit, commit)
		}
		if diff := cmp.Diff(notify.Counts{Created: 40}, st.Counts); diff != "" {
			t.Errorf("cluster %s: counts of the last sync that wrote (-want +got):\n%s", name, diff)
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

// TestStatusModel: what the reconciler publishes, folded by the model,
// says which commit each cluster holds, since when, and what it wrote.
func TestStatusModel(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 2, "c3": 3}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if !st.Healthy() {
		t.Errorf("status not healthy after a good sync: %+v", st)
	}
	got := st.Commits[0]
	if got.Commit.Hash != commit || got.Fate != notify.FateApplied || got.Commit.Author != testenv.GitAuthorName || got.Commit.Subject() != "two services" || len(got.Clusters) != 3 {
		t.Errorf("commit status = %+v, want %s applied to three clusters, with its author and subject", got, commit)
	}
	for i, name := range []string{"c1", "c2", "c3"} {
		want := notify.ClusterStatus{Wave: i + 1, State: notify.StateSynced, Commit: commit, Target: commit, Counts: notify.Counts{Created: 4}}
		if diff := cmp.Diff(want, st.Clusters[name], cmpopts.IgnoreFields(notify.ClusterStatus{}, "Since", "Applied")); diff != "" {
			t.Errorf("cluster %s (-want +got):\n%s", name, diff)
		}
		if st.Clusters[name].Applied.IsZero() {
			t.Errorf("cluster %s: no time for when it got the commit", name)
		}
	}
}

// TestDriftCorrected: with the daemon running, an edit of a field sailplan
// owns (as kubectl edit makes it) and a deleted object are put back by the
// watch, without a sync; a field that another manager adds is left alone
// and stays that manager's.
func TestDriftCorrected(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 1}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	events := &eventLog{}
	r.bus.Subscribe(events)
	// The interval is long: only the watches can put things back in time.
	runReconciler(t, r, time.Hour)
	waitApplied(t, r, "")

	c2 := env.Cluster("c2")
	dyn, err := dynamic.NewForConfig(c2.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	vss := dyn.Resource(fixture.VirtualServices).Namespace(ns)
	// kubectl edit: a full update under another manager, which takes
	// ownership of what it changed.
	vs, err := vss.Get(t.Context(), "svc-000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	http[0].(map[string]any)["route"].([]any)[0].(map[string]any)["weight"] = int64(0)
	http[0].(map[string]any)["route"].([]any)[1].(map[string]any)["weight"] = int64(100)
	_ = unstructured.SetNestedSlice(vs.Object, http, "spec", "http")
	if _, err := vss.Update(t.Context(), vs, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(fixture.DestinationRules).Namespace(ns).Delete(t.Context(), "svc-001", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "drift corrected", func() error {
		got := memberWeights(t, ns)["c2"]
		if diff := cmp.Diff(wantWeights([]string{"c2"}, 2, 10)["c2"], got); diff != "" {
			return fmt.Errorf("c2 (-want +got):\n%s", diff)
		}
		return nil
	})
	for _, want := range []string{"drift corrected", "object=VirtualService/" + ns + "/svc-000 drift=changed", "object=DestinationRule/" + ns + "/svc-001 drift=deleted"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The events name the kind, for counting.
	for _, want := range []string{"drift c2 VirtualService/" + ns + "/svc-000 kind=VirtualService changed", "drift c2 DestinationRule/" + ns + "/svc-001 kind=DestinationRule deleted"} {
		eventually(t, 5*time.Second, "event "+want, func() error {
			if !events.has(want) {
				return errors.New("not heard")
			}
			return nil
		})
	}

	// Another team routes svc-000 through a gateway: a field sailplan does
	// not declare. Neither the watch nor a sync may take it.
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "svc-000", "namespace": ns},
		"spec":     map[string]any{"gateways": []any{"mesh", "edge"}},
	}}
	fixture.ApplyAs(t, c2, "other-team", gw)
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	vs, err = vss.Get(t.Context(), "svc-000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
	if diff := cmp.Diff([]string{"mesh", "edge"}, gws); diff != "" {
		t.Errorf("gateways of other-team (-want +got):\n%s", diff)
	}
	owners := map[string]bool{}
	for _, mf := range vs.GetManagedFields() {
		if strings.Contains(string(mf.FieldsV1.Raw), `"f:gateways"`) {
			owners[mf.Manager] = true
		}
	}
	if diff := cmp.Diff(map[string]bool{"other-team": true}, owners); diff != "" {
		t.Errorf("owners of spec.gateways (-want +got):\n%s", diff)
	}
	if got := fixture.WeightOf(vs, "v2"); got != 10 {
		t.Errorf("v2 weight = %d, want 10", got)
	}
}

// TestOwnWritesAreNotDrift: while a sync writes a cluster, the watches see
// the new content before the sync has recorded it as applied. Drift
// correction must not take it for drift and put the old content back: every
// change must stay applied. Writes are slowed down so that the watch event
// always overtakes the sync that caused it.
func TestOwnWritesAreNotDrift(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "90/10")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.wrapTransport = func(_ string, rt http.RoundTripper) http.RoundTripper {
		return slowWrites{rt}
	}
	runReconciler(t, r, time.Hour)
	waitApplied(t, r, "")
	for _, w := range []int32{20, 30} {
		sha := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 100-int(w), int(w))}, fmt.Sprintf("%d%%", w))
		r.Trigger()
		waitApplied(t, r, sha)
		// A wrong correction would have been sent by now, and lands
		// within one slowed write.
		time.Sleep(driftSettle + 2*slowWrite)
		checkClusters(t, ns, 100-w, w)
	}
}

// driftSettle is five times the delay of a first drift correction.
const driftSettle = 500 * time.Millisecond

// slowWrite is how long slowWrites holds the answer to each write: the
// apiserver has done it, and its watch event is on the way.
const slowWrite = 500 * time.Millisecond

type slowWrites struct{ rt http.RoundTripper }

func (s slowWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if req.Method == http.MethodPatch {
		time.Sleep(slowWrite)
	}
	return resp, err
}
