package sync

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/testenv"
)

const fleetCUE = `package intents

fleet: clusters: {
	c1: wave: 1
	c2: wave: 2
	c3: wave: 2
}
`

func serviceCUE(ns string, v1, v2 int) string {
	return fmt.Sprintf(`package intents

services: reviews: {
	namespace: %q
	versions: {
		v1: labels: version: "v1"
		v2: labels: version: "v2"
	}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{to: {v1: %d, v2: %d}},
	]
}
`, ns, v1, v2)
}

// logBuffer collects a reconciler's log for assertions; it is safe for the
// reconciler's concurrent writers.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newReconciler returns a reconciler whose ApplySet parent lives in the
// test's namespace ns, so that tests sharing the clusters never see each
// other's inventory; its watches stop when the test ends.
func newReconciler(t *testing.T, url, ns string, log *logBuffer) *Reconciler {
	r := &Reconciler{
		Source:     &GitSource{URL: url, Branch: "main"},
		Kubeconfig: env.Kubeconfig,
		Log:        slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Options:    Options{ParentNamespace: ns},
	}
	t.Cleanup(r.Close)
	return r
}

func istioClients(t *testing.T) map[string]istioclient.Interface {
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
	needClusters(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log logBuffer
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
	if st.Rejected != bad || st.Applied != second {
		t.Errorf("status = applied %s rejected %s, want applied %s rejected %s", st.Applied, st.Rejected, second, bad)
	}
	if st.RejectedErr == nil || !strings.Contains(st.RejectedErr.Error(), "reviews.cue:4:2: services.reviews.namespce: field not allowed") {
		t.Errorf("rejection = %v, want it to name reviews.cue:4:2 and the field", st.RejectedErr)
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
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 100, 0)}, "all on v1")

	var log logBuffer
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
func waitApplied(t *testing.T, r *Reconciler, commit string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st := r.Status()
		if st.Applied != "" && (commit == "" || st.Applied == commit) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("commit %q not applied within 30s; status %+v", commit, r.Status())
}

// TestMissingContext: a fleet cluster without a kubeconfig context is an
// error that names it, and nothing is applied to the clusters that exist.
func TestMissingContext(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{
		"fleet.cue":   fleetCUE + "fleet: clusters: c9: wave: 3\n",
		"reviews.cue": serviceCUE(ns, 90, 10),
	}, "a cluster we cannot reach")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	err := r.Sync(t.Context())
	if err == nil || !strings.Contains(err.Error(), `cluster c9: no context named "c9" in the kubeconfig`) {
		t.Fatalf("Sync error = %v, want it to name cluster c9", err)
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

func (s *blockingSource) Fetch(context.Context) (*Revision, error) {
	return nil, fmt.Errorf("not fetched in this test")
}

// TestTriggerCoalesces: triggers that arrive while a sync runs ask for
// exactly one more sync, and Trigger never blocks.
func TestTriggerCoalesces(t *testing.T) {
	src := &blockingSource{calls: make(chan int, 10), release: make(chan struct{})}
	r := &Reconciler{Source: src, Log: slog.New(slog.DiscardHandler)}
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
