package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestBodiesKeptAndCommitStamped: an object handed over again (as
// render.Renderer does for an unchanged service) is not encoded and hashed
// again, and keeps the commit that last changed it whatever commit it was
// rendered with; an object whose content changes gets Options.Commit even
// when it was rendered at an older commit (a cluster whose overrides were
// removed receives objects another cluster's commit rendered).
func TestBodiesKeptAndCommitStamped(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	c := clusterFor(t, "c1", ns)
	dyn, err := dynamic.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	commitOf := func(name string) (string, string) {
		t.Helper()
		u, err := dyn.Resource(fixture.VirtualServices).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u.GetAnnotations()[render.AnnotationCommit], u.GetResourceVersion()
	}
	rendered := func(name string, weight int64, commit string) *unstructured.Unstructured {
		u := fixture.VirtualService(ns, name, weight)
		u.SetAnnotations(map[string]string{render.AnnotationCommit: commit})
		return u
	}

	a, b := rendered("a", 10, "c1"), rendered("b", 10, "c1")
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{a, b}, Options{ParentNamespace: ns, Commit: "c1"}); err != nil {
		t.Fatal(err)
	}
	made := c.applier.bodies.made
	_, aVersion := commitOf("a")

	// Commit c2 changes b only: a is the same object, b is new (rendered
	// by an older commit, as a shared object can be).
	b2 := rendered("b", 20, "c0")
	out, err := c.Sync(ctx, []*unstructured.Unstructured{a, b2}, Options{ParentNamespace: ns, Commit: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Counts(); got[Configured] != 1 || got[Unchanged] != 1 {
		t.Errorf("counts %v, want b configured and a unchanged", got)
	}
	if got := c.applier.bodies.made - made; got != 1 {
		t.Errorf("%d digests computed for the second sync, want 1 (b's): a is the very same object", got)
	}
	if commit, version := commitOf("a"); commit != "c1" || version != aVersion {
		t.Errorf("a: commit %s, resourceVersion %s -> %s; want c1 and no write", commit, aVersion, version)
	}
	if commit, _ := commitOf("b"); commit != "c2" {
		t.Errorf("b: commit %s, want c2, the commit that changed it", commit)
	}

	// a rendered again at c3 with the same content: nothing is written,
	// and what drift correction would put back carries c1.
	a3 := rendered("a", 10, "c3")
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{a3, b2}, Options{ParentNamespace: ns, Commit: "c3"}); err != nil {
		t.Fatal(err)
	}
	if commit, version := commitOf("a"); commit != "c1" || version != aVersion {
		t.Errorf("a after c3: commit %s, resourceVersion %s -> %s; want c1 and no write", commit, aVersion, version)
	}
	if got := c.appliedTo(keyOf(a3)).commit; got != "c1" {
		t.Errorf("what drift correction would put back carries commit %s, want c1", got)
	}
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{a3, b2}, Options{ParentNamespace: ns, Commit: "c4"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.applier.bodies.kept[a]; ok {
		t.Error("the body of a, which the last two syncs did not ask for, is still kept")
	}
}
