package sync

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

// TestShareKeepsOneCopy: an object two clusters render the same is one
// object; one they render differently stays each cluster's own.
func TestShareKeepsOneCopy(t *testing.T) {
	var s sharer
	c1 := []*unstructured.Unstructured{fixture.VirtualService("ns", "a", 90), fixture.VirtualService("ns", "b", 90)}
	c2 := []*unstructured.Unstructured{fixture.VirtualService("ns", "a", 90), fixture.VirtualService("ns", "b", 50)}
	s.share(c1)
	s.share(c2)
	if c2[0] != c1[0] {
		t.Error("the same VirtualService a in both clusters is two copies, want one")
	}
	if c2[1] == c1[1] {
		t.Error("VirtualService b, 90 in c1 and 50 in c2, is shared, want each its own")
	}
	if got := fixture.WeightOf(c2[1], "v1"); got != 50 {
		t.Errorf("c2's b sends %d %% to v1, want 50", got)
	}
}
