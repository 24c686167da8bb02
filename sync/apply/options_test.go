package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOptionsWithDefaults(t *testing.T) {
	want := Options{PruneMaxShare: DefaultPruneMaxShare, Workers: DefaultWorkers, ParentNamespace: DefaultParentNamespace, ParentName: DefaultParentName}
	if diff := cmp.Diff(want, Options{}.WithDefaults()); diff != "" {
		t.Errorf("zero Options (-want +got):\n%s", diff)
	}
	set := Options{PruneMaxShare: 1, Workers: 2, ParentNamespace: "ns", ParentName: "p"}
	if diff := cmp.Diff(set, set.WithDefaults()); diff != "" {
		t.Errorf("Options that say everything (-want +got):\n%s", diff)
	}
}
