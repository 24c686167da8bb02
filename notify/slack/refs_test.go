package slack

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"
)

// TestConfigMapRefsKeepEveryService: replicas storing the root messages
// of different services at the same moment all keep theirs, in the one
// ConfigMap, created on first use in a namespace that did not exist; a
// service with none has none.
func TestConfigMapRefsKeepEveryService(t *testing.T) {
	env.Need(t)
	home, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t) + "-refs"
	want := map[string]Ref{}
	for i := range 3 {
		want[fmt.Sprintf("svc%d", i)] = Ref{Candidate: "v2", Started: t0, Channel: "CDEPLOYS", TS: fmt.Sprintf("1700000000.%06d", i)}
	}
	var wg sync.WaitGroup
	for service, r := range want {
		wg.Go(func() {
			if err := NewConfigMapRefs(home.CoreV1(), ns).Put(t.Context(), service, r); err != nil {
				t.Errorf("%s: %v", service, err)
			}
		})
	}
	wg.Wait()
	refs := NewConfigMapRefs(home.CoreV1(), ns)
	got := map[string]Ref{}
	for service := range want {
		r, ok, err := refs.Get(t.Context(), service)
		if err != nil || !ok {
			t.Fatalf("%s: %v, %v", service, ok, err)
		}
		got[service] = r
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored refs (-want +got):\n%s", diff)
	}
	if r, ok, err := refs.Get(t.Context(), "other"); err != nil || ok {
		t.Errorf("a service with no root message: %+v, %v, %v", r, ok, err)
	}
}
