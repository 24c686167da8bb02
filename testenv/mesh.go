package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Mesh serves Istio-shaped metrics (istio_requests_total and
// istio_request_duration_milliseconds, as sidecars report them) for
// workloads whose traffic a test or the demo sets, so that a real
// Prometheus can scrape them and canary analysis can judge them.
type Mesh struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	registry *prometheus.Registry

	mu      sync.Mutex
	traffic map[Workload]Traffic
	sent    map[Workload]int
}

// Workload is a version of a service, as Istio's destination labels name it.
type Workload struct {
	Service, Namespace, Version string
}

// Traffic is what a workload answers, every second.
type Traffic struct {
	PerSecond int
	// ErrorPercent is the whole percentage of 503 responses.
	ErrorPercent int
	LatencyMS    float64
}

var istioLabels = []string{"reporter", "destination_service_name", "destination_service_namespace", "destination_version", "response_code"}

// NewMesh returns a mesh with no traffic; Run makes it flow.
func NewMesh() *Mesh {
	m := &Mesh{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total", Help: "Requests, as Istio's sidecars count them."}, istioLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_request_duration_milliseconds",
			Help:    "Request durations, as Istio's sidecars measure them.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500},
		}, istioLabels),
		registry: prometheus.NewRegistry(),
		traffic:  map[Workload]Traffic{},
		sent:     map[Workload]int{},
	}
	m.registry.MustRegister(m.requests, m.duration)
	return m
}

// Set changes a workload's traffic from now on.
func (m *Mesh) Set(w Workload, t Traffic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.traffic[w] = t
}

// Handler serves the metrics.
func (m *Mesh) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Run records every workload's traffic ten times a second until ctx ends.
func (m *Mesh) Run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.mu.Lock()
		for w, t := range m.traffic {
			count := t.PerSecond / 10
			if t.PerSecond > 0 && t.PerSecond < 10 && n%(10/t.PerSecond) == 0 {
				count = 1
			}
			for i := 0; i < count; i++ {
				m.sent[w]++
				code := 200
				if m.sent[w]%100 < t.ErrorPercent {
					code = 503
				}
				labels := []string{"destination", w.Service, w.Namespace, w.Version, strconv.Itoa(code)}
				m.requests.WithLabelValues(labels...).Inc()
				m.duration.WithLabelValues(labels...).Observe(t.LatencyMS)
			}
		}
		m.mu.Unlock()
	}
}

// ServeMesh serves a new mesh's metrics on a loopback port and makes its
// traffic flow until the test ends; it returns the mesh and the address
// (host:port) for Prometheus to scrape.
func ServeMesh(t testing.TB) (*Mesh, string) {
	t.Helper()
	m := NewMesh()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go m.Run(ctx)
	return m, strings.TrimPrefix(srv.URL, "http://")
}
