package apply

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestApplySetID checks the id against KEP-3659's formula computed
// independently: base64url(sha256("sailplan.sailplan-system.ConfigMap."))
// (computed with Python's hashlib and base64.urlsafe_b64encode, padding dropped).
func TestApplySetID(t *testing.T) {
	got := newInventory(DefaultParentNamespace, DefaultParentName).ID()
	if want := "applyset-" + kepID + "-v1"; got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
}

// TestInventoryParent: after a sync the parent ConfigMap carries the
// ApplySet id label, the tooling, the member kinds and the namespaces
// other than its own, and every member carries the part-of label.
func TestInventoryParent(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	other := env.Namespace(t)
	c := clusterFor(t, "c1", ns)
	opts := Options{ParentNamespace: ns}
	objs := []*unstructured.Unstructured{fixture.VirtualService(ns, "a", 50), fixture.VirtualService(other, "b", 50)}
	dyn, err := dynamic.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// A parent as sailplan wrote it before the status moved out of it: the
	// annotation it no longer declares goes with its next apply.
	old, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{
		"name": DefaultParentName, "namespace": ns, "annotations": map[string]any{"sailplan.dev/status": `{"state":"synced"}`}}})
	if err != nil {
		t.Fatal(err)
	}
	force := true
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, DefaultParentName, types.ApplyPatchType, old,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, objs, opts); err != nil {
		t.Fatal(err)
	}
	parent, err := dyn.Resource(configMaps).Namespace(ns).Get(ctx, DefaultParentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := c.inventory.ID()
	if diff := cmp.Diff(map[string]string{LabelApplySetID: id}, parent.GetLabels()); diff != "" {
		t.Errorf("parent labels (-want +got):\n%s", diff)
	}
	ann := parent.GetAnnotations()
	want := map[string]string{
		AnnotationTooling:              "sailplan/v1",
		AnnotationContainsGroupKinds:   "VirtualService.networking.istio.io",
		AnnotationAdditionalNamespaces: other,
	}
	if diff := cmp.Diff(want, ann); diff != "" {
		t.Errorf("parent annotations (-want +got):\n%s", diff)
	}
	for _, o := range objs {
		live, err := dyn.Resource(fixture.VirtualServices).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := live.GetLabels()[LabelPartOf]; got != id {
			t.Errorf("%s: part-of label = %q, want %q", keyOf(o), got, id)
		}
	}
}

const kepID = "iTCU9YjxfKzpqnwCgTUhOmQzE-8t3oBP_tNEWQsMV0E"
