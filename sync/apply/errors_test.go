package apply

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/sync/kube"
)

// TestOneCauseSaidOnce: 1,000 objects in a namespace that does not exist
// are one error, with the count and the first names, from a real apiserver.
func TestOneCauseSaidOnce(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	missing := ns + "-missing"
	c := clusterFor(t, "c1", ns)
	var objs []*unstructured.Unstructured
	for i := range 1000 {
		objs = append(objs, fixture.VirtualService(missing, fmt.Sprintf("svc-%04d", i), 10))
	}
	_, err := c.Sync(t.Context(), objs, Options{ParentNamespace: ns})
	want := fmt.Sprintf(`1000 objects (VirtualService/%[1]s/svc-0000, VirtualService/%[1]s/svc-0001, VirtualService/%[1]s/svc-0002 and 997 more): namespace %[1]q does not exist in the cluster (create it there, or correct the intents' namespace): namespaces %[1]q not found`, missing)
	if err == nil {
		t.Fatal("sync into a missing namespace succeeded")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestJoinLimited: errors of one cause fold into one, others stay as
// they are, and the unreachable mark survives the folding.
func TestJoinLimited(t *testing.T) {
	key := func(name string) objKey { return objKey{Kind: "VirtualService", Namespace: "ns", Name: name} }
	err := joinLimited([]error{
		objErr(key("b"), "forbidden"),
		errors.New("context canceled"),
		kube.Unreachable(objErr(key("c"), "dial tcp: refused")),
		objErr(key("a"), "forbidden"),
	})
	if diff := cmp.Diff("2 objects (VirtualService/ns/a, VirtualService/ns/b): forbidden\nVirtualService/ns/c: dial tcp: refused\ncontext canceled", err.Error()); diff != "" {
		t.Errorf("joined (-want +got):\n%s", diff)
	}
	if !kube.IsUnreachable(err) {
		t.Error("the unreachable mark was lost")
	}
}
