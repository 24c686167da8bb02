package render

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// TestEveryKindHasARenderer: each kind of intents has its renderer, and
// each renderer renders a kind of intents.
func TestEveryKindHasARenderer(t *testing.T) {
	var kinds []string
	for _, k := range schema.Kinds {
		kinds = append(kinds, k.Field)
		if _, ok := renderers[k.Field]; !ok {
			t.Errorf("intents of kind %s have no renderer: register one in the render file of the kind", k.Field)
		}
	}
	for field := range renderers {
		if !slices.Contains(kinds, field) {
			t.Errorf("a renderer is registered for %s, which is not in schema.Kinds", field)
		}
	}
}

// TestRawKindsHavePhases: a raw object may be of any kind in
// schema.RawKinds, so the raw renderer gives each of them its phase.
func TestRawKindsHavePhases(t *testing.T) {
	var want []string
	for _, k := range schema.RawKinds {
		want = append(want, k.Kind)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(renderers["raw"].outputs))); diff != "" {
		t.Errorf("schema.RawKinds and the kinds the raw renderer gives a phase (render/raw.go) differ (-RawKinds +raw):\n%s", diff)
	}
}

// TestRenderersDeclareWhatTheyWrite renders every golden input kind by
// kind: each object must be of an Istio kind its renderer declares, so it
// has an apply phase, and every kind of intents must be rendered by some
// golden test.
func TestRenderersDeclareWhatTheyWrite(t *testing.T) {
	rendered := map[string]int{}
	for dir := range goldenInputs(t) {
		shared := loadDir(t, dir)
		views := []*schema.Intents{shared}
		for _, name := range slices.Sorted(maps.Keys(shared.Fleet.Clusters)) {
			views = append(views, shared.ForCluster(name))
		}
		for _, in := range views {
			for _, k := range schema.Kinds {
				r, ok := renderers[k.Field]
				if !ok {
					continue // TestEveryKindHasARenderer says so
				}
				objs, err := r.render(in, k, Options{})
				if err != nil {
					t.Fatalf("%s: %v", dir, err)
				}
				for _, o := range objs {
					if _, ok := r.outputs[o.GetObjectKind().GroupVersionKind().Kind]; !ok {
						t.Errorf("%s: the renderer of %s wrote a %s, which it does not register, so it has no apply phase", dir, k.Field, o.GetObjectKind().GroupVersionKind().Kind)
					}
				}
				rendered[k.Field] += len(objs)
			}
		}
	}
	for _, k := range schema.Kinds {
		if rendered[k.Field] == 0 {
			t.Errorf("no golden test renders intents of kind %s: add an input under render/testdata", k.Field)
		}
	}
}
