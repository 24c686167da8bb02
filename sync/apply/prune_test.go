package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestPruneInCluster: a member that is no longer applied is pruned, and
// objects outside the ApplySet (a team's own, and one with sailplan's
// managed-by label but not its ApplySet label) are not; a prune of more
// than PruneMaxShare of the inventory is refused and deletes nothing until
// the share allows it.
func TestPruneInCluster(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	tc := env.Cluster("c1")
	fixture.ApplyAs(t, tc, "other-team", fixture.OtherVirtualService(ns, "theirs", 100))
	fixture.ApplyAs(t, tc, "other-team", fixture.VirtualService(ns, "lookalike", 100))
	c := clusterFor(t, "c1", ns)
	opts := Options{ParentNamespace: ns}
	vss := func(names ...string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, n := range names {
			out = append(out, fixture.VirtualService(ns, n, 90))
		}
		return out
	}
	if _, err := c.Sync(ctx, vss("a", "b", "c", "d"), opts); err != nil {
		t.Fatal(err)
	}

	out, err := c.Sync(ctx, vss("a", "b", "c"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]map[Action]int{"VirtualService": {Unchanged: 3, Pruned: 1}}, out.Kinds); diff != "" {
		t.Errorf("counts by kind (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Result{{Object: "VirtualService/" + ns + "/d", Kind: "VirtualService", Action: Pruned}}, out.Results); diff != "" {
		t.Errorf("results, the objects written (-want +got):\n%s", diff)
	}

	_, err = c.Sync(ctx, vss("a"), opts)
	var pr *PruneRefusedError
	if !errors.As(err, &pr) {
		t.Fatalf("Sync error = %v, want a refused prune", err)
	}
	if want := "prune refused: it would delete 2 of the 3 objects sailplan manages there (67%, more than the allowed 50%)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Sync error = %v\nwant it to start with %q", err, want)
	}
	want := map[string]int64{"VirtualService/a": 10, "VirtualService/b": 10, "VirtualService/c": 10, "VirtualService/theirs": 0, "VirtualService/lookalike": 0}
	if diff := cmp.Diff(want, liveWeights(t, ns)); diff != "" {
		t.Errorf("a refused prune deleted objects (-want +got):\n%s", diff)
	}

	opts.PruneMaxShare = 1
	if _, err := c.Sync(ctx, vss("a"), opts); err != nil {
		t.Fatalf("Sync with PruneMaxShare 1: %v", err)
	}
	delete(want, "VirtualService/b")
	delete(want, "VirtualService/c")
	if diff := cmp.Diff(want, liveWeights(t, ns)); diff != "" {
		t.Errorf("after the allowed prune (-want +got):\n%s", diff)
	}
}
