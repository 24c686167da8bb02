package promote

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

// v2 is the candidate workload of service in the "shop" namespace.
func v2(service string) testenv.Workload {
	return testenv.Workload{Service: service, Namespace: "shop", Version: "v2"}
}

// TestAnalysisAgainstPrometheus scrapes controlled traffic with a real
// Prometheus and checks every verdict: healthy, too many errors, too slow,
// too little traffic, and Prometheus down.
func TestAnalysisAgainstPrometheus(t *testing.T) {
	env.Need(t)
	m, target := testenv.ServeMesh(t)
	m.Set(v2("healthy"), testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	m.Set(v2("errors"), testenv.Traffic{PerSecond: 100, ErrorPercent: 5, LatencyMS: 20})
	m.Set(v2("slow"), testenv.Traffic{PerSecond: 100, LatencyMS: 400})
	m.Set(v2("quiet"), testenv.Traffic{PerSecond: 1, LatencyMS: 20})
	prom := testenv.StartPrometheus(t, target)
	p, err := NewPrometheus(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	thresholds := schema.Analysis{SuccessRate: 99.9, LatencyP99: 100 * time.Millisecond, MinRequests: 200, FailureLimit: 1}
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

// TestQueryDeadline: a Prometheus that accepts connections and never
// answers makes the analysis unavailable, saying why, within the query's
// deadline, and within the caller's when that comes first.
func TestQueryDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // accepted, never answered
		}
	}()
	url := "http://" + ln.Addr().String()
	p, err := NewPrometheus(url)
	if err != nil {
		t.Fatal(err)
	}
	p.Timeout = 300 * time.Millisecond
	target := Target{Service: "reviews", Namespace: "shop", Version: "v2", Window: 10 * time.Second}
	start := time.Now()
	a := p.Analyze(t.Context(), target, schema.Analysis{MinRequests: 1})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the analysis took %s, want about the 300ms deadline", took)
	}
	if want := "prometheus " + url + ": no answer within 300ms: context deadline exceeded"; a.Verdict != Unavailable || a.Summary != want {
		t.Errorf("hung Prometheus: %s (%s), want unavailable: %s", a.Verdict, a.Summary, want)
	}

	p.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if a := p.Analyze(ctx, target, schema.Analysis{MinRequests: 1}); a.Verdict != Unavailable || !strings.Contains(a.Summary, "no answer before the analysis's deadline") {
		t.Errorf("the caller's deadline: %s (%s), want unavailable", a.Verdict, a.Summary)
	}
}
