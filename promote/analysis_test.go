package promote

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

// mesh serves Istio-shaped metrics (istio_requests_total and
// istio_request_duration_milliseconds) for services whose traffic the test
// sets: requests per second, share of 5xx, and latency.
type mesh struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	mu       sync.Mutex
	traffic  map[string]traffic // by service
	sent     map[string]int     // requests so far, by service
}

type traffic struct {
	namespace string // "shop" when empty
	perSecond int
	errorPct  float64 // whole percent of 5xx responses
	latencyMS float64
}

var istioLabels = []string{"reporter", "destination_service_name", "destination_service_namespace", "destination_version", "response_code"}

func newMesh(t *testing.T) (*mesh, string) {
	m := &mesh{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total"}, istioLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_request_duration_milliseconds",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500},
		}, istioLabels),
		traffic: map[string]traffic{},
		sent:    map[string]int{},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.requests, m.duration)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go m.run(ctx)
	return m, strings.TrimPrefix(srv.URL, "http://")
}

func (m *mesh) set(service string, tr traffic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.traffic[service] = tr
}

// run records each service's traffic every 100 ms.
func (m *mesh) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		m.mu.Lock()
		for svc, tr := range m.traffic {
			count := tr.perSecond / 10
			if tr.perSecond < 10 && n%(10/max(tr.perSecond, 1)) == 0 && tr.perSecond > 0 {
				count = 1
			}
			for i := 0; i < count; i++ {
				code := 200
				m.sent[svc]++
				if float64(m.sent[svc]%100) < tr.errorPct {
					code = 503
				}
				ns := tr.namespace
				if ns == "" {
					ns = "shop"
				}
				labels := []string{"destination", svc, ns, "v2", strconv.Itoa(code)}
				m.requests.WithLabelValues(labels...).Inc()
				m.duration.WithLabelValues(labels...).Observe(tr.latencyMS)
			}
		}
		m.mu.Unlock()
	}
}

// TestAnalysisAgainstPrometheus scrapes controlled traffic with a real
// Prometheus and checks every verdict: healthy, too many errors, too slow,
// too little traffic, and Prometheus down.
func TestAnalysisAgainstPrometheus(t *testing.T) {
	needClusters(t)
	m, target := newMesh(t)
	m.set("healthy", traffic{perSecond: 100, errorPct: 0, latencyMS: 20})
	m.set("errors", traffic{perSecond: 100, errorPct: 5, latencyMS: 20})
	m.set("slow", traffic{perSecond: 100, errorPct: 0, latencyMS: 400})
	m.set("quiet", traffic{perSecond: 1, errorPct: 0, latencyMS: 20})
	prom := testenv.StartPrometheus(t, target)
	p, err := NewPrometheus(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	thresholds := schema.Analysis{SuccessRate: 99.9, LatencyP99: "100ms", MinRequests: 200, FailureLimit: 1}
	window := 10 * time.Second

	want := map[string]Verdict{"healthy": Pass, "errors": Fail, "slow": Fail, "quiet": Inconclusive}
	got := map[string]Analysis{}
	// Prometheus needs a few scrapes before rates exist; wait (bounded)
	// until every verdict is the one expected, then check the summaries.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for svc, v := range want {
			got[svc] = p.Analyze(t.Context(), Target{Service: svc, Namespace: "shop", Version: "v2", Window: window}, thresholds)
			if got[svc].Verdict != v {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(time.Second)
	}
	for svc, v := range want {
		if got[svc].Verdict != v {
			t.Errorf("%s: %s (%s), want %s", svc, got[svc].Verdict, got[svc].Summary, v)
		}
	}
	for svc, frag := range map[string]string{
		"healthy": "success 100.00% (min 99.90%)",
		"errors":  "success rate 9", // about 95 %, below the 99.9 % minimum
		"slow":    "p99 latency",
		"quiet":   "fewer than the 200 needed",
	} {
		if !strings.Contains(got[svc].Summary, frag) {
			t.Errorf("%s: summary %q lacks %q", svc, got[svc].Summary, frag)
		}
	}

	// A custom query with bounds.
	min := 1000.0
	custom := thresholds
	custom.Queries = map[string]schema.Query{"throughput": {Query: `sum(rate(istio_requests_total{destination_service_name="healthy"}[10s]))`, Min: &min}}
	if a := p.Analyze(t.Context(), Target{Service: "healthy", Namespace: "shop", Version: "v2", Window: window}, custom); a.Verdict != Fail || !strings.Contains(a.Summary, "throughput") {
		t.Errorf("custom query below its minimum: %s (%s), want a failure naming it", a.Verdict, a.Summary)
	}

	prom.Stop()
	if a := p.Analyze(t.Context(), Target{Service: "healthy", Namespace: "shop", Version: "v2", Window: window}, thresholds); a.Verdict != Unavailable || !strings.Contains(a.Summary, "prometheus") {
		t.Errorf("Prometheus down: %s (%s), want unavailable", a.Verdict, a.Summary)
	}
}
