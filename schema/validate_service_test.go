package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadErrors loads one file and returns its errors, as printed.
func loadErrors(t *testing.T, src string) []string {
	t.Helper()
	_, err := Load(Files{"svc.cue": []byte("package intents\n" + src)})
	if err == nil {
		return nil
	}
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("Load error is %T, want Errors: %v", err, err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// TestServiceValidation has one case per rule, each with the exact
// message a user sees. Line numbers count the package clause as line 1.
func TestServiceValidation(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "valid service with every route feature",
			src: `services: api: {
	host: "api.example.com"
	port: 8080
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: "30s"
	retries: {attempts: 3, perTryTimeout: "10s", retryOn: ["5xx", "reset", 503]}
	routes: [
		{match: [{uri: prefix: "/old"}], redirect: {uri: "/new", code: 308}},
		{match: [{uri: prefix: "/api"}], rewrite: uriRegex: {match: "^/api/(.*)", rewrite: "/\\1"},
			destinations: [{host: "users", port: 8080, weight: 90}, {host: "users-v2", port: 8080, weight: 10}],
			fault: {delay: {percent: 0.1, fixedDelay: "5s"}, abort: {percent: 0.01, httpStatus: 503}},
			cors: {allowOrigins: ["https://app.example.com", {regex: "https://.*\\.example\\.com"}], allowMethods: ["GET"], maxAge: "24h"}},
		{to: {v1: 90, v2: 10}, mirror: {version: "v2", percent: 5}, headers: request: set: "x-via": "sailplan"},
	]
}`,
		},
		{
			name: "weights of destinations",
			src: `services: api: {
	routes: [{destinations: [{host: "a", weight: 90}, {host: "b", weight: 20}]}]
}`,
			want: []string{`svc.cue:3:12: services.api.routes[0].destinations: weights add up to 110, want 100 (hint: give the destinations weights in percent that add up to 100)`},
		},
		{
			name: "route with two targets, and one with none",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [
		{match: [{uri: prefix: "/a"}], to: v1: 100, redirect: uri: "/b"},
		{},
	]
}`,
			want: []string{
				`svc.cue:5:3: services.api.routes[0]: route sets to and redirect (hint: a route goes to versions (to), to other hosts (destinations) or redirects: keep one)`,
				`svc.cue:6:3: services.api.routes[1]: route has nowhere to go (hint: set to (weights by version), destinations (other hosts) or redirect)`,
			},
		},
		{
			name: "per-try timeout longer than the timeout",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100, timeout: "2s", retries: {attempts: 2, perTryTimeout: "5s"}}]
}`,
			want: []string{`svc.cue:4:40: services.api.routes[0].retries: perTryTimeout 5s is longer than the route's timeout 2s, so a retry can never happen (hint: make perTryTimeout shorter than the timeout (at most timeout / attempts to give every attempt its time))`},
		},
		{
			name: "per-try timeout of the service's retries against a route's timeout",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	retries: {attempts: 2, perTryTimeout: "5s"}
	routes: [{to: v1: 100, timeout: "1s"}]
}`,
			want: []string{`svc.cue:5:34: services.api.routes[0].timeout: perTryTimeout 5s is longer than the route's timeout 1s, so a retry can never happen (hint: make perTryTimeout shorter than the timeout (at most timeout / attempts to give every attempt its time))`},
		},
		{
			name: "seed 3: simple and consistentHash both set",
			src: `services: "user-service": {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	policy: loadBalancer: {
		simple: "LEAST_REQUEST"
		consistentHash: {httpHeaderName: "x-user-id", minimumRingSize: 1024}
	}
}`,
			want: []string{
				`svc.cue:5:10: services."user-service".policy.loadBalancer: simple and consistentHash are both set, but they are alternatives: Istio rejects the object (hint: keep simple for an algorithm such as LEAST_REQUEST, or consistentHash for session affinity, not both)`,
				`svc.cue:7:66: services."user-service".policy.loadBalancer.consistentHash.minimumRingSize: minimumRingSize is deprecated (hint: use loadBalancer.consistentHash.ringHash.minimumRingSize)`,
			},
		},
		{
			name: "seed 3: outlier-detection fields under connectionPool.http",
			src: `services: "user-service": {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	policy: connectionPool: http: {
		http1MaxPendingRequests: 50
		consecutiveGatewayErrors: 5
		interval: "30s"
	}
}`,
			want: []string{
				`svc.cue:7:3: services."user-service".policy.connectionPool.http.consecutiveGatewayErrors: field not allowed (hint: consecutiveGatewayErrors is an outlier-detection (circuit breaking) setting: move it from connectionPool to outlierDetection, next to connectionPool)`,
				`svc.cue:8:3: services."user-service".policy.connectionPool.http.interval: field not allowed (hint: interval is an outlier-detection (circuit breaking) setting: move it from connectionPool to outlierDetection, next to connectionPool)`,
			},
		},
		{
			name: "seed 3: deprecated consecutiveErrors, in a version's policy",
			src: `services: "user-service": {
	versions: v2: {labels: version: "v2", policy: outlierDetection: {consecutiveErrors: 3, interval: "15s"}}
	routes: [{to: v2: 100}]
}`,
			want: []string{`svc.cue:3:86: services."user-service".versions.v2.policy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated (hint: use consecutive5xxErrors (any 5xx) or consecutiveGatewayErrors (502, 503, 504); Istio ignores consecutiveErrors)`},
		},
		{
			name: "consistent hash on two keys; MUTUAL TLS without a certificate; LEAST_CONN",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	policy: {
		loadBalancer: consistentHash: {httpHeaderName: "x-user", useSourceIp: true}
		tls: mode: "MUTUAL"
		portLevelSettings: [{port: number: 8080, loadBalancer: simple: "LEAST_CONN"}]
	}
}`,
			want: []string{
				`svc.cue:6:17: services.api.policy.loadBalancer.consistentHash: consistentHash hashes on 2 keys (httpHeaderName, useSourceIp), want exactly one (hint: hash on one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName)`,
				`svc.cue:7:3: services.api.policy.tls: MUTUAL TLS needs a client certificate (hint: set credentialName (a Secret) or clientCertificate and privateKey (files in the sidecar))`,
				`svc.cue:8:66: services.api.policy.portLevelSettings[0].loadBalancer.simple: LEAST_CONN is deprecated (hint: use LEAST_REQUEST)`,
			},
		},
		{
			name: "a host claimed by two services",
			src: `services: a: {host: "shop.example.com", routes: [{destinations: [{host: "x", weight: 100}]}]}
services: b: {hosts: ["shop.example.com"], routes: [{destinations: [{host: "y", weight: 100}]}]}`,
			want: []string{`svc.cue:3:23: services.b.hosts[0]: host shop.example.com is already claimed by services.a (hint: one service owns a host: merge the routes into one service, or give this one another host)`},
		},
		{
			name: "mirror to an unknown version",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100, mirror: version: "v9"}]
}`,
			want: []string{`svc.cue:4:42: services.api.routes[0].mirror.version: version "v9" is not declared in services.api.versions (hint: declared versions: v1)`},
		},
		{
			name: "canary plan mistakes",
			src: `services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 95, v2: 5}}]
	canary: {
		stable: "v1", candidate: "v3"
		steps: [5, 25, 10, 50]
		window: "* 9-17 * *"
		timeZone: "Mars/Olympus"
		approval: atWeights: [30]
	}
}`,
			want: []string{
				`svc.cue:5:2: services.reviews.canary: no route takes the canary's split (hint: leave to and destinations out of the route that the canary moves (usually the default route))`,
				`svc.cue:6:28: services.reviews.canary.candidate: version "v3" is not declared in services.reviews.versions (hint: declared versions: v1, v2)`,
				`svc.cue:7:3: services.reviews.canary.steps: the last step is 50%, want 100 (hint: end with 100: the candidate takes all traffic before it becomes stable)`,
				`svc.cue:7:18: services.reviews.canary.steps[2]: step 3 (10%) is not above the step before it (25%) (hint: steps are the candidate's weights, strictly increasing)`,
				`svc.cue:8:11: services.reviews.canary.window: window "* 9-17 * *": expected exactly 5 fields, found 4: [* 9-17 * *] (hint: five fields: minute hour day-of-month month day-of-week, such as "* 9-17 * * 1-5")`,
				`svc.cue:9:13: services.reviews.canary.timeZone: unknown time zone "Mars/Olympus" (hint: use an IANA name such as Europe/Berlin or America/New_York)`,
				`svc.cue:10:25: services.reviews.canary.approval.atWeights[0]: 30% is not one of the steps (hint: approvals are asked for at steps: pick weights from steps)`,
			},
		},
		{
			name: "a valid canary",
			src: `services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{match: [{headers: "x-canary": exact: "true"}], to: v2: 100}, {}]
	canary: {stable: "v1", candidate: "v2", steps: [5, 10, 25, 50, 100], window: "* 9-17 * * 1-5", timeZone: "Europe/Berlin",
		approval: {atWeights: [50, 100], slack: channel: "#deploys"}}
}`,
		},
		{
			name: "a canary at rest: no candidate, the plan waits for the next",
			src: `services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v2", steps: [10, 100], approval: atWeights: [100]}
}`,
		},
		{
			name: "a canary at rest on a version that does not exist",
			src: `services: reviews: {
	versions: {v1: labels: version: "v1"}
	routes: [{}]
	canary: {stable: "v2", steps: [100]}
}`,
			want: []string{`svc.cue:5:19: services.reviews.canary.stable: version "v2" is not declared in services.reviews.versions (hint: declared versions: v1)`},
		},
		{
			name: "a retry condition that does not exist",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100, retries: {attempts: 2, retryOn: ["5xx", "timeout"]}}]
}`,
			want: []string{`svc.cue:4:65: services.api.routes[0].retries.retryOn[1]: "timeout" is not allowed here; want one of "5xx", "cancelled", "connect-failure", "deadline-exceeded", "envoy-ratelimited", "gateway-error", "http3-post-connect-failure", "internal", "refused-stream", "reset", "reset-before-request", "resource-exhausted", "retriable-4xx", "retriable-headers", "retriable-status-codes", "unavailable", int`},
		},
		{
			name: "gateway references that do not exist",
			src: `gateways: main: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["a.example.com"], credentialName: "c"}}
services: api: {
	gateways: ["mesh", "mian"]
	versions: v1: labels: version: "v1"
	routes: [{match: [{gateways: ["edge"]}], to: v1: 100}, {to: v1: 100}]
	expose: [{gateway: "main", hosts: ["a.example.com"]}, {gateway: "main", hosts: ["b.example.com"]}, {gateway: "mesh", hosts: ["c.example.com"]}]
}`,
			want: []string{
				`svc.cue:4:21: services.api.gateways[1]: gateway "mian" is not declared (hint: declared gateways: main; "mesh" stands for the sidecars)`,
				`svc.cue:6:32: services.api.routes[0].match[0].gateways[0]: gateway "edge" is not declared (hint: declared gateways: main; "mesh" stands for the sidecars)`,
				`svc.cue:7:66: services.api.expose[1].gateway: gateway main is already used by expose[0] (hint: list the hosts and paths of one gateway in one entry)`,
				`svc.cue:7:111: services.api.expose[2].gateway: gateway "mesh" is not declared (hint: declared gateways: main)`,
			},
		},
		{
			name: "a misspelled enum value",
			src: `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
	policy: loadBalancer: simple: "ROUND_ROBBIN"
}`,
			want: []string{`svc.cue:5:32: services.api.policy.loadBalancer.simple: "ROUND_ROBBIN" is not allowed here; want one of "LEAST_CONN", "LEAST_REQUEST", "PASSTHROUGH", "RANDOM", "ROUND_ROBIN", "UNSPECIFIED" (hint: did you mean "ROUND_ROBIN"?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErrors(t, tt.src)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall:\n%s", diff, strings.Join(got, "\n"))
			}
		})
	}
}

// TestPatternsInWords: a value or a name that does not match one of the
// schema's patterns is explained in words, not as a regular expression.
func TestPatternsInWords(t *testing.T) {
	tests := []struct{ src, want string }{
		{
			`services: Reviews: {versions: v1: labels: version: "v1", routes: [{to: v1: 100}]}`,
			`svc.cue:2:11: services.Reviews: field not allowed (hint: each name here must be a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as reviews-v2)`,
		},
		{
			`services: r: {namespace: "Shop", host: "A_B", versions: v1: labels: version: "v1", routes: [{to: v1: 100, timeout: "10 seconds"}]}`,
			`3 errors in intents:
  svc.cue:2:26: services.r.namespace: "Shop" is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as reviews-v2
  svc.cue:2:40: services.r.host: "A_B" is not a host name in lower case, such as reviews, reviews.shop.svc.cluster.local or *.example.com
  svc.cue:2:116: services.r.routes[0].timeout: "10 seconds" is not a duration such as 100ms, 30s, 1.5m or 1h30m`,
		},
		{
			`gateways: gw: {namespace: "x", selector: a: "b", https: {hosts: ["Bad Host"], credentialName: "c"}}`,
			`svc.cue:2:66: gateways.gw.https.hosts[0]: "Bad Host" is not a host name in lower case, optionally after NAMESPACE/, such as api.example.com, */api.example.com or *`,
		},
	}
	for _, tt := range tests {
		_, err := Load(Files{"svc.cue": []byte("package intents\n" + tt.src)})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load error =\n%v\nwant\n%s", err, tt.want)
		}
	}
}
