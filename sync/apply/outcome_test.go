package apply

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOutcomeCounts: objects are counted by kind and action, only the
// written ones listed, and only conflicts with other field managers
// counted as conflicts, however wrapped.
func TestOutcomeCounts(t *testing.T) {
	var o Outcome
	o.done(Result{Object: "VirtualService/shop/a", Kind: "VirtualService", Action: Created})
	o.done(Result{Object: "VirtualService/shop/b", Kind: "VirtualService", Action: Unchanged})
	o.done(Result{Object: "DestinationRule/shop/a", Kind: "DestinationRule", Action: Configured})
	o.done(Result{Object: "DestinationRule/shop/old", Kind: "DestinationRule", Action: Pruned})
	o.failed("VirtualService", fmt.Errorf("cluster c1: %w", &ConflictError{Object: "VirtualService/shop/c", Err: errors.New("conflict")}))
	o.failed("VirtualService", errors.New("VirtualService/shop/d: rejected by the apiserver"))

	want := Outcome{
		Kinds: map[string]map[Action]int{
			"VirtualService":  {Created: 1, Unchanged: 1},
			"DestinationRule": {Configured: 1, Pruned: 1},
		},
		Results: []Result{
			{Object: "VirtualService/shop/a", Kind: "VirtualService", Action: Created},
			{Object: "DestinationRule/shop/a", Kind: "DestinationRule", Action: Configured},
			{Object: "DestinationRule/shop/old", Kind: "DestinationRule", Action: Pruned},
		},
		Conflicts: map[string]int{"VirtualService": 1},
	}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[Action]int{Created: 1, Unchanged: 1, Configured: 1, Pruned: 1}, o.Counts()); diff != "" {
		t.Errorf("counts over every kind (-want +got):\n%s", diff)
	}
}
