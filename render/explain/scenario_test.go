package explain

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv/golden"
)

// scenario is a request explained over an example (or a testdata input),
// with the verdict it must get; its full text and JSON are golden files.
type scenario struct {
	name     string
	dir      string
	cluster  string
	canaries map[string]Canary
	req      Request
	// want is the verdict's authorization, the outcome and the
	// destinations as "FQDN[:subset] weight%", the parts a reader checks
	// first; the golden files hold the rest.
	want    Decision
	outcome string
	dests   []string
	status  int
}

var scenarios = []scenario{
	// Seed scenario 4: the header route comes before the weighted default,
	// so testers reach v2 whatever the canary's step.
	{name: "canary-header", dir: "../../examples/header-canary",
		req:  Request{Host: "recommendation-service", Path: "/recommendations", Headers: map[string][]string{"x-canary": {"true"}}},
		want: Allow, outcome: "routed", dests: []string{"recommendation-service.default.svc.cluster.local:v2 100%"}},
	// Header values are compared exactly: "True" is not "true", and the
	// request falls through to the premium route's and then the default's
	// conditions.
	{name: "canary-header-case", dir: "../../examples/header-canary",
		req:  Request{Host: "recommendation-service", Path: "/", Headers: map[string][]string{"x-canary": {"True"}}},
		want: Allow, outcome: "routed", dests: []string{"recommendation-service.default.svc.cluster.local:v1 100%"}},
	{name: "canary-premium", dir: "../../examples/header-canary",
		req:  Request{Host: "recommendation-service.default", Path: "/", Headers: map[string][]string{"x-user-type": {"premium"}}, FromNamespace: "shop"},
		want: Allow, outcome: "routed", dests: []string{"recommendation-service.default.svc.cluster.local:v1 70%", "recommendation-service.default.svc.cluster.local:v2 30%"}},
	// The default route takes the canary's current step.
	{name: "canary-step", dir: "../../examples/header-canary",
		canaries: map[string]Canary{"recommendation-service": {Candidate: "v2", Weight: 25, Source: "promotion at step 3"}},
		req:      Request{Host: "recommendation-service", Path: "/"},
		want:     Allow, outcome: "routed", dests: []string{"recommendation-service.default.svc.cluster.local:v1 75%", "recommendation-service.default.svc.cluster.local:v2 25%"}},

	// Seed scenario 2 through the gateway: the users route with its
	// timeout, retries and fault injection; its second alternative (the
	// header) takes a path the first does not.
	{name: "gateway-users", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Path: "/api/v1/users/7", Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "routed", dests: []string{"user-service.default.svc.cluster.local 90%", "user-service-v2.default.svc.cluster.local 10%"}},
	{name: "gateway-users-by-header", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Path: "/orders", Headers: map[string][]string{"x-api-version": {"v1"}}, Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "routed", dests: []string{"user-service.default.svc.cluster.local 90%", "user-service-v2.default.svc.cluster.local 10%"}},
	{name: "gateway-cors", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Path: "/api/v2/items", Method: "OPTIONS", Headers: map[string][]string{"origin": {"https://evil.example.com"}}, Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "routed", dests: []string{"api-gateway.default.svc.cluster.local 100%"}},
	{name: "gateway-no-route", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Path: "/healthz", Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "no-route", status: 404},
	{name: "gateway-http-redirect", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Port: 80, Path: "/api/v1/users", Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "redirected", status: 301},
	{name: "gateway-unknown-host", dir: "../../examples/api-routing",
		req:  Request{Host: "www.example.com", Path: "/", Gateway: "istio-system/main-gateway"},
		want: Allow, outcome: "not-accepted"},
	// Gateway versus mesh: the same request from a pod is not routed by
	// the gateway's VirtualService, which is not bound to "mesh".
	{name: "mesh-not-bound", dir: "../../examples/api-routing",
		req:  Request{Host: "api.example.com", Path: "/api/v1/users/7"},
		want: Allow, outcome: "no-virtual-service", dests: []string{"api.example.com 100%"}},

	// Seed scenario 5, the authorization from/to trap. As meant (one rule
	// with from and to), only the gateway may call /api/*.
	{name: "authz-meant-from-pod", dir: "../../examples/zero-trust",
		req:  Request{Host: "frontend", Path: "/api/orders", Method: "POST", WorkloadLabels: map[string]string{"app": "frontend"}},
		want: Deny, outcome: "no-virtual-service", status: 403, dests: []string{"frontend.default.svc.cluster.local 100%"}},
	{name: "authz-meant-from-gateway", dir: "../../examples/zero-trust",
		req:  Request{Host: "frontend.default", Path: "/api/orders", Method: "POST", Principal: "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account", WorkloadLabels: map[string]string{"app": "frontend"}},
		want: Allow, outcome: "no-virtual-service", dests: []string{"frontend.default.svc.cluster.local 100%"}},
	{name: "authz-meant-gateway-other-path", dir: "../../examples/zero-trust",
		req:  Request{Host: "frontend.default", Path: "/healthz", Principal: "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account", WorkloadLabels: map[string]string{"app": "frontend"}},
		want: Deny, outcome: "no-virtual-service", status: 403, dests: []string{"frontend.default.svc.cluster.local 100%"}},
	// Without the pods' labels, whether the policy selects them is unknown.
	{name: "authz-labels-unknown", dir: "../../examples/zero-trust",
		req:  Request{Host: "frontend", Path: "/api/orders"},
		want: UnknownResult, outcome: "no-virtual-service", dests: []string{"frontend.default.svc.cluster.local 100%"}},
	{name: "authz-deny-admin", dir: "../../examples/zero-trust",
		req:  Request{Host: "billing.billing", Path: "/admin/users", FromNamespace: "shop", WorkloadLabels: map[string]string{"app": "billing"}},
		want: Deny, outcome: "no-virtual-service", status: 403, dests: []string{"billing.billing.svc.cluster.local 100%"}},
	// As the source wrote it (two rules, ORed), anyone may call /api/*.
	{name: "authz-as-written", dir: "testdata/trap",
		req:  Request{Host: "frontend.legacy", Path: "/api/orders", Method: "DELETE", FromNamespace: "shop", WorkloadLabels: map[string]string{"app": "frontend"}},
		want: Allow, outcome: "no-virtual-service", dests: []string{"frontend.legacy.svc.cluster.local 100%"}},

	// Seed scenario 6: a JWT is required at the gateway for /api/*.
	{name: "jwt-missing", dir: "../../examples/jwt-edge",
		req:  Request{Host: "api.example.com", Path: "/api/orders", Gateway: "istio-system/api-gateway"},
		want: Deny, outcome: "no-route", status: 403},
	{name: "jwt-valid", dir: "../../examples/jwt-edge",
		req: Request{Host: "api.example.com", Path: "/api/orders", Gateway: "istio-system/api-gateway",
			JWT: map[string]any{"iss": "https://auth.example.com", "sub": "alice", "aud": "api.example.com", "scope": "api"}},
		want: Allow, outcome: "no-route", status: 404},
	{name: "jwt-invalid", dir: "../../examples/jwt-edge",
		req:  Request{Host: "api.example.com", Path: "/healthz", Gateway: "istio-system/api-gateway", InvalidJWT: true},
		want: Deny, outcome: "no-route", status: 401},

	// Seed scenario 3: the port's settings replace the host's policy.
	{name: "policy-port-level", dir: "../../examples/resilience",
		req:  Request{Host: "user-service", Port: 8080, Path: "/"},
		want: Allow, outcome: "no-virtual-service", dests: []string{"user-service.default.svc.cluster.local 100%"}},
	{name: "policy-host-level", dir: "../../examples/resilience",
		req:  Request{Host: "user-service", Port: 9090, Path: "/"},
		want: Allow, outcome: "no-virtual-service", dests: []string{"user-service.default.svc.cluster.local 100%"}},

	// Route features: a mirror, a rewrite and header changes on a
	// method and query match; a redirect; retries turned off.
	{name: "features-search", dir: "testdata/features",
		req:  Request{Host: "shop.shop", Path: "/search/shoes?q=red", FromNamespace: "web"},
		want: Allow, outcome: "routed", dests: []string{"shop.shop.svc.cluster.local:v2 100%"}},
	{name: "features-query-fails", dir: "testdata/features",
		req:  Request{Host: "shop.shop", Path: "/search", Query: map[string][]string{"q": {"Red"}}, FromNamespace: "web"},
		want: Allow, outcome: "routed", dests: []string{"shop.shop.svc.cluster.local:v1 100%"}},
	{name: "features-redirect", dir: "testdata/features",
		req:  Request{Host: "shop.shop", Path: "/basket", FromNamespace: "web"},
		want: Allow, outcome: "redirected", status: 308},

	// A fleet: us-1 overrides the split and the timeout.
	{name: "fleet-eu-1", dir: "../../examples/fleet", cluster: "eu-1",
		req:  Request{Host: "checkout.shop", Path: "/cart", FromNamespace: "web"},
		want: Allow, outcome: "routed", dests: []string{"checkout.shop.svc.cluster.local:v1 80%", "checkout.shop.svc.cluster.local:v2 20%"}},
	{name: "fleet-us-1", dir: "../../examples/fleet", cluster: "us-1",
		req:  Request{Host: "checkout.shop", Path: "/cart", FromNamespace: "web"},
		want: Allow, outcome: "routed", dests: []string{"checkout.shop.svc.cluster.local:v1 100%"}},
}

// TestScenarios explains every scenario and compares its text and JSON
// with the golden files in testdata/golden. UPDATE_GOLDEN=1 rewrites them.
func TestScenarios(t *testing.T) {
	loaded := map[string]*schema.Intents{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			in := loaded[sc.dir]
			if in == nil {
				files, err := schema.ReadDir(t.Context(), sc.dir)
				if err != nil {
					t.Fatal(err)
				}
				if in, err = schema.Load(files); err != nil {
					t.Fatalf("%s: %v", sc.dir, err)
				}
				loaded[sc.dir] = in
			}
			ex, err := Explain(Input{Intents: in, Cluster: sc.cluster, Canaries: sc.canaries}, sc.req)
			if err != nil {
				t.Fatal(err)
			}
			var dests []string
			for _, d := range ex.Destinations {
				name := d.FQDN
				if d.Subset != "" {
					name += ":" + d.Subset
				}
				dests = append(dests, name+" "+itoa(d.Weight)+"%")
			}
			type summary struct {
				Authorization Decision
				Outcome       string
				Status        int
				Destinations  []string
			}
			want := summary{sc.want, sc.outcome, sc.status, sc.dests}
			got := summary{ex.Verdict.Authorization, ex.Outcome, ex.Verdict.Status, dests}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("verdict (-want +got):\n%s\n(summary: %s)", diff, ex.Verdict.Summary)
			}
			var text bytes.Buffer
			if err := ex.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			js, err := json.MarshalIndent(ex, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.File(t, filepath.Join("testdata", "golden", sc.name+".txt"), text.Bytes())
			golden.File(t, filepath.Join("testdata", "golden", sc.name+".json"), append(js, '\n'))
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
