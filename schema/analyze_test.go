package schema

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestExamplesHaveNoWarnings: every example and every input of render's
// tests loads without a warning, so that --strict passes on what users
// copy.
func TestExamplesHaveNoWarnings(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	more, _ := filepath.Glob("../render/testdata/*")
	checked := 0
	for _, dir := range append(dirs, more...) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || filepath.Base(dir) == "examples" {
			continue
		}
		files, err := ReadDir(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		in, err := Load(files)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, w := range in.Warnings {
			t.Errorf("%s: %s", dir, w)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("checked %d repositories, want every example and render's inputs", checked)
	}
}

// findings loads one file and returns every error and warning, as printed.
func findings(t *testing.T, src string) []string {
	t.Helper()
	in, err := Load(Files{"mesh.cue": []byte("package intents\n\n" + src)})
	var errs Errors
	switch {
	case errors.As(err, &errs):
		return errs.Strings()
	case err != nil:
		t.Fatal(err)
	}
	return in.Warnings.Strings()
}

// analyzeCase is an input and what loading it says: its errors, or else
// its warnings.
type analyzeCase struct {
	name string
	src  string
	want []string
}

func runAnalyzeCases(t *testing.T, cases []analyzeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, findings(t, c.src), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

const twoVersions = `versions: {v1: labels: version: "v1", v2: labels: version: "v2"}`

func TestUnreachableRoute(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "a longer prefix after a shorter one",
		src: `services: api: {
	` + twoVersions + `
	routes: [
		{match: [{uri: prefix: "/api"}], to: v1: 100},
		{match: [{uri: prefix: "/api/v2"}], to: v2: 100},
		{to: v1: 100},
	]
}
`,
		want: []string{`mesh.cue:7:3: services.api.routes[1]: route can never be reached: routes[0] takes every request its match takes (IST0130) (hint: remove the route, or move it before the route that catches its requests; the first route that matches a request takes it)`},
	}, {
		name: "prefix / catches everything",
		src: `services: api: {
	` + twoVersions + `
	routes: [
		{match: [{uri: prefix: "/"}], to: v1: 100},
		{match: [{headers: "x-canary": exact: "true"}, {method: exact: "POST"}], to: v2: 100},
	]
}
`,
		want: []string{`mesh.cue:7:3: services.api.routes[1]: route can never be reached: every alternative of its match is taken first by routes[0] (IST0130) (hint: remove the route, or move it before the route that catches its requests; the first route that matches a request takes it)`},
	}, {
		name: "a narrower header match before a wider one is fine",
		src: `services: api: {
	` + twoVersions + `
	routes: [
		{match: [{uri: prefix: "/api", headers: "x-canary": exact: "true"}], to: v2: 100},
		{match: [{uri: prefix: "/api"}], to: v1: 100},
		{match: [{uri: regex: "/v[0-9]+"}], to: v1: 100},
		{match: [{uri: regex: "/v[0-9]+", ignoreUriCase: true}], to: v2: 100},
		{to: v1: 100},
	]
}
`,
	}})
}

func TestIneffectiveMatch(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "one alternative of two caught",
		src: `services: api: {
	` + twoVersions + `
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{match: [{uri: prefix: "/beta"}, {headers: {"x-canary": exact: "true", "x-user": prefix: "a"}}], to: v1: 100},
		{to: v1: 100},
	]
}
`,
		want: []string{`mesh.cue:7:36: services.api.routes[1].match[1]: warning: this match never applies: routes[0] takes every request it matches first (IST0131) (hint: remove this alternative, or move the route before routes[0])`},
	}})
}

const edgeGateway = `gateways: edge: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["api.example.com"], credentialName: "api-cert"}}
`

func TestHostNotOnGateway(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "an expose host the gateway does not serve",
		src: edgeGateway + `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	expose: [{gateway: "edge", hosts: ["api.example.com", "app.example.com"]}]
}
`,
		want: []string{`mesh.cue:7:56: services.api.expose[0].hosts[1]: warning: host app.example.com is not served by gateways.edge, so no request for it reaches these routes (IST0132) (hint: gateways.edge serves api.example.com; add the host to one of its servers, or bind the routes to a gateway that serves it)`},
	}, {
		name: "a service bound to a gateway that serves none of its hosts",
		src: edgeGateway + `services: api: {
	hosts: ["www.example.com"]
	gateways: ["edge", "mesh"]
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
}
`,
		want: []string{`mesh.cue:6:13: services.api.gateways[0]: warning: none of the hosts api, www.example.com is served by gateways.edge, so no request through it reaches these routes (IST0132) (hint: gateways.edge serves api.example.com; add the host to one of its servers, or bind the routes to a gateway that serves it)`},
	}, {
		name: "served by a wildcard",
		src: `gateways: edge: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["*.example.com"], credentialName: "c"}}
services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	expose: [{gateway: "edge", hosts: ["api.example.com"]}]
}
`,
	}})
}

func TestMeshHostConflict(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "a raw VirtualService for a service's host",
		src: `services: reviews: {
	namespace: "shop"
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
}
raw: [{
	apiVersion: "networking.istio.io/v1"
	kind:       "VirtualService"
	metadata: {name: "reviews-legacy", namespace: "shop"}
	spec: {hosts: ["reviews.shop.svc.cluster.local"], http: [{route: [{destination: host: "reviews"}]}]}
}]
`,
		want: []string{`mesh.cue:12:17: raw[0].spec.hosts[0]: warning: host reviews.shop.svc.cluster.local is also routed on the mesh by services.reviews: for one host on the mesh a sidecar uses only one VirtualService, the oldest, in no order you control (IST0109) (hint: route the host in one place: move these routes into services.reviews, or bind one of them to a gateway only)`},
	}, {
		name: "one on the mesh, one on a gateway",
		src: edgeGateway + `services: reviews: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
}
raw: [{
	apiVersion: "networking.istio.io/v1"
	kind:       "VirtualService"
	metadata: {name: "reviews-edge", namespace: "default"}
	spec: {hosts: ["reviews"], gateways: ["istio-system/edge"], http: [{route: [{destination: host: "reviews"}]}]}
}]
`,
		want: []string{`mesh.cue:12:40: raw[0].spec.gateways[0]: warning: none of the hosts reviews is served by gateways.edge, so no request through it reaches these routes (IST0132) (hint: gateways.edge serves api.example.com; add the host to one of its servers, or bind the routes to a gateway that serves it)`},
	}})
}

func TestClaimRoutesNeedJWT(t *testing.T) {
	svc := edgeGateway + `services: api: {
	hosts: ["api.example.com"]
	gateways: ["edge"]
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{match: [{headers: "@request.auth.claims.groups": exact: "beta"}], to: v2: 100}, {to: v1: 100}]
}
`
	noJWT := `mesh.cue:6:13: services.api.gateways[0]: routes match on the JWT claim groups, but no jwt intent validates tokens on the pods of gateways.edge (selector istio=ingressgateway), so the claim is never there (IST0149) (hint: declare a jwt intent in namespace istio-system whose selector matches the gateway's pods, such as selector: istio=ingressgateway)`
	runAnalyzeCases(t, []analyzeCase{{
		name: "no jwt intent on the gateway's pods",
		src:  svc,
		want: []string{noJWT},
	}, {
		name: "a jwt intent for other pods",
		src:  svc + `jwt: other: {namespace: "istio-system", selector: app: "other", issuers: [{issuer: "https://auth.example.com"}]}` + "\n",
		want: []string{noJWT},
	}, {
		name: "a jwt intent on the gateway's pods",
		src:  svc + `jwt: edge: {namespace: "istio-system", selector: istio: "ingressgateway", issuers: [{issuer: "https://auth.example.com"}]}` + "\n",
	}})
}

func TestGatewayHostsOverlapByWildcard(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "a wildcard on one gateway, a name it covers on another",
		src: `gateways: wild: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["*.example.com"], credentialName: "wild"}}
gateways: api: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["api.example.com"], credentialName: "api"}}
`,
		want: []string{`mesh.cue:3:88: gateways.wild.https.hosts: warning: port 443 host "*.example.com" overlaps host "api.example.com" of gateways.api.https on the same gateway pods (selector istio=ingressgateway): a client that reuses an HTTP/2 connection opened for one gets 404 for the other (hint: each server terminating TLS has its own routes, and browsers reuse a connection for every name its certificate covers; serve overlapping hosts from one server (one certificate), or use hosts that do not overlap)`},
	}, {
		name: "other pods, or one server, or passthrough",
		src: `gateways: wild: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["*.example.com", "api.example.com"], credentialName: "wild"}}
gateways: api: {namespace: "istio-system", selector: istio: "other-gateway", https: {hosts: ["api.example.com"], credentialName: "api"}}
gateways: db: {namespace: "istio-system", selector: istio: "ingressgateway", servers: [{port: 443, protocol: "TLS", hosts: ["db.example.com"], tls: mode: "PASSTHROUGH"}]}
`,
	}})
}

func TestTLSOriginationWithoutCA(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "SIMPLE without caCertificates",
		src: `services: payments: {
	versions: v1: labels: version: "v1"
	policy: tls: mode: "SIMPLE"
	routes: [{to: v1: 100}]
}
`,
		want: []string{`mesh.cue:5:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates, so the server's certificate may not be verified (IST0128) (hint: set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true)`},
	}, {
		name: "a raw DestinationRule's port",
		src: `raw: [{
	apiVersion: "networking.istio.io/v1"
	kind:       "DestinationRule"
	metadata: {name: "bank", namespace: "default"}
	spec: {host: "api.bank.example", trafficPolicy: portLevelSettings: [{port: number: 443, tls: mode: "SIMPLE"}]}
}]
`,
		want: []string{`mesh.cue:7:90: raw[0].spec.trafficPolicy.portLevelSettings[0].tls: warning: tls mode SIMPLE originates TLS without caCertificates, so the server's certificate may not be verified (IST0128) (hint: set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true)`},
	}, {
		name: "verified, or not on purpose",
		src: `services: payments: {
	versions: {v1: {labels: version: "v1", policy: tls: {mode: "SIMPLE", insecureSkipVerify: true}}}
	policy: tls: {mode: "SIMPLE", caCertificates: "/etc/certs/ca.pem"}
	routes: [{to: v1: 100}]
}
`,
	}})
}

func TestDenyWithoutPorts(t *testing.T) {
	runAnalyzeCases(t, []analyzeCase{{
		name: "an authorization rule on paths",
		src: `authorization: admin: {
	namespace: "billing"
	action: "DENY"
	rules: [{from: [{notNamespaces: ["billing"]}], to: [{paths: ["/admin/*"]}]}]
}
`,
		want: []string{`mesh.cue:6:10: authorization.admin.rules[0]: warning: a DENY rule that names no ports denies every TCP connection to the selected workloads, since only HTTP traffic has the attributes it tests (Istio warns about it too) (hint: add ports: [...] to the rule's to, with the workloads' container ports that serve HTTP)`},
	}, {
		name: "a jwt requirement",
		src:  `jwt: edge: {namespace: "istio-system", issuers: [{issuer: "https://auth.example.com"}], require: paths: ["/api/*"]}` + "\n",
		want: []string{`mesh.cue:3:89: jwt.edge.require: warning: require without ports: the policy edge-require-jwt denies every TCP connection to the selected workloads, since only HTTP traffic carries a token (Istio warns about it too) (hint: add ports: [...], the ports the selected pods' proxy listens on for HTTP (Istio's ingress gateway installed by istioctl: 8080 and 8443 for the Gateway's 80 and 443; listing both is safe))`},
	}, {
		name: "ports, or a TCP attribute alone",
		src: `authorization: admin: {
	namespace: "billing"
	action: "DENY"
	rules: [{to: [{paths: ["/admin/*"], ports: ["8080"]}]}, {from: [{ipBlocks: ["10.0.0.0/8"]}]}]
}
jwt: edge: {namespace: "istio-system", issuers: [{issuer: "https://auth.example.com"}], require: {paths: ["/api/*"], ports: [8443]}}
`,
	}})
}
