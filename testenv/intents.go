package testenv

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetCUE declares the fleet: clusters by wave, such as
// FleetCUE(map[string]int{"c1": 1, "c2": 2}).
func FleetCUE(waves map[string]int) string {
	var b strings.Builder
	b.WriteString("package intents\n\nfleet: clusters: {\n")
	for _, name := range slices.Sorted(maps.Keys(waves)) {
		fmt.Fprintf(&b, "\t%s: wave: %d\n", name, waves[name])
	}
	b.WriteString("}\n")
	return b.String()
}

// ReviewsCUE declares the service reviews in ns with two versions: a
// header route to v2, and a default route split v1/v2. Its weights'
// field is on line 8 of the file.
func ReviewsCUE(ns string, v1, v2 int) string {
	return fmt.Sprintf(`package intents

services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{to: {v1: %d, v2: %d}},
	]
}
`, ns, v1, v2)
}

// CanaryCUE declares service name in ns with a canary plan moving its one
// route from v1 to v2 in steps of 10, 50 and 100 % every 10 s; extra goes
// into the plan (an approval, say).
func CanaryCUE(ns, name, extra string) string {
	return fmt.Sprintf(`package intents

services: %q: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [10, 50, 100]
		every: "10s"
		analysis: {successRate: 99, latencyP99: "100ms", minRequests: 50}
		%s
	}
}
`, name, ns, extra)
}

// Clock is a clock that a test moves.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock is a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the time on the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Tick moves the clock by d.
func (c *Clock) Tick(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Weights reads, from every cluster in order, the weight of subset in
// the first route of service's VirtualService in ns, as its apiserver
// holds it (0 when the route does not send to subset).
func (e *Env) Weights(t testing.TB, ns, service, subset string) []int32 {
	t.Helper()
	out := make([]int32, len(e.Clusters))
	for i, c := range e.Clusters {
		cs, err := istioclient.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		vs, err := cs.NetworkingV1().VirtualServices(ns).Get(t.Context(), service, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", c.Name, err)
		}
		for _, d := range vs.Spec.Http[0].Route {
			if d.Destination.Subset == subset {
				out[i] = d.Weight
			}
		}
	}
	return out
}
