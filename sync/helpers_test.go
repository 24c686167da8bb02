package sync

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/sync/source"

	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/testenv"
)

// servicesCUE declares n services svc-000.. in namespace ns, each routing
// v2Weight percent to v2.
func servicesCUE(ns string, n, v2Weight int) string {
	var b strings.Builder
	b.WriteString("package intents\n\n")
	for i := range n {
		fmt.Fprintf(&b, `services: "svc-%03d": {
	namespace: %q
	versions: {
		v1: labels: version: "v1"
		v2: labels: version: "v2"
	}
	routes: [{to: {v1: %d, v2: %d}}]
}
`, i, ns, 100-v2Weight, v2Weight)
	}
	return b.String()
}

// fleetOf declares clusters by wave, e.g. fleetOf(map[string]int{"c1": 1}).
func fleetOf(waves map[string]int) string { return testenv.FleetCUE(waves) }

// requestCounter counts the requests a reconciler sends, by cluster and
// method, and can run a hook on each.
type requestCounter struct {
	mu     gosync.Mutex
	counts map[string]map[string]int
	// hook, when set, runs before each request is sent.
	hook func(cluster string, req *http.Request)
}

func (c *requestCounter) wrap(cluster string, rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]map[string]int{}
		}
		if c.counts[cluster] == nil {
			c.counts[cluster] = map[string]int{}
		}
		c.counts[cluster][req.Method]++
		hook := c.hook
		c.mu.Unlock()
		if hook != nil {
			hook(cluster, req)
		}
		return rt.RoundTrip(req)
	})
}

// writes returns the requests per cluster whose method writes.
func (c *requestCounter) writes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for cluster, m := range c.counts {
		for method, n := range m {
			if method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions {
				out[cluster] += n
			}
		}
	}
	return out
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var metricLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\S+)$`)
var metricLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// sailplanResources are the resources sailplan writes: members and the
// ApplySet parent with its namespace.
var sailplanResources = map[string]bool{"virtualservices": true, "destinationrules": true, "configmaps": true, "namespaces": true}

// apiserverWrites is the number of write requests (every verb but GET,
// LIST and WATCH) that the cluster's apiserver has served for the
// resources sailplan writes, from its own apiserver_request_total metric:
// the server's account, not the client's.
func apiserverWrites(t testing.TB, c *testenv.Cluster) int {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("cluster %s: /metrics: %v", c.Name, err)
	}
	total := 0
	for _, line := range strings.Split(string(raw), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range metricLabel.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		switch labels["verb"] {
		case "GET", "LIST", "WATCH", "WATCHLIST":
			continue
		}
		if !sailplanResources[labels["resource"]] {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("cluster %s: metric line %q: %v", c.Name, line, err)
		}
		total += int(v)
	}
	return total
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

// counter is a concurrency-safe count for hooks.
type counter struct{ n atomic.Int64 }

func (c *counter) inc() int64 { return c.n.Add(1) }

// runReconciler runs r's daemon loop until the test ends, and reports an
// error it returns.
func runReconciler(t testing.TB, r *testReconciler, interval time.Duration) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, interval) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// applySetID is the id of the ApplySet whose parent is in ns.
func applySetID(ns string) string {
	return (&apply.Inventory{Namespace: ns, Name: apply.DefaultParentName}).ID()
}

// testReconciler is a reconciler wired as the daemon wires it: its events
// go through a bus to the fleet model and to the log consumer.
type testReconciler struct {
	*Reconciler
	bus   *notify.Bus
	model *notify.Model
}

// newReconciler returns a reconciler whose ApplySet parent lives in the
// test's namespace ns, so that tests sharing the clusters never see each
// other's inventory; its log goes to log, and its watches stop when the
// test ends.
func newReconciler(t testing.TB, url, ns string, log *testenv.LogBuffer) *testReconciler {
	return newReconcilerLog(t, url, ns, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// newReconcilerLog is newReconciler with any logger.
func newReconcilerLog(t testing.TB, url, ns string, log *slog.Logger) *testReconciler {
	bus, model := notify.NewBus(), notify.NewModel()
	bus.Subscribe(model)
	bus.Subscribe(logs.New(log))
	r := &testReconciler{
		Reconciler: &Reconciler{
			Source:     &source.GitSource{URL: url, Branch: "main"},
			Kubeconfig: env.Kubeconfig,
			Options:    apply.Options{ParentNamespace: ns},
			Events:     bus,
		},
		bus:   bus,
		model: model,
	}
	t.Cleanup(r.Close)
	return r
}

// Status is the fleet model's status once every event so far is folded in.
func (r *testReconciler) Status() notify.Status {
	r.bus.Flush()
	st, _ := r.model.Status()
	return st
}

// applied is the commit the model says is applied everywhere, if any.
func applied(st notify.Status) string {
	c, _ := st.Applied()
	return c.Commit.Hash
}
