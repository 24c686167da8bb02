package apply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestDiff: a server-side dry run shows new objects, changed fields and
// prunes, and nothing for objects that would not change; the cluster is
// not modified.
func TestDiff(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	c := clusterFor(t, "c1", ns)
	opts := Options{ParentNamespace: ns}
	if _, err := c.Sync(ctx, []*unstructured.Unstructured{fixture.VirtualService(ns, "a", 90), fixture.VirtualService(ns, "b", 90), fixture.VirtualService(ns, "gone", 90)}, opts); err != nil {
		t.Fatal(err)
	}
	diffs, err := c.Diff(ctx, []*unstructured.Unstructured{fixture.VirtualService(ns, "a", 90), fixture.VirtualService(ns, "b", 50), fixture.VirtualService(ns, "new", 90)})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]Action{}
	for _, d := range diffs {
		actions[d.Object] = d.Action
	}
	want := map[string]Action{
		"VirtualService/" + ns + "/a":    Unchanged,
		"VirtualService/" + ns + "/b":    Configured,
		"VirtualService/" + ns + "/new":  Created,
		"VirtualService/" + ns + "/gone": Pruned,
	}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	for _, d := range diffs {
		switch d.Action {
		case Unchanged:
			if d.Diff != "" {
				t.Errorf("%s: unchanged but diff:\n%s", d.Object, d.Diff)
			}
		case Configured:
			for _, line := range []string{"--- live/VirtualService/" + ns + "/b", "+++ sailplan/VirtualService/" + ns + "/b", "-      weight: 90", "+      weight: 50"} {
				if !strings.Contains(d.Diff, line+"\n") {
					t.Errorf("%s: diff lacks %q:\n%s", d.Object, line, d.Diff)
				}
			}
			for _, noise := range []string{"resourceVersion", "managedFields", "generation", AnnotationDigest} {
				if strings.Contains(d.Diff, noise) {
					t.Errorf("%s: diff shows %s:\n%s", d.Object, noise, d.Diff)
				}
			}
		case Created:
			if !strings.HasPrefix(d.Diff, "--- /dev/null\n") {
				t.Errorf("%s: diff of a new object:\n%s", d.Object, d.Diff)
			}
		case Pruned:
			if !strings.Contains(d.Diff, "+++ /dev/null\n") {
				t.Errorf("%s: diff of a pruned object:\n%s", d.Object, d.Diff)
			}
		}
	}
	want2 := map[string]int64{"VirtualService/a": 10, "VirtualService/b": 10, "VirtualService/gone": 10}
	if diff := cmp.Diff(want2, liveWeights(t, ns)); diff != "" {
		t.Errorf("the diff changed the cluster (-want +got):\n%s", diff)
	}
}
