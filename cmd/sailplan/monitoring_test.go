package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/testenv"
)

// The dashboard and the alerts this test holds against a real daemon.
const (
	dashboardFile = "../../deploy/grafana/sailplan-dashboard.json"
	rulesFile     = "../../deploy/prometheus/rules.yaml"
)

// TestDashboardAndAlertsAgainstARealDaemon runs the daemon against the two
// clusters, a real Git server and a real Prometheus that scrapes it (and
// the mesh the canaries are judged by). It syncs a commit with two
// canaries, rejects a broken commit pushed through a signed webhook,
// corrects a drift, refuses a forged webhook, and walks one canary to an approval and the other to a
// rollback. Then every query of every panel of the Grafana dashboard, and
// every alert expression and each of its selectors, must run without an
// error and (but for whole alert expressions, which only return series
// while they fire) return series. The same Prometheus evaluates the
// alerts: the rejection and the rollback fire, nothing else does, and the
// rejection resolves when a good commit is applied.
func TestDashboardAndAlertsAgainstARealDaemon(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	mesh, meshAddr := testenv.ServeMesh(t)
	mesh.Set(testenv.Workload{Service: "reviews", Namespace: ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	mesh.Set(testenv.Workload{Service: "ratings", Namespace: ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, ErrorPercent: 5, LatencyMS: 20})
	listen := freeAddr(t)
	prom := testenv.StartPrometheusWithRules(t, []string{rulesFile}, meshAddr, listen)
	api := promAPI(t, prom.URL)
	secret := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	repo := testenv.NewGitServer(t).NewRepo(t, "intents")
	good := repo.Commit(t, map[string]string{
		"fleet.cue":   testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}),
		"reviews.cue": testenv.CanaryCUE(ns, "reviews", "approval: atWeights: [50]"),
		"ratings.cue": testenv.CanaryCUE(ns, "ratings", ""),
	}, "two canaries")
	// The poll is slow, so that the drift below is put back by drift
	// correction, not by the next poll: webhooks bring the new commits.
	d := startDaemon(t, "run", "--repo", repo.URL(), "--interval", "5m", "--listen", listen, "--applyset-namespace", ns,
		"--home-context", "c1", "--state-namespace", ns, "--prometheus-url", prom.URL, "--promote-interval", "1s",
		"--webhook-secret-file", secret)
	at := []string{"--applyset-namespace", ns}
	waitStatus(t, "the canaries applied", func(js statusOutput, _ string, code int) bool {
		c, ok := js.Status.Applied()
		return ok && c.Commit.Hash == good
	}, at...)

	bad := repo.Commit(t, map[string]string{"broken.cue": "package intents\n\nservices: reviews: nonsense: 1\n"}, "broken")
	if code := push(t, listen, "push-1", "s3cret"); code != http.StatusAccepted {
		t.Errorf("signed push: %d, want 202", code)
	}
	waitStatus(t, "the broken commit rejected", func(js statusOutput, _ string, _ int) bool {
		c, ok := js.Status.Commit(bad)
		return ok && c.Fate == notify.FateRejected
	}, at...)

	// Someone deletes what sailplan manages in c2; sailplan puts it back.
	dyn, err := dynamic.NewForConfig(env.Cluster("c2").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	vs := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	if err := dyn.Resource(vs).Namespace(ns).Delete(t.Context(), "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete c2's VirtualService reviews: %v", err)
	}

	// A forged webhook delivery.
	if code := push(t, listen, "forged-1", "not the secret"); code != http.StatusUnauthorized {
		t.Errorf("forged push: %d, want 401", code)
	}

	// What each of these did, as Prometheus sees it.
	for _, q := range []string{
		fmt.Sprintf(`sailplan_cluster_commit_info{cluster="c1",commit=%q}`, good),
		fmt.Sprintf(`sailplan_cluster_commit_info{cluster="c2",commit=%q}`, good),
		`sailplan_cluster_state{cluster="c2",state="synced"} == 1`,
		`sailplan_source_head_rejected == 1`,
		`sailplan_commits_rejected_total{reason="invalid"} == 1`,
		`sailplan_cluster_drift_corrections_total{cluster="c2",kind="VirtualService",drift="deleted",result="corrected"} >= 1`,
		`sailplan_webhook_deliveries_total{provider="github",result="unauthorized"} == 1`,
		`sailplan_webhook_deliveries_total{provider="github",result="accepted"} == 1`,
		`sailplan_promotion_phase{service="reviews",phase="WaitingForApproval"} == 1`,
		`sailplan_promotion_approval_waiting_since_timestamp_seconds{service="reviews"}`,
		`sailplan_promotion_phase{service="ratings",phase="RolledBack"} == 1`,
		`sailplan_analysis_checks_total{service="ratings",result="fail"} >= 1`,
		`sailplan_leader == 1`,
	} {
		waitSeries(t, api, q, d)
	}
	// A rate needs two samples of a series in its window.
	time.Sleep(3 * time.Second)

	dashboard := dashboardQueries(t)
	if len(dashboard) < 20 {
		t.Fatalf("%s: %d queries, want the dashboard's every panel's", dashboardFile, len(dashboard))
	}
	for _, q := range dashboard {
		if n, err := querySeries(t.Context(), api, grafanaVars(q.expr)); err != nil || n == 0 {
			t.Errorf("dashboard panel %q: %s: %d series, %v; want series", q.panel, q.expr, n, err)
		}
	}
	for _, a := range alerts(t) {
		if _, err := query(t.Context(), api, a.expr); err != nil {
			t.Errorf("alert %s: %s: %v", a.name, a.expr, err)
		}
		sels := selectors(a.expr)
		if len(sels) == 0 {
			t.Errorf("alert %s: no selector found in %s", a.name, a.expr)
		}
		for _, s := range sels {
			if n, err := querySeries(t.Context(), api, s); err != nil || n == 0 {
				t.Errorf("alert %s: selector %s: %d series, %v; want series", a.name, s, n, err)
			}
		}
	}

	// The same Prometheus evaluates the rules: what happened fires, and
	// nothing else does.
	want := []string{`SailplanCommitRejected{instance="` + listen + `", job="test", severity="warning"}`,
		`SailplanPromotionRolledBack{instance="` + listen + `", job="test", phase="RolledBack", service="ratings", severity="warning"}`}
	waitAlerts(t, api, "the rejected commit and the rollback alerting", want)
	// A good commit resolves the rejection.
	fixed := repo.Commit(t, map[string]string{"broken.cue": ""}, "broken.cue emptied")
	if code := push(t, listen, "push-2", "s3cret"); code != http.StatusAccepted {
		t.Errorf("signed push: %d, want 202", code)
	}
	waitStatus(t, "the fixed commit applied", func(js statusOutput, _ string, code int) bool {
		c, ok := js.Status.Applied()
		return ok && c.Commit.Hash == fixed
	}, at...)
	waitAlerts(t, api, "the rejection resolved", want[1:])
}

// waitAlerts waits until the alerts firing or pending are want, each as
// name{labels}.
func waitAlerts(t *testing.T, api promv1.API, what string, want []string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var got []string
	for time.Now().Before(deadline) {
		res, err := api.Alerts(t.Context())
		if err != nil {
			t.Fatalf("Prometheus alerts: %v", err)
		}
		got = got[:0]
		for _, a := range res.Alerts {
			labels := a.Labels.Clone()
			delete(labels, model.AlertNameLabel)
			got = append(got, string(a.Labels[model.AlertNameLabel])+labels.String())
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: alerts firing or pending within a minute (-want +got):\n%s", what, cmp.Diff(want, got))
}

// push delivers a GitHub push of main to the daemon at addr, signed
// with secret, and returns the status code of the answer.
func push(t *testing.T, addr, id, secret string) int {
	t.Helper()
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freeAddr is a loopback address free a moment ago, for a server that
// Prometheus must know of before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func promAPI(t *testing.T, url string) promv1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c)
}

// query runs q now and says how many series it returned.
func query(ctx context.Context, api promv1.API, q string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, _, err := api.Query(ctx, q, time.Now())
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case model.Vector:
		return len(v), nil
	case model.Matrix:
		return len(v), nil
	case *model.Scalar, *model.String:
		return 1, nil
	}
	return 0, fmt.Errorf("query %s: unexpected %T", q, v)
}

// querySeries is query, asked again for a few seconds while it returns
// nothing: Prometheus scrapes every second with a timeout as long, and on a
// busy machine a scrape that times out marks every series stale until the
// next one. A query that errors is not asked again.
func querySeries(ctx context.Context, api promv1.API, q string) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := query(ctx, api, q)
		if err != nil || n > 0 || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitSeries waits until q returns series.
func waitSeries(t *testing.T, api promv1.API, q string, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		var n int
		if n, err = query(t.Context(), api, q); err == nil && n > 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("Prometheus: %s returned no series within 2 minutes (%v)\ndaemon log:\n%s", q, err, d.log())
}

type panelQuery struct{ panel, expr string }

// dashboardQueries are the queries of every panel of the dashboard.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []panelQuery
	for _, p := range dash.Panels {
		if p.Type == "row" {
			if len(p.Panels) > 0 {
				t.Errorf("%s: row %q collapses panels; keep them at the top level, where this test reads them", dashboardFile, p.Title)
			}
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, panelQuery{p.Title, tg.Expr})
		}
	}
	return out
}

// grafanaVars puts in what Grafana would for the dashboard's variables:
// every job, cluster and service, and a rate interval.
func grafanaVars(expr string) string {
	return strings.NewReplacer("$__rate_interval", "30s", "$job", ".*", "$cluster", ".*", "$service", ".*").Replace(expr)
}

type alertRule struct{ name, expr string }

func alerts(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, alertRule{r.Alert, r.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no alerts", rulesFile)
	}
	return out
}

// promqlWords are PromQL's keywords and aggregations: names that are no
// metric even when no parenthesis follows them.
var promqlWords = []string{"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
	"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group", "inf", "nan"}

var (
	// token is an identifier with its label matchers, a string, a
	// duration in brackets, or a parenthesis; the rest is skipped.
	token = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\{("(\\.|[^"\\])*"|'(\\.|[^'\\])*'|[^}"'])*\})?|"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|\[[^\]]*\]|[()]|[0-9][0-9a-zA-Z.]*`)
	ident = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// selectors are the series selectors of a PromQL expression, such as
// sailplan_cluster_state{state="failed"}: each identifier that is no
// function (followed by a parenthesis), keyword, or label list of by,
// without, on, ignoring or group_left/right.
func selectors(expr string) []string {
	toks := token.FindAllString(expr, -1)
	var out []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		name := ident.FindString(tok)
		if name == "" {
			continue
		}
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		lower := strings.ToLower(name)
		switch {
		case slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, lower) && next == "(":
			// Skip the label list.
			for i++; i < len(toks) && toks[i] != ")"; i++ {
			}
		case name == tok && next == "(":
			// A function or an aggregation.
		case name == tok && slices.Contains(promqlWords, lower):
		default:
			out = append(out, tok)
		}
	}
	return out
}

// TestSelectors: the selectors the dashboard test finds in expressions
// like the alerts'.
func TestSelectors(t *testing.T) {
	for expr, want := range map[string][]string{
		`sailplan_cluster_state{state="failed"} == 1`:                                                    {`sailplan_cluster_state{state="failed"}`},
		`sailplan_source_up == 0 and on (job, instance) sailplan_leader == 1`:                            {"sailplan_source_up", "sailplan_leader"},
		`time() - sailplan_promotion_approval_waiting_since_timestamp_seconds > 2 * 3600`:                {"sailplan_promotion_approval_waiting_since_timestamp_seconds"},
		`max by (job) (sailplan_leader) == 0 or absent(sailplan_leader)`:                                 {"sailplan_leader", "sailplan_leader"},
		`sum without (le) (rate(x_bucket{a="}",b=~"c|d"}[5m] offset 1m)) / ignoring(le) group_left(b) y`: {`x_bucket{a="}",b=~"c|d"}`, "y"},
		`histogram_quantile(0.99, sum by (cluster, le) (rate(a_bucket{cluster=~".*"}[30s])))`:            {`a_bucket{cluster=~".*"}`},
	} {
		if diff := cmp.Diff(want, selectors(expr)); diff != "" {
			t.Errorf("selectors(%s) (-want +got):\n%s", expr, diff)
		}
	}
}
