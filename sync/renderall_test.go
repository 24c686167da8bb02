package sync

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/source"
)

// TestRenderAllSharesOnlyEqualViews: clusters that see the same intents
// with the same canary weights get the same objects, rendered once; a
// cluster with overrides or with other canary weights gets its own, and
// every cluster's objects are what rendering for it alone gives.
func TestRenderAllSharesOnlyEqualViews(t *testing.T) {
	in, err := schema.Load(schema.Files{
		"fleet.cue": []byte(`package intents
fleet: clusters: {
	a: wave: 1
	b: wave: 1
	c: wave: 2
	d: {wave: 2, overrides: services: reviews: timeout: "20s"}
}
`),
		"reviews.cue": []byte(`package intents
services: reviews: {
	namespace: "shop"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: *"10s" | string
	routes: [{match: [{headers: "x-canary": exact: "true"}], to: v2: 100}, {}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 50, 100]}
}
`),
	})
	if err != nil {
		t.Fatal(err)
	}
	canaries := map[string]map[string]render.CanaryState{"c": {"reviews": {Candidate: "v2", Weight: 50}}}
	rev := &source.Revision{Commit: "0123456789abcdef0123456789abcdef01234567"}
	var rr render.Renderer
	p, err := renderAll(&rr, rev, in, canaries)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		objs, err := render.Render(in, render.Options{Cluster: name, Commit: rev.Commit, Canaries: canaries[name]})
		if err != nil {
			t.Fatal(err)
		}
		var want []*unstructured.Unstructured
		for _, o := range objs {
			u, err := render.ToUnstructured(o)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, u)
		}
		if diff := cmp.Diff(want, p.desired[name]); diff != "" {
			t.Errorf("cluster %s (-rendered alone +renderAll):\n%s", name, diff)
		}
	}
	same := func(x, y string) bool { return &p.desired[x][0] == &p.desired[y][0] }
	if got := [3]bool{same("a", "b"), same("a", "c"), same("a", "d")}; got != [3]bool{true, false, false} {
		t.Errorf("a shares its objects with b, c, d: %v, want [true false false] (same view and weights only)", got)
	}
}
