package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/testenv"
)

// lastLines is the last n lines of out.
func lastLines(out string, n int) []string {
	ls := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return ls[max(0, len(ls)-n):]
}

// TestExplainExpectations checks the exit codes a CI check relies on: 0
// when the expectations hold, 1 when one fails, with the line that says
// why last on stdout.
func TestExplainExpectations(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		tail []string
	}{
		{"the header route takes testers to v2",
			[]string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--header", "x-canary=true", "--expect", "allow", "--expect-destination", "recommendation-service:v2"},
			0, []string{
				"expect allow: holds in every cluster: allowed: routed to recommendation-service.default.svc.cluster.local subset v2",
				"expect destination recommendation-service:v2: holds in every cluster: it gets 100% of the request (destinations: recommendation-service.default.svc.cluster.local:v2 100%)",
			}},
		{"a curl-style header and the canary's step from a flag",
			[]string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--header", "X-User-Type: basic", "--canary", "recommendation-service=25", "--expect-destination", "recommendation-service:v2=25"},
			0, []string{
				"expect destination recommendation-service:v2=25: holds in every cluster: it gets 25% of the request (destinations: recommendation-service.default.svc.cluster.local:v1 75%, recommendation-service.default.svc.cluster.local:v2 25%)",
			}},
		{"a pod may not call the frontend's API: the expectation of the trap fails",
			[]string{"explain", "../../examples/zero-trust", "--host", "frontend", "--path", "/api/orders", "--method", "POST", "--workload-label", "app=frontend", "--expect", "allow"},
			1, []string{
				"expect allow: FAILS in every cluster: denied (403) at frontend.default.svc.cluster.local: ALLOW policies apply (default/frontend-ingress) and none of their rules matches",
			}},
		{"us-1 keeps checkout on v1; eu-1 does not",
			[]string{"explain", "../../examples/fleet", "--host", "checkout.shop", "--expect-destination", "checkout:v1"},
			1, []string{
				"expect destination checkout:v1: FAILS in cluster eu-1: it gets 80% of the request (destinations: checkout.shop.svc.cluster.local:v1 80%, checkout.shop.svc.cluster.local:v2 20%)",
				"expect destination checkout:v1: FAILS in cluster eu-2: it gets 80% of the request (destinations: checkout.shop.svc.cluster.local:v1 80%, checkout.shop.svc.cluster.local:v2 20%)",
				"expect destination checkout:v1: holds in cluster us-1: it gets 100% of the request (destinations: checkout.shop.svc.cluster.local:v1 100%)",
			}},
		{"the gateway by its intent's name; the request is redirected to HTTPS",
			[]string{"explain", "../../examples/api-routing", "--host", "api.example.com", "--port", "80", "--gateway", "main-gateway", "--expect", "allow"},
			0, []string{"expect allow: holds in every cluster: the server http-80 redirects plain HTTP to https://api.example.com/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := sailplan(t, tc.args...)
			if code != tc.code || stderr != "" {
				t.Errorf("exit %d, stderr %q; want exit %d and nothing on stderr\n%s", code, stderr, tc.code, out)
			}
			if diff := cmp.Diff(tc.tail, lastLines(out, len(tc.tail))); diff != "" {
				t.Errorf("last lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExplainBadInput checks that bad input is exit 2 with one message on
// stderr that says what to do, and nothing on stdout.
func TestExplainBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no host", []string{"explain", "../../examples/header-canary"},
			"--host is required: the host the client sends, e.g. --host reviews or --host api.example.com"},
		{"unknown gateway", []string{"explain", "../../examples/api-routing", "--host", "api.example.com", "--gateway", "public"},
			"--gateway public: no gateway of that name: give one of istio-system/main-gateway, or leave --gateway out for a request from inside the mesh"},
		{"unknown gateway by namespace and name", []string{"explain", "../../examples/api-routing", "--host", "api.example.com", "--gateway", "istio-system/public"},
			"gateway istio-system/public: the intents declare no Gateway of that name (they declare istio-system/main-gateway): give --gateway one of them, or leave it out for a request from inside the mesh"},
		{"malformed header", []string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--header", "x-canary"},
			`--header "x-canary": want NAME=VALUE, e.g. --header x-canary=true`},
		{"malformed query", []string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--query", "=1"},
			`--query "=1": want NAME=VALUE, e.g. --query page=2`},
		{"bad expectation", []string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--expect", "maybe"},
			`--expect: expectation "maybe": want allow or deny`},
		{"bad expected destination", []string{"explain", "../../examples/header-canary", "--host", "recommendation-service", "--expect-destination", "recommendation-service:v2=half"},
			`--expect-destination: expected destination "recommendation-service:v2=half": the share after = must be a percentage, 0-100`},
		{"unknown cluster", []string{"explain", "../../examples/fleet", "--host", "checkout.shop", "--cluster", "ap-1"},
			"--cluster ap-1: not in the fleet: give one of eu-1, eu-2, us-1"},
		{"canary of a service without a plan", []string{"explain", "../../examples/fleet", "--host", "checkout.shop", "--canary", "checkout=10"},
			"--canary checkout: no service of that name has a canary plan (none has one)"},
		{"a client inside the mesh and a gateway at once", []string{"explain", "../../examples/api-routing", "--host", "api.example.com", "--gateway", "main-gateway", "--from-namespace", "shop"},
			"request: a client's namespace, principal or labels describe a client inside the mesh, not one that comes through gateway istio-system/main-gateway"},
		{"token payload not JSON", []string{"explain", "../../examples/jwt-edge", "--host", "api.example.com", "--jwt", "eyJhbGciOi"},
			`--jwt "eyJhbGciOi": want the token's payload as a JSON object, e.g. {"iss":"https://auth.example.com","sub":"alice"}, or "invalid": invalid character 'e' looking for beginning of value`},
		{"bad output", []string{"explain", "../../examples/header-canary", "--host", "x", "-o", "yaml"},
			`--output "yaml": want text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := sailplan(t, tc.args...)
			want := "sailplan: " + tc.want + "\n"
			if code != 2 || out != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr\n%s\nwant exit 2, nothing on stdout and stderr\n%s", code, out, stderr, want)
			}
		})
	}
}

// TestExplainJSON checks the JSON that scripts read: one explanation per
// cluster, in wave order, and the verdict of the expectations.
func TestExplainJSON(t *testing.T) {
	out, stderr, code := sailplan(t, "explain", "../../examples/fleet", "--host", "checkout.shop", "--header", "x-canary=true", "--from-namespace", "web", "-o", "json", "--expect-destination", "checkout:v2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got explainOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	type row struct {
		Cluster, Outcome, Route, Authorization string
		Wave                                   int
	}
	var rows []row
	for _, ex := range got.Clusters {
		rows = append(rows, row{ex.Cluster, ex.Outcome, ex.Route.VirtualService.String(), string(ex.Verdict.Authorization), ex.Wave})
	}
	want := []row{
		{"eu-1", "routed", "shop/checkout", "allow", 1},
		{"eu-2", "routed", "shop/checkout", "allow", 2},
		{"us-1", "routed", "shop/checkout", "allow", 2},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
	if !got.OK || len(got.Expectations) != 3 {
		t.Errorf("ok %v, %d expectations; want ok and 3", got.OK, len(got.Expectations))
	}
}

// canaryFleetCUE is a fleet of two waves and a service with a canary plan.
func canaryFleetCUE(ns string) string {
	return `package intents

fleet: clusters: {
	c1: {labels: region: "eu", wave: 1}
	c2: {labels: region: "us", wave: 2}
}

services: reviews: {
	namespace: "` + ns + `"
	versions: {
		v1: labels: version: "v1"
		v2: labels: version: "v2"
	}
	routes: [{}]
	canary: {
		stable:    "v1"
		candidate: "v2"
		steps: [10, 50, 100]
		every: "1m"
	}
}
`
}

// TestExplainPromotionState reads the canary's weights from a promotion
// state in a real home cluster: each cluster gets its wave's step.
func TestExplainPromotionState(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reviews.cue"), []byte(canaryFleetCUE(ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := schema.ReadDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	st := promote.NewState("reviews", in.Services["reviews"], []int{1, 2}, time.Now())
	st.Waves[0].Step, st.Waves[0].Weight = 1, 50
	st.Waves[1].Step, st.Waves[1].Weight = 0, 10
	if _, err := promote.NewStore(client, ns).Save(t.Context(), st, ""); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := sailplan(t, "explain", dir, "--host", "reviews."+ns, "--promotions-context", "c1", "--promotions-namespace", ns,
		"--expect-destination", "reviews:v2=50", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (c2 is at 10%%): %s", code, stderr)
	}
	var got explainOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var canaries []string
	for _, ex := range got.Clusters {
		c := ex.Route.Canary
		canaries = append(canaries, ex.Cluster+": "+c.Candidate+" at "+itoa(c.Weight)+"%: "+c.Source)
	}
	want := []string{
		"c1: v2 at 50%: promotion state in " + ns + "/promotion-reviews of context c1: Progressing, wave 1 at 50%",
		"c2: v2 at 10%: promotion state in " + ns + "/promotion-reviews of context c1: Progressing, wave 2 at 10%",
	}
	if diff := cmp.Diff(want, canaries); diff != "" {
		t.Errorf("canaries (-want +got):\n%s", diff)
	}
	if got.OK || !got.Expectations[0].Held || got.Expectations[1].Held {
		t.Errorf("expectations: %+v; want c1 to hold and c2 to fail", got.Expectations)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestExplainLive explains what each cluster holds now: the commit from
// the status sailplan keeps in each real cluster, its intents from a real
// Git server. c1 holds the newer commit (50/50), c2 still the older
// (90/10).
func TestExplainLive(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	older := repo.Commit(t, map[string]string{"fleet.cue": testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}), "reviews.cue": testenv.ReviewsCUE(ns, 90, 10)}, "reviews 90/10")
	newer := repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 50, 50)}, "reviews 50/50")
	rec := status.Record{Status: notify.Status{Updated: time.Now(), Clusters: map[string]notify.ClusterStatus{
		"c1": {Wave: 1, State: "synced", Commit: newer},
		"c2": {Wave: 2, State: "failing", Commit: older, Target: newer},
	}}, WrittenBy: "explain test"}
	for _, c := range env.Clusters {
		client, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		docs := kube.Documents{Client: client.CoreV1(), Namespace: ns, Key: status.Key}
		if _, err := docs.Put(t.Context(), status.NamePlace(apply.DefaultParentName), rec, ""); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := sailplan(t, "explain", "--live", "--repo", repo.URL(), "--applyset-namespace", ns,
		"--host", "reviews."+ns, "--expect-destination", "reviews:v1=50")
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 1 (c2 still sends 90%% to v1)\n%s", code, stderr, out)
	}
	want := []string{
		"cluster c1 (wave 1) at commit " + newer[:7],
		"cluster c2 (wave 2) at commit " + older[:7],
		"expect destination reviews:v1=50: holds in cluster c1: it gets 50% of the request (destinations: reviews." + ns + ".svc.cluster.local:v1 50%, reviews." + ns + ".svc.cluster.local:v2 50%)",
		"expect destination reviews:v1=50: FAILS in cluster c2: it gets 90% of the request (destinations: reviews." + ns + ".svc.cluster.local:v1 90%, reviews." + ns + ".svc.cluster.local:v2 10%)",
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cluster ") || strings.HasPrefix(l, "expect ") {
			got = append(got, l)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	_, stderr, code = sailplan(t, "explain", "--live", "--host", "reviews")
	if want := "sailplan: --live: --repo is required: the repository the daemon follows\n"; code != 2 || stderr != want {
		t.Errorf("--live without --repo: exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
}
