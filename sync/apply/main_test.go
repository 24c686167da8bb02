package apply

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// env is one real cluster (c1) shared by this package's tests: each test
// works in a namespace of its own, and what spans clusters is the
// reconciler's to test.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }

// clusterFor is a sailplan cluster for env's cluster name with its
// ApplySet parent in ns.
func clusterFor(t *testing.T, name, ns string) *Cluster {
	t.Helper()
	c, err := NewCluster(name, env.Cluster(name).RESTConfig(), Options{ParentNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// liveWeights is each VirtualService's v2 weight in namespace ns of c1.
func liveWeights(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	list, err := dyn.Resource(fixture.VirtualServices).Namespace(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for i := range list.Items {
		out["VirtualService/"+list.Items[i].GetName()] = fixture.WeightOf(&list.Items[i], "v2")
	}
	return out
}
