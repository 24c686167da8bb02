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

	"github.com/sailplan/sailplan/notify"
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

// DefaultQueryTimeout bounds each Prometheus query: a Prometheus that
// hangs or crawls makes the analysis unavailable, never a look that waits.
const DefaultQueryTimeout = 10 * time.Second

// Prometheus analyses a candidate from Istio's standard metrics.
type Prometheus struct {
	// Timeout bounds each query; DefaultQueryTimeout when 0. The caller's
	// context may end it sooner (the controller gives an analysis half its
	// interval).
	Timeout time.Duration

	url string
	api promv1.API
}

// NewPrometheus returns an analyzer that queries the Prometheus HTTP API at url.
func NewPrometheus(url string) (*Prometheus, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	return &Prometheus{url: url, api: promv1.NewAPI(c)}, nil
}

func (p *Prometheus) timeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultQueryTimeout
	}
	return p.Timeout
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
	var checks []notify.Check
	check := func(name string, v float64, measured bool, min, max *float64, unit string) {
		passed := measured && (min == nil || v >= *min) && (max == nil || v <= *max)
		checks = append(checks, notify.Check{Name: name, Value: v, Measured: measured, Min: min, Max: max, Unit: unit, Passed: passed})
	}
	out := func(v Verdict, summary string) Analysis {
		return Analysis{Verdict: v, Summary: summary, Checks: checks}
	}
	minRequests := float64(a.MinRequests)
	requests, ok, err := p.scalar(ctx, fmt.Sprintf(`sum(increase(istio_requests_total{%s}[%s]))`, sel, w))
	if err != nil {
		return out(Unavailable, err.Error())
	}
	check("requests", requests, ok, &minRequests, nil, "")
	if !ok || requests < minRequests {
		return out(Inconclusive, fmt.Sprintf("%.0f requests in %s, fewer than the %d needed", requests, t.Window, a.MinRequests))
	}
	success, ok, err := p.scalar(ctx, fmt.Sprintf(`100 * sum(rate(istio_requests_total{%s,response_code!~"5.."}[%s])) / sum(rate(istio_requests_total{%s}[%s]))`, sel, w, sel, w))
	if err != nil {
		return out(Unavailable, err.Error())
	}
	check("success rate", success, ok, &a.SuccessRate, nil, "%")
	if !ok { // requests but no rate: the series only just appeared
		return out(Inconclusive, "no success rate yet")
	}
	p99, ok, err := p.scalar(ctx, fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[%s])))`, sel, w))
	if err != nil {
		return out(Unavailable, err.Error())
	}
	maxMS := float64(a.LatencyP99) / float64(time.Millisecond)
	check("p99 latency", p99, ok, nil, &maxMS, "ms")
	if !ok {
		return out(Inconclusive, "no latency histogram for the candidate")
	}
	summary := []string{
		fmt.Sprintf("success %.2f%% (min %.2f%%)", success, a.SuccessRate),
		fmt.Sprintf("p99 %.0fms (max %.0fms)", p99, maxMS),
		fmt.Sprintf("%.0f requests", requests),
	}
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
			return out(Unavailable, fmt.Sprintf("query %s: %v", name, err))
		}
		check(name, v, ok, q.Min, q.Max, "")
		if !ok {
			return out(Inconclusive, fmt.Sprintf("query %s returned no value", name))
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
		return out(Fail, strings.Join(failed, "; "))
	}
	return out(Pass, strings.Join(summary, ", "))
}

// scalar runs an instant query that yields one number; ok is false when
// it yields none (no series, or NaN). The query has a deadline, which
// Prometheus is told too, so that it stops evaluating what nobody awaits.
func (p *Prometheus) scalar(ctx context.Context, query string) (float64, bool, error) {
	qctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	v, _, _, err := p.api.Query(qctx, query, time.Time{}, promv1.WithTimeout(p.timeout()))
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, false, fmt.Errorf("prometheus %s: no answer before the analysis's deadline: %w", p.url, ctx.Err())
	case err != nil && qctx.Err() != nil:
		return 0, false, fmt.Errorf("prometheus %s: no answer within %s: %w", p.url, p.timeout(), qctx.Err())
	case err != nil:
		return 0, false, fmt.Errorf("prometheus %s: %w", p.url, err)
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
