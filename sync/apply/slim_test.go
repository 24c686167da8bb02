package apply

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestCacheIsSlimAndDriftStillCorrected: the watch cache keeps neither
// managedFields, nor the status, nor kubectl's last-applied copy, and an
// edit of a weight sailplan applied is still seen and put back.
func TestCacheIsSlimAndDriftStillCorrected(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	c := clusterFor(t, "c1", ns)
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{fixture.VirtualService(ns, "reviews", 90)}, Options{ParentNamespace: ns}); err != nil {
		t.Fatal(err)
	}
	drifts := make(chan Drift, 10)
	c.StartDrift(ctx, func(d Drift) { drifts <- d })

	// Someone edits the weight with a plain update, as kubectl edit does,
	// leaving a last-applied copy behind.
	dyn, err := dynamic.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	vss := dyn.Resource(fixture.VirtualServices).Namespace(ns)
	live, err := vss.Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(live.Object, "spec", "http")
	for _, r := range http[0].(map[string]any)["route"].([]any) {
		r := r.(map[string]any)
		r["weight"] = int64(50)
	}
	_ = unstructured.SetNestedSlice(live.Object, http, "spec", "http")
	ann := live.GetAnnotations()
	ann[lastApplied] = `{"kind":"VirtualService"}`
	live.SetAnnotations(ann)
	if _, err := vss.Update(ctx, live, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	select {
	case d := <-drifts:
		want := Drift{Object: "VirtualService/" + ns + "/reviews", Kind: "VirtualService", What: "changed"}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("drift (-want +got):\n%s", diff)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the edit was not corrected within 30 s")
	}
	if got := liveWeights(t, ns); got["VirtualService/reviews"] != 10 {
		t.Errorf("v2 weight after the correction = %d, want 10", got["VirtualService/reviews"])
	}

	// The edit and the correction both came through the watch and the
	// write's response: neither left its bulk in the cache.
	cached := c.cache.get(objKey{Group: "networking.istio.io", Kind: "VirtualService", Namespace: ns, Name: "reviews"})
	if cached == nil {
		t.Fatal("the VirtualService is not in the cache")
	}
	if mf := cached.GetManagedFields(); mf != nil {
		t.Errorf("cached managedFields = %v, want none", mf)
	}
	if u, err := cached.decode(); err != nil || u.GetAnnotations()[lastApplied] != "" || cached.GetAnnotations() != nil || cached.GetLabels() != nil {
		t.Errorf("cached annotations %v (decoded %v, %v), labels %v; want only the JSON, without %s", cached.GetAnnotations(), u.GetAnnotations(), err, cached.GetLabels(), lastApplied)
	}
	if !cached.intact {
		t.Error("the corrected object is not intact in the cache: every sync would decode it to compare")
	}
	u, err := cached.decode()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Object["status"]; ok {
		t.Errorf("cached status = %v, want none", u.Object["status"])
	}
	if got := fixture.WeightOf(u, "v2"); got != 10 {
		t.Errorf("cached v2 weight = %d, want 10 (the spec is kept)", got)
	}
}

// TestBodyLeavesDesiredAlone: the body shares the rendered object's spec
// but never changes the rendered object.
func TestBodyLeavesDesiredAlone(t *testing.T) {
	desired := fixture.VirtualService("ns", "reviews", 90)
	desired.SetAnnotations(map[string]string{"sailplan.dev/commit": "1111111"})
	before := desired.DeepCopy()
	b, err := digestOf(desired, "applyset-x")
	if err != nil {
		t.Fatal(err)
	}
	body := bodyOf(desired, "applyset-x", b.digest, b.commit)
	if diff := cmp.Diff(before.Object, desired.Object); diff != "" {
		t.Errorf("desired changed by body (-before +after):\n%s", diff)
	}
	if body.GetLabels()[LabelPartOf] != "applyset-x" || body.GetAnnotations()[AnnotationDigest] == "" {
		t.Errorf("body metadata = %v, want the ApplySet label and a digest", body.Object["metadata"])
	}
}
