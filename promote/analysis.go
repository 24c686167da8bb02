package promote

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sailplan/sailplan/schema"
)

// Target is the candidate whose traffic an analysis looks at, over the
// step's interval.
type Target struct {
	// Service and Namespace are the Kubernetes Service's, as Istio's
	// metrics label them (destination_service_name, ..._namespace).
	Service   string
	Namespace string
	// Version is the candidate's version label (destination_version).
	Version string
	// Window is how far back to look: the plan's interval.
	Window time.Duration
}

// Prometheus analyses a candidate from Istio's standard metrics.
type Prometheus struct {
	api promv1.API
}

// NewPrometheus returns an analyzer that queries the Prometheus HTTP API at url.
func NewPrometheus(url string) (*Prometheus, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	return &Prometheus{api: promv1.NewAPI(c)}, nil
}

func (t Target) selector() string {
	return fmt.Sprintf(`reporter="destination",destination_service_name=%q,destination_service_namespace=%q,destination_version=%q`,
		t.Service, t.Namespace, t.Version)
}

func promDuration(d time.Duration) string { return fmt.Sprintf("%ds", int(math.Max(1, d.Seconds()))) }

// Analyze checks the candidate against the plan's thresholds. Too few
// requests is inconclusive and an unreachable Prometheus is unavailable:
// neither is ever a pass.
func (p *Prometheus) Analyze(ctx context.Context, t Target, a schema.Analysis) Analysis {
	sel, w := t.selector(), promDuration(t.Window)
	requests, ok, err := p.scalar(ctx, fmt.Sprintf(`sum(increase(istio_requests_total{%s}[%s]))`, sel, w))
	if err != nil {
		return Analysis{Verdict: Unavailable, Summary: err.Error()}
	}
	if !ok || requests < float64(a.MinRequests) {
		return Analysis{Verdict: Inconclusive, Summary: fmt.Sprintf("%.0f requests in %s, fewer than the %d needed", requests, t.Window, a.MinRequests)}
	}
	success, ok, err := p.scalar(ctx, fmt.Sprintf(`100 * sum(rate(istio_requests_total{%s,response_code!~"5.."}[%s])) / sum(rate(istio_requests_total{%s}[%s]))`, sel, w, sel, w))
	if err != nil {
		return Analysis{Verdict: Unavailable, Summary: err.Error()}
	}
	if !ok { // requests but no rate: the series only just appeared
		return Analysis{Verdict: Inconclusive, Summary: "no success rate yet"}
	}
	p99, ok, err := p.scalar(ctx, fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[%s])))`, sel, w))
	if err != nil {
		return Analysis{Verdict: Unavailable, Summary: err.Error()}
	}
	if !ok {
		return Analysis{Verdict: Inconclusive, Summary: "no latency histogram for the candidate"}
	}
	maxMS := float64(a.LatencyP99) / float64(time.Millisecond)
	summary := []string{
		fmt.Sprintf("success %.2f%% (min %.2f%%)", success, a.SuccessRate),
		fmt.Sprintf("p99 %.0fms (max %.0fms)", p99, maxMS),
		fmt.Sprintf("%.0f requests", requests),
	}
	verdict := Pass
	var failed []string
	if success < a.SuccessRate {
		failed = append(failed, fmt.Sprintf("success rate %.2f%% < %.2f%%", success, a.SuccessRate))
	}
	if p99 > maxMS {
		failed = append(failed, fmt.Sprintf("p99 latency %.0fms > %.0fms", p99, maxMS))
	}
	for _, name := range slices.Sorted(maps.Keys(a.Queries)) {
		q := a.Queries[name]
		v, ok, err := p.scalar(ctx, q.Query)
		if err != nil {
			return Analysis{Verdict: Unavailable, Summary: fmt.Sprintf("query %s: %v", name, err)}
		}
		if !ok {
			return Analysis{Verdict: Inconclusive, Summary: fmt.Sprintf("query %s returned no value", name)}
		}
		summary = append(summary, fmt.Sprintf("%s %g", name, v))
		if q.Min != nil && v < *q.Min {
			failed = append(failed, fmt.Sprintf("%s %g < %g", name, v, *q.Min))
		}
		if q.Max != nil && v > *q.Max {
			failed = append(failed, fmt.Sprintf("%s %g > %g", name, v, *q.Max))
		}
	}
	if len(failed) > 0 {
		verdict = Fail
		return Analysis{Verdict: verdict, Summary: strings.Join(failed, "; ")}
	}
	return Analysis{Verdict: verdict, Summary: strings.Join(summary, ", ")}
}

// scalar runs an instant query that yields one number; ok is false when
// it yields none (no series, or NaN).
func (p *Prometheus) scalar(ctx context.Context, query string) (float64, bool, error) {
	v, _, _, err := p.api.Query(ctx, query, time.Time{})
	if err != nil {
		return 0, false, fmt.Errorf("prometheus: %w", err)
	}
	var f float64
	switch v := v.(type) {
	case model.Vector:
		if len(v) == 0 {
			return 0, false, nil
		}
		if len(v) > 1 {
			return 0, false, fmt.Errorf("prometheus: %q returned %d series, want one", query, len(v))
		}
		f = float64(v[0].Value)
	case *model.Scalar:
		f = float64(v.Value)
	default:
		return 0, false, fmt.Errorf("prometheus: %q returned a %s, want a number", query, v.Type())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, nil
	}
	return f, true, nil
}
