package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// seedScenario3 is seed scenario 3 exactly as the source wrote it (two raw
// v1beta1 DestinationRules), wrong in three places.
const seedScenario3 = `package intents

// Seed scenario 3 as written in the source: a raw DestinationRule.
raw: [{
	apiVersion: "networking.istio.io/v1beta1"
	kind:       "DestinationRule"
	metadata: {name: "user-service-resilience", namespace: "default"}
	spec: {
		host: "user-service"
		trafficPolicy: {
			connectionPool: {
				tcp: {maxConnections: 100}
				http: {
					http1MaxPendingRequests:  50
					http2MaxRequests:         100
					maxRequestsPerConnection: 2
					maxRetries:               3
					consecutiveGatewayErrors: 5
					interval:                 "30s"
					baseEjectionTime:         "30s"
				}
			}
			loadBalancer: {
				simple: "LEAST_REQUEST"
				consistentHash: {httpHeaderName: "x-user-id", minimumRingSize: 1024}
			}
			outlierDetection: {
				consecutiveErrors:              5
				interval:                       "30s"
				baseEjectionTime:               "30s"
				maxEjectionPercent:             50
				minHealthPercent:               30
				splitExternalLocalOriginErrors: true
			}
			portLevelSettings: [{
				port: {number: 8080}
				connectionPool: {
					tcp: {maxConnections: 200}
					http: {http1MaxPendingRequests: 100, maxRequestsPerConnection: 1}
				}
			}]
		}
	}
}, {
	apiVersion: "networking.istio.io/v1beta1"
	kind:       "DestinationRule"
	metadata: {name: "user-service-v2", namespace: "default"}
	spec: {
		host: "user-service-v2"
		trafficPolicy: {
			connectionPool: {
				tcp: {maxConnections: 50}
				http: {http1MaxPendingRequests: 25, maxRequestsPerConnection: 1}
			}
			loadBalancer: {simple: "ROUND_ROBIN"}
			outlierDetection: {consecutiveErrors: 3, interval: "15s", baseEjectionTime: "15s", maxEjectionPercent: 30}
		}
	}
}]
`

// seedScenario5 is seed scenario 5's AuthorizationPolicy as the source
// wrote it: two rules that Istio ORs.
const seedScenario5 = `package intents

authorization: "frontend-ingress": {
	namespace: "default"
	selector: app: "frontend"
	action: "ALLOW"
	rules: [{
		from: [{principals: ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]}]
	}, {
		to: [{methods: ["GET", "POST", "PUT", "DELETE"], paths: ["/api/*"]}]
	}]
}
`

func TestValidateMesh(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "seed scenario 3: outlier fields under connectionPool.http, oneof set twice, deprecated fields",
			src:  seedScenario3,
			want: []string{
				`m.cue:18:6: raw[0].spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors: field not declared in Istio's ConnectionPoolSettings.HTTPSettings (hint: consecutiveGatewayErrors is an outlier-detection (circuit breaker) setting: move it to spec.trafficPolicy.outlierDetection, next to connectionPool)`,
				`m.cue:19:6: raw[0].spec.trafficPolicy.connectionPool.http.interval: field not declared in Istio's ConnectionPoolSettings.HTTPSettings (hint: interval is an outlier-detection (circuit breaker) setting: move it to spec.trafficPolicy.outlierDetection, next to connectionPool)`,
				`m.cue:20:6: raw[0].spec.trafficPolicy.connectionPool.http.baseEjectionTime: field not declared in Istio's ConnectionPoolSettings.HTTPSettings (hint: baseEjectionTime is an outlier-detection (circuit breaker) setting: move it to spec.trafficPolicy.outlierDetection, next to connectionPool)`,
				`m.cue:25:5: raw[0].spec.trafficPolicy.loadBalancer.consistentHash: simple and consistentHash are alternatives in Istio's LoadBalancerSettings: set only one (hint: LoadBalancerSettings takes one of simple, consistentHash; keep the one you mean and remove the other)`,
				`m.cue:25:51: raw[0].spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: minimumRingSize is deprecated in Istio's LoadBalancerSettings.ConsistentHashLB (hint: use ringHash: {minimumRingSize: N} inside consistentHash)`,
				`m.cue:28:5: raw[0].spec.trafficPolicy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated in Istio's OutlierDetection (hint: use consecutive5xxErrors (any 5xx response counts) or consecutiveGatewayErrors (502, 503 and 504 only, which is what consecutiveErrors counted))`,
				`m.cue:56:23: raw[1].spec.trafficPolicy.outlierDetection.consecutiveErrors: consecutiveErrors is deprecated in Istio's OutlierDetection (hint: use consecutive5xxErrors (any 5xx response counts) or consecutiveGatewayErrors (502, 503 and 504 only, which is what consecutiveErrors counted))`,
			},
		},
		{
			name: "seed scenario 5: a from-only rule and a to-only rule",
			src:  seedScenario5,
			want: []string{
				`m.cue:9:5: authorization."frontend-ingress".rules[1]: rules[0] has only from and rules[1] only to: a request matching either rule is allowed, so rules[1] allows its operations from any source (hint: to allow these operations only from rules[0]'s sources, write one rule with both: {from: [...], to: [...]}; if anyone may really do rules[1]'s operations, set rulesAreAlternatives: true)`,
			},
		},
		{
			name: "seed scenario 5 acknowledged",
			src:  strings.Replace(seedScenario5, `action: "ALLOW"`, `action: "ALLOW", rulesAreAlternatives: true`, 1),
		},
		{
			name: "seed scenario 6 and 1 written correctly",
			src: `package intents
gateways: edge: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["api.example.com"], credentialName: "cert", redirectHTTP: true}}
jwt: edge: {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	issuers: [{issuer: "https://auth.example.com", jwksUri: "https://auth.example.com/jwks.json"}]
	require: paths: ["/api/*"]
}
`,
		},
		{
			name: "gateway TLS mistakes",
			src: `package intents
gateways: gw: {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	servers: [
		{port: 443, protocol: "HTTPS", hosts: ["a.example.com"], tls: mode: "SIMPLE"},
		{port: 8443, protocol: "HTTPS", hosts: ["b.example.com"]},
		{port: 80, protocol: "HTTP", hosts: ["c.example.com"], tls: mode: "PASSTHROUGH"},
		{port: 81, protocol: "HTTP", hosts: ["d.example.com"], tls: {mode: "SIMPLE", credentialName: "x"}},
		{port: 9443, protocol: "TLS", hosts: ["e.example.com"], tls: {mode: "PASSTHROUGH", credentialName: "x"}},
		{port: 9444, protocol: "HTTPS", hosts: ["f.example.com"], httpsRedirect: true, tls: {mode: "MUTUAL"}},
	]
}
`,
			want: []string{
				`m.cue:6:60: gateways.gw.servers[0].tls: tls mode SIMPLE needs credentialName (hint: name the Kubernetes TLS secret, in the gateway's namespace istio-system, that holds the certificate and key)`,
				`m.cue:7:3: gateways.gw.servers[1]: protocol HTTPS needs tls settings (hint: add tls: {mode: "SIMPLE", credentialName: "SECRET"} to terminate TLS here, or tls: {mode: "PASSTHROUGH"} to pass it through to the service)`,
				`m.cue:8:69: gateways.gw.servers[2].tls.mode: tls mode PASSTHROUGH needs protocol TLS or HTTPS, not HTTP (hint: with passthrough the gateway routes the TLS connection by its SNI without decrypting it; declare the port's protocol as TLS)`,
				`m.cue:9:58: gateways.gw.servers[3].tls: tls settings do not apply to protocol HTTP, which is plain text (hint: use protocol HTTPS (or TLS for other traffic) to terminate TLS on this port; to redirect HTTP to HTTPS, set httpsRedirect: true instead)`,
				`m.cue:10:102: gateways.gw.servers[4].tls.credentialName: credentialName is not used with tls mode PASSTHROUGH (hint: remove it: with passthrough the service terminates TLS, and ISTIO_MUTUAL uses the mesh's own certificates)`,
				`m.cue:11:76: gateways.gw.servers[5].httpsRedirect: httpsRedirect applies to protocol HTTP only, not HTTPS (hint: remove it, or set it on the HTTP server of the same hosts)`,
				`m.cue:11:82: gateways.gw.servers[5].tls: tls mode MUTUAL needs credentialName (hint: name the Kubernetes secret, in the gateway's namespace istio-system, that holds the certificate, the key and the CA certificate (ca.crt) that client certificates are checked against)`,
			},
		},
		{
			name: "two gateways claim the same port and host on the same pods",
			src: `package intents
gateways: a: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["api.example.com"], credentialName: "a"}}
gateways: b: {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	servers: [{port: 443, protocol: "HTTPS", hosts: ["web.example.com", "*/api.example.com"], tls: {mode: "SIMPLE", credentialName: "b"}}]
}
gateways: c: {namespace: "istio-system", selector: istio: "other-gateway", https: {hosts: ["api.example.com"], credentialName: "c"}}
`,
			want: []string{
				`m.cue:6:43: gateways.b.servers[0].hosts: port 443 host "api.example.com" is already served by gateways.a.https on the same gateway pods (selector istio=ingressgateway) (hint: Istio merges the servers of all Gateways that select the same pods and uses only one of them for a host on a port; remove one, or give them different hosts)`,
			},
		},
		{
			name: "gateway schema: a typo",
			src: `package intents
gateways: gw: {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	https: {hosts: ["api.example.com"], credentialName: "a", redirectHtp: true}
}
`,
			want: []string{
				`m.cue:5:59: gateways.gw.https.redirectHtp: field not allowed (hint: did you mean "redirectHTTP"?)`,
			},
		},
		{
			name: "mtls: ports without selector, bad port, two namespace-wide policies",
			src: `package intents
mtls: a: {namespace: "shop", mode: "STRICT"}
mtls: b: {namespace: "shop", mode: "PERMISSIVE", ports: {"0": "DISABLE"}}
`,
			want: []string{
				`m.cue:3:7: mtls.b: namespace shop already has a policy without selector: mtls.a (hint: Istio applies only the oldest of them; keep one, or give this one a selector)`,
				`m.cue:3:50: mtls.b.ports: ports need a selector (hint: Istio applies per-port modes only in a policy that selects workloads; add selector with the workloads' labels)`,
				`m.cue:3:63: mtls.b.ports."0": port 0 is not a port number (1-65535)`,
			},
		},
		{
			name: "authorization: CUSTOM without provider, provider without CUSTOM, DENY without rules, bad condition",
			src: `package intents
authorization: a: {namespace: "shop", action: "CUSTOM", rules: [{}]}
authorization: b: {namespace: "shop", provider: "opa", rules: [{when: [{key: "request.header[x]", values: ["1"]}, {key: "source.ip"}]}]}
authorization: c: {namespace: "shop", action: "DENY"}
`,
			want: []string{
				`m.cue:2:47: authorization.a.action: action CUSTOM needs provider (hint: name the extension provider (from meshConfig.extensionProviders) that decides, such as provider: "ext-authz")`,
				`m.cue:3:49: authorization.b.provider: provider is used with action CUSTOM only, not ALLOW (hint: remove provider, or set action: "CUSTOM")`,
				`m.cue:3:78: authorization.b.rules[0].when[0].key: condition key "request.header[x]" is not an attribute Istio knows (hint: keys: request.headers[NAME], request.auth.claims[NAME], request.auth.principal, request.auth.audiences, request.auth.presenter, source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, destination.ip, destination.port, connection.sni, experimental.envoy.filters.*)`,
				`m.cue:3:115: authorization.b.rules[0].when[1]: condition needs values or notValues`,
				`m.cue:4:16: authorization.c: a DENY policy without rules matches no request, so it has no effect (hint: add rules saying which requests it applies to; rules: [{}] matches every request)`,
			},
		},
		{
			name: "jwt: duplicate issuer, jwks and jwksUri",
			src: `package intents
jwt: a: {namespace: "shop", issuers: [
	{issuer: "https://i", jwksUri: "https://i/jwks", jwks: "{}"},
	{issuer: "https://i"},
]}
`,
			want: []string{
				`m.cue:3:57: jwt.a.issuers[0].jwks: set jwksUri or jwks, not both (hint: Istio uses jwks and ignores jwksUri; keep the one you mean)`,
				`m.cue:4:11: jwt.a.issuers[1].issuer: issuer "https://i" is already listed in issuers[0] (hint: list each issuer once, with all its audiences)`,
			},
		},
		{
			name: "external: resolution mistakes, duplicate ports, unknown endpoint port",
			src: `package intents
external: a: {namespace: "shop", hosts: ["a.example.com"], ports: [{number: 443, protocol: "TLS"}, {number: 443, protocol: "TLS", name: "tls-443"}], resolution: "STATIC", endpoints: [{address: "db.example.com", ports: tcp: 5432}]}
external: b: {namespace: "shop", hosts: ["*.example.com"], ports: [{number: 443, protocol: "TLS"}]}
external: c: {namespace: "shop", hosts: ["c.example.com"], ports: [{number: 443, protocol: "TLS"}], resolution: "NONE", endpoints: [{address: "10.0.0.1"}]}
external: d: {namespace: "shop", hosts: ["d.example.com"], ports: [{number: 443, protocol: "TLS"}], resolution: "STATIC"}
`,
			want: []string{
				`m.cue:2:100: external.a.ports[1]: port name "tls-443" is already used by ports[0] (hint: give the ports different names)`,
				`m.cue:2:109: external.a.ports[1].number: port 443 is already declared in ports[0]`,
				`m.cue:2:194: external.a.endpoints[0].address: endpoint address "db.example.com" is not an IP address, which resolution STATIC needs (hint: use resolution DNS for endpoints given by host name)`,
				`m.cue:2:224: external.a.endpoints[0].ports.tcp: port name "tcp" is not declared in ports (hint: declared port names: tls-443)`,
				`m.cue:3:42: external.b.hosts[0]: host "*.example.com" is a wildcard, which resolution DNS cannot resolve (hint: use resolution NONE for wildcard hosts, or list endpoints to resolve instead)`,
				`m.cue:4:121: external.c.endpoints: resolution NONE takes no endpoints (hint: NONE forwards to the address the client asked for; use resolution STATIC or DNS to send traffic to these endpoints)`,
				`m.cue:5:113: external.d.resolution: resolution STATIC needs endpoints (hint: list the endpoints' IP addresses, or use resolution DNS to resolve the hosts)`,
			},
		},
		{
			name: "raw: unknown kind, unserved version, snake_case, typo, bad enum, deprecated enum, wrong shape, required field, value error",
			src: `package intents
raw: [
	{apiVersion: "networking.istio.io/v1", kind: "Route", metadata: name: "a", spec: {}},
	{apiVersion: "security.istio.io/v1alpha1", kind: "PeerAuthentication", metadata: name: "b", spec: {}},
	{apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: name: "c", spec: {
		host: "c"
		traffic_policy: {}
		trafficPolicy: {loadBalancer: simple: "LEAST_CONN", connectionPool: tcp: maxConection: 1}
		subsets: {name: "v1"}
	}},
	{apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: name: "d", spec: {
		trafficPolicy: loadBalancer: simple: "FASTEST"
	}},
	{apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: name: "e", spec: {
		host: "e", trafficPolicy: outlierDetection: interval: "often"
	}},
]
`,
			want: []string{
				`m.cue:3:47: raw[0].kind: kind "Route" is not an Istio kind sailplan knows (hint: kinds: AuthorizationPolicy, DestinationRule, EnvoyFilter, Gateway, PeerAuthentication, ProxyConfig, RequestAuthentication, ServiceEntry, Sidecar, Telemetry, TrafficExtension, VirtualService, WasmPlugin, WorkloadEntry, WorkloadGroup)`,
				`m.cue:4:15: raw[1].apiVersion: PeerAuthentication is served as security.istio.io/v1, security.istio.io/v1beta1, not security.istio.io/v1alpha1 (hint: use one of the served versions; v1 is the current one where it exists)`,
				`m.cue:7:3: raw[2].spec.traffic_policy: field not declared in Istio's DestinationRule (hint: Kubernetes objects use the JSON names of Istio's fields: write trafficPolicy)`,
				`m.cue:8:33: raw[2].spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated in Istio's LoadBalancerSettings.SimpleLB (hint: use LEAST_REQUEST)`,
				`m.cue:8:76: raw[2].spec.trafficPolicy.connectionPool.tcp.maxConection: field not declared in Istio's ConnectionPoolSettings.TCPSettings (hint: did you mean "maxConnections"? fields allowed here: connectTimeout, idleTimeout, maxConnectionDuration, maxConnections, tcpKeepalive)`,
				`m.cue:9:3: raw[2].spec.subsets: want a list, got an object`,
				`m.cue:11:87: raw[3].spec: host is required in Istio's DestinationRule`,
				`m.cue:12:32: raw[3].spec.trafficPolicy.loadBalancer.simple: "FASTEST" is not a value of Istio's LoadBalancerSettings.SimpleLB (hint: values: UNSPECIFIED, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST)`,
				`m.cue:14:87: raw[4].spec: spec is not a valid Istio DestinationRule: invalid google.protobuf.Duration value "often"`,
			},
		},
		{
			name: "two intents render the same object",
			src: `package intents
mtls: dup: {namespace: "shop", selector: app: "x", mode: "STRICT"}
jwt: a: {namespace: "shop", issuers: [{issuer: "https://i"}], require: {}}
authorization: "a-require-jwt": {namespace: "shop", rules: [{}]}
raw: [{apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: {name: "dup", namespace: "shop"}, spec: {}}]
`,
			want: []string{
				`m.cue:3:63: jwt.a.require: AuthorizationPolicy shop/a-require-jwt is also rendered from authorization."a-require-jwt" (hint: two intents would write the same Istio object; rename one of them)`,
				`m.cue:5:7: raw[0]: PeerAuthentication shop/dup is also rendered from mtls.dup (hint: two intents would write the same Istio object; rename one of them)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Files{"m.cue": []byte(tt.src)})
			var got []string
			if err != nil {
				errs, ok := err.(Errors)
				if !ok {
					t.Fatalf("Load error is %T, want Errors: %v", err, err)
				}
				for _, e := range errs {
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall:\n%s", diff, strings.Join(got, "\n"))
			}
		})
	}
}

// TestDeprecatedFieldsCovered wants a replacement for every field and enum
// value that istio.io/api marks deprecated in the kinds raw objects may
// have, so that a user always learns what to write instead.
func TestDeprecatedFieldsCovered(t *testing.T) {
	var missing []string
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if o, ok := fd.Options().(*descriptorpb.FieldOptions); ok && o.GetDeprecated() {
				if _, ok := rawDeprecated[fd.FullName()]; !ok {
					missing = append(missing, string(fd.FullName()))
				}
			}
			if ed := fd.Enum(); ed != nil {
				for j := 0; j < ed.Values().Len(); j++ {
					ev := ed.Values().Get(j)
					if o, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && o.GetDeprecated() {
						if _, ok := rawDeprecated[ev.FullName()]; !ok {
							missing = append(missing, string(ev.FullName()))
						}
					}
				}
			}
			if m := fd.Message(); m != nil {
				walk(m)
			}
		}
	}
	for _, k := range RawKinds {
		walk(k.NewSpec().ProtoReflect().Descriptor())
	}
	if len(missing) > 0 {
		t.Errorf("deprecated without a replacement in rawDeprecated: %s", strings.Join(missing, ", "))
	}
}

func TestGatewayPortNames(t *testing.T) {
	g := &Gateway{
		HTTPS: &GatewayHTTPS{Hosts: []string{"a"}, CredentialName: "c", Mode: "SIMPLE", Port: 443, RedirectHTTP: true},
		Servers: []GatewayServer{
			{Port: 443, Protocol: "HTTPS", Hosts: []string{"b"}},
			{Port: 8080, Protocol: "HTTP", Hosts: []string{"c"}, PortName: "web"},
		},
	}
	servers, origins := g.AllServers()
	var names []string
	for _, s := range servers {
		names = append(names, s.PortName)
	}
	if diff := cmp.Diff([]string{"https-443-0", "http-80", "https-443-2", "web"}, names); diff != "" {
		t.Errorf("port names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ServerOrigin{{Field: "https"}, {Field: "https"}, {Field: "servers"}, {Field: "servers", Index: 1}}, origins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
}

// TestRawSeed5: the AuthorizationPolicy of seed scenario 5, written as raw
// Istio the way the source wrote it, is caught; the annotation says the
// rules really are alternatives.
func TestRawSeed5(t *testing.T) {
	policy := func(annotations string) string {
		return `package intents
raw: [{
	apiVersion: "security.istio.io/v1"
	kind:       "AuthorizationPolicy"
	metadata: {name: "frontend-ingress", namespace: "default"` + annotations + `}
	spec: {
		selector: matchLabels: app: "frontend"
		action: "ALLOW"
		rules: [
			{from: [{source: principals: ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]}]},
			{to: [{operation: {methods: ["GET", "POST", "PUT", "DELETE"], paths: ["/api/*"]}}]},
		]
	}
}]
`
	}
	_, err := Load(Files{"zero-trust.cue": []byte(policy(""))})
	want := `zero-trust.cue:11:4: raw[0].spec.rules[1]: rules[0] has only from and rules[1] only to: a request matching either rule is allowed, so rules[1] allows its operations from any source (hint: to allow these operations only from rules[0]'s sources, write one rule with both from and to; if anyone may really do rules[1]'s operations, add the annotation sailplan.dev/rules-are-alternatives: "true")`
	if err == nil || err.Error() != want {
		t.Errorf("Load error =\n%v\nwant\n%s", err, want)
	}
	if _, err := Load(Files{"zero-trust.cue": []byte(policy(`, annotations: "sailplan.dev/rules-are-alternatives": "true"`))}); err != nil {
		t.Errorf("with the annotation: %v, want it accepted", err)
	}
}
