package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

func managersOf(u *unstructured.Unstructured) map[string]bool {
	out := map[string]bool{}
	for _, mf := range u.GetManagedFields() {
		out[mf.Manager] = true
	}
	return out
}

// TestConflictNotTaken: a field another manager owns with another value
// is reported by object, field and manager, and left as it is; the
// force-conflicts annotation takes it.
func TestConflictNotTaken(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	tc := env.Cluster("c1")
	fixture.ApplyAs(t, tc, "other-team", fixture.OtherVirtualService(ns, "reviews", 100))
	c := clusterFor(t, "c1", ns)
	opts := Options{ParentNamespace: ns}

	out, err := c.Sync(ctx, []*unstructured.Unstructured{fixture.VirtualService(ns, "reviews", 10)}, opts)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("sync error = %v, want a ConflictError", err)
	}
	if diff := cmp.Diff(map[string]int{"VirtualService": 1}, out.Conflicts); diff != "" {
		t.Errorf("conflicts by kind (-want +got):\n%s", diff)
	}
	want := &ConflictError{Object: "VirtualService/" + ns + "/reviews", Conflicts: []FieldConflict{{Field: ".spec.http", Manager: "other-team"}}}
	if diff := cmp.Diff(want, ce, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("conflict (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(ce.Error(), "VirtualService/"+ns+"/reviews: conflict with another field manager: .spec.http is owned by \"other-team\"") {
		t.Errorf("error text = %q", ce.Error())
	}
	dyn, _ := dynamic.NewForConfig(tc.RESTConfig())
	live, err := dyn.Resource(fixture.VirtualServices).Namespace(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fixture.WeightOf(live, "v1"); got != 100 {
		t.Errorf("v1 weight after the conflict = %d, want 100 (left as the other team set it)", got)
	}

	forced := fixture.VirtualService(ns, "reviews", 10)
	forced.SetAnnotations(map[string]string{AnnotationForceConflicts: "true"})
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{forced}, opts); err != nil {
		t.Fatalf("sync with %s: %v", AnnotationForceConflicts, err)
	}
	live, err = dyn.Resource(fixture.VirtualServices).Namespace(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fixture.WeightOf(live, "v1"); got != 10 {
		t.Errorf("v1 weight after forcing = %d, want 10", got)
	}
}

// TestErrorsByObject: a kind the cluster does not serve and an immutable
// field are reported by object, in words.
func TestErrorsByObject(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	c := clusterFor(t, "c1", ns)
	opts := Options{ParentNamespace: ns}

	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": ns},
	}}
	_, err := c.Sync(ctx, []*unstructured.Unstructured{widget, fixture.VirtualService(ns, "reviews", 50)}, opts)
	if want := "Widget/" + ns + "/w: the cluster does not serve Widget example.com/v1 (is its CRD installed?)"; err == nil || err.Error() != want {
		t.Errorf("sync error = %v\nwant %s", err, want)
	}

	cm := func(v string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata":  map[string]any{"name": "settings", "namespace": ns},
			"immutable": true,
			"data":      map[string]any{"mode": v},
		}}
	}
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{cm("a")}, opts); err != nil {
		t.Fatal(err)
	}
	_, err = c.Sync(ctx, []*unstructured.Unstructured{cm("b")}, opts)
	if want := "ConfigMap/" + ns + "/settings: field data is immutable: the object must be deleted and created again to change it"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("sync error = %v\nwant it to start with %s", err, want)
	}
}

func TestManagerOf(t *testing.T) {
	for msg, want := range map[string]string{
		`conflict with "other-team"`: "other-team",
		`conflict with "kubectl-edit" using networking.istio.io/v1 at 2026-11-22T10:00:00Z`: "kubectl-edit",
		`conflict with "ctl" with subresource "status"`:                                     "ctl",
	} {
		if got := managerOf(msg); got != want {
			t.Errorf("managerOf(%q) = %q, want %q", msg, got, want)
		}
	}
}
