package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// at builds an Error located at a path given as selectors, such as
// ("gateways", "main", "servers", 0, "tls").
func meshError(pos posFunc, msg, hint string, path ...any) Error {
	return Error{Pos: pos(path...), Path: pathOf(path), Msg: msg, Hint: hint}
}

func meshJoin(path []any, more ...any) []any {
	return append(append([]any(nil), path...), more...)
}

// meshSelectorKey is a canonical form of a label selector, to compare them.
func meshSelectorKey(sel map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

var (
	tlsProtocols = map[string]bool{"HTTPS": true, "TLS": true}
	// The modes that terminate TLS with a certificate from a secret.
	credentialModes  = map[string]bool{"SIMPLE": true, "MUTUAL": true, "OPTIONAL_MUTUAL": true}
	passthroughModes = map[string]bool{"PASSTHROUGH": true, "AUTO_PASSTHROUGH": true}
)

func validateGateways(in *Intents, pos posFunc) Errors {
	var errs Errors
	type claim struct {
		path  []any
		label string
	}
	// Istio merges the servers of every Gateway that selects the same pods;
	// a host on a port is served by one of them only.
	claims := map[string]claim{}
	// Hosts of servers that terminate TLS, for the overlaps by wildcard.
	type terminated struct {
		selector, host, label string
		port                  int
	}
	var tls []terminated
	for _, name := range slices.Sorted(maps.Keys(in.Gateways)) {
		g := in.Gateways[name]
		servers, origins := g.AllServers()
		for i, s := range servers {
			path := []any{"gateways", name, origins[i].Field}
			if origins[i].Field == "servers" {
				path = append(path, origins[i].Index)
			}
			errs = append(errs, validateGatewayServer(g, s, path, pos)...)
			for _, h := range s.Hosts {
				host := h[strings.Index(h, "/")+1:]
				key := fmt.Sprintf("%s|%d|%s", meshSelectorKey(g.Selector), s.Port, host)
				if c, ok := claims[key]; ok {
					errs = append(errs, meshError(pos,
						fmt.Sprintf("port %d host %q is already served by %s on the same gateway pods (selector %s)", s.Port, host, c.label, meshSelectorKey(g.Selector)),
						"Istio merges the servers of all Gateways that select the same pods and uses only one of them for a host on a port; remove one, or give them different hosts",
						meshJoin(path, "hosts")...))
					continue
				}
				claims[key] = claim{path: path, label: pathOf(path)}
				if s.Protocol != "HTTPS" || s.TLS == nil || passthroughModes[s.TLS.Mode] {
					continue
				}
				t := terminated{selector: meshSelectorKey(g.Selector), host: host, label: pathOf(path), port: s.Port}
				for _, o := range tls {
					if o.selector == t.selector && o.port == t.port && o.label != t.label && o.host != t.host && hostsOverlap(o.host, t.host) {
						errs = append(errs, meshWarning(pos,
							fmt.Sprintf("port %d host %q overlaps host %q of %s on the same gateway pods (selector %s): a client that reuses an HTTP/2 connection opened for one gets 404 for the other", s.Port, host, o.host, o.label, t.selector),
							"each server terminating TLS has its own routes, and browsers reuse a connection for every name its certificate covers; serve overlapping hosts from one server (one certificate), or use hosts that do not overlap",
							meshJoin(path, "hosts")...))
						break
					}
				}
				tls = append(tls, t)
			}
		}
	}
	return errs
}

func validateGatewayServer(g *Gateway, s GatewayServer, path []any, pos posFunc) Errors {
	var errs Errors
	switch {
	case s.TLS == nil && tlsProtocols[s.Protocol]:
		errs = append(errs, meshError(pos,
			fmt.Sprintf("protocol %s needs tls settings", s.Protocol),
			`add tls: {mode: "SIMPLE", credentialName: "SECRET"} to terminate TLS here, or tls: {mode: "PASSTHROUGH"} to pass it through to the service`,
			path...))
	case s.TLS != nil && !tlsProtocols[s.Protocol] && passthroughModes[s.TLS.Mode]:
		errs = append(errs, meshError(pos,
			fmt.Sprintf("tls mode %s needs protocol TLS or HTTPS, not %s", s.TLS.Mode, s.Protocol),
			"with passthrough the gateway routes the TLS connection by its SNI without decrypting it; declare the port's protocol as TLS",
			meshJoin(path, "tls", "mode")...))
	case s.TLS != nil && !tlsProtocols[s.Protocol]:
		errs = append(errs, meshError(pos,
			fmt.Sprintf("tls settings do not apply to protocol %s, which is plain text", s.Protocol),
			"use protocol HTTPS (or TLS for other traffic) to terminate TLS on this port; to redirect HTTP to HTTPS, set httpsRedirect: true instead",
			meshJoin(path, "tls")...))
	}
	if s.TLS != nil {
		switch {
		case credentialModes[s.TLS.Mode] && s.TLS.CredentialName == "":
			hint := fmt.Sprintf("name the Kubernetes TLS secret, in the gateway's namespace %s, that holds the certificate and key", g.Namespace)
			if s.TLS.Mode != "SIMPLE" {
				hint = fmt.Sprintf("name the Kubernetes secret, in the gateway's namespace %s, that holds the certificate, the key and the CA certificate (ca.crt) that client certificates are checked against", g.Namespace)
			}
			errs = append(errs, meshError(pos, fmt.Sprintf("tls mode %s needs credentialName", s.TLS.Mode), hint, meshJoin(path, "tls")...))
		case !credentialModes[s.TLS.Mode] && s.TLS.CredentialName != "":
			errs = append(errs, meshError(pos,
				fmt.Sprintf("credentialName is not used with tls mode %s", s.TLS.Mode),
				"remove it: with passthrough the service terminates TLS, and ISTIO_MUTUAL uses the mesh's own certificates",
				meshJoin(path, "tls", "credentialName")...))
		}
	}
	if s.HTTPSRedirect && s.Protocol != "HTTP" {
		errs = append(errs, meshError(pos,
			fmt.Sprintf("httpsRedirect applies to protocol HTTP only, not %s", s.Protocol),
			"remove it, or set it on the HTTP server of the same hosts",
			meshJoin(path, "httpsRedirect")...))
	}
	return errs
}

func validateMTLS(in *Intents, pos posFunc) Errors {
	var errs Errors
	// Istio uses only the oldest of two selector-less policies in a
	// namespace, which a GitOps user cannot see: reject the second.
	scopes := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(in.MTLS)) {
		m := in.MTLS[name]
		if len(m.Selector) == 0 {
			if other, ok := scopes[m.Namespace]; ok {
				errs = append(errs, meshError(pos,
					fmt.Sprintf("namespace %s already has a policy without selector: mtls.%s", m.Namespace, other),
					"Istio applies only the oldest of them; keep one, or give this one a selector",
					"mtls", name))
			} else {
				scopes[m.Namespace] = name
			}
		}
		if len(m.Ports) > 0 && len(m.Selector) == 0 {
			errs = append(errs, meshError(pos,
				"ports need a selector",
				"Istio applies per-port modes only in a policy that selects workloads; add selector with the workloads' labels",
				"mtls", name, "ports"))
		}
		for _, p := range slices.Sorted(maps.Keys(m.Ports)) {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				errs = append(errs, meshError(pos, fmt.Sprintf("port %s is not a port number (1-65535)", p), "", "mtls", name, "ports", p))
			}
		}
	}
	return errs
}

// conditionKeys are the attributes an AuthorizationPolicy condition may
// test; a key ending in "[" takes a name in brackets.
var conditionKeys = []string{
	"request.headers[", "source.ip", "remote.ip", "source.namespace", "source.principal", "source.serviceAccount",
	"request.auth.principal", "request.auth.audiences", "request.auth.presenter", "request.auth.claims[",
	"destination.ip", "destination.port", "connection.sni", "experimental.envoy.filters.",
}

func validConditionKey(k string) bool {
	for _, c := range conditionKeys {
		switch {
		case strings.HasSuffix(c, "["):
			if strings.HasPrefix(k, c) && strings.HasSuffix(k, "]") && len(k) > len(c)+1 {
				return true
			}
		case strings.HasSuffix(c, "."):
			if strings.HasPrefix(k, c) && len(k) > len(c) {
				return true
			}
		case k == c:
			return true
		}
	}
	return false
}

func validateAuthorization(name string, a *Authorization, pos posFunc) Errors {
	var errs Errors
	base := []any{"authorization", name}
	switch {
	case a.Action == "CUSTOM" && a.Provider == "":
		errs = append(errs, meshError(pos, "action CUSTOM needs provider",
			`name the extension provider (from meshConfig.extensionProviders) that decides, such as provider: "ext-authz"`,
			meshJoin(base, "action")...))
	case a.Action != "CUSTOM" && a.Provider != "":
		errs = append(errs, meshError(pos, fmt.Sprintf("provider is used with action CUSTOM only, not %s", a.Action),
			`remove provider, or set action: "CUSTOM"`, meshJoin(base, "provider")...))
	}
	if a.Action != "ALLOW" && len(a.Rules) == 0 {
		errs = append(errs, meshError(pos, fmt.Sprintf("a %s policy without rules matches no request, so it has no effect", a.Action),
			"add rules saying which requests it applies to; rules: [{}] matches every request",
			base...))
	}
	for i, r := range a.Rules {
		for j, c := range r.When {
			if !validConditionKey(c.Key) {
				errs = append(errs, meshError(pos, fmt.Sprintf("condition key %q is not an attribute Istio knows", c.Key),
					"keys: request.headers[NAME], request.auth.claims[NAME], request.auth.principal, request.auth.audiences, request.auth.presenter, source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, destination.ip, destination.port, connection.sni, experimental.envoy.filters.*",
					meshJoin(base, "rules", i, "when", j, "key")...))
			}
			if len(c.Values) == 0 && len(c.NotValues) == 0 {
				errs = append(errs, meshError(pos, "condition needs values or notValues", "", meshJoin(base, "rules", i, "when", j)...))
			}
		}
	}
	if a.Action == "ALLOW" && !a.RulesAreAlternatives {
		shapes := make([]ruleShape, len(a.Rules))
		for i, r := range a.Rules {
			shapes[i] = ruleShape{from: len(r.From) > 0, to: len(r.To) > 0}
		}
		for _, p := range fromToSplit(shapes) {
			errs = append(errs, meshError(pos, p.msg(),
				fmt.Sprintf("to allow these operations only from rules[%d]'s sources, write one rule with both: {from: [...], to: [...]}; if anyone may really do rules[%d]'s operations, set rulesAreAlternatives: true", p.fromOnly, p.toOnly),
				meshJoin(base, "rules", p.toOnly)...))
		}
	}
	return errs
}

// ruleShape is whether an authorization rule says where requests come from
// and what they do.
type ruleShape struct{ from, to bool }

// splitRule is the ambiguity of seed scenario 5: in an ALLOW policy, a rule
// with only from and another with only to are alternatives, so the second
// allows its operations from anyone, while the author almost surely meant
// one rule with both.
type splitRule struct{ fromOnly, toOnly int }

func (p splitRule) msg() string {
	return fmt.Sprintf("rules[%d] has only from and rules[%d] only to: a request matching either rule is allowed, so rules[%d] allows its operations from any source", p.fromOnly, p.toOnly, p.toOnly)
}

func fromToSplit(rules []ruleShape) []splitRule {
	fromOnly := -1
	for i, r := range rules {
		if r.from && !r.to {
			fromOnly = i
			break
		}
	}
	if fromOnly < 0 {
		return nil
	}
	var out []splitRule
	for i, r := range rules {
		if r.to && !r.from {
			out = append(out, splitRule{fromOnly, i})
		}
	}
	return out
}

// AnnotationRulesAreAlternatives on a raw AuthorizationPolicy says that
// its from-only and to-only rules are meant as alternatives.
const AnnotationRulesAreAlternatives = "sailplan.dev/rules-are-alternatives"

// validateRawAuthorization catches seed scenario 5's ambiguity in a raw
// AuthorizationPolicy, as written in the source.
func validateRawAuthorization(i int, o RawObject, spec *securityv1beta1.AuthorizationPolicy, pos posFunc) Errors {
	if spec.Action != securityv1beta1.AuthorizationPolicy_ALLOW || o.Metadata.Annotations[AnnotationRulesAreAlternatives] == "true" {
		return nil
	}
	shapes := make([]ruleShape, len(spec.Rules))
	for j, r := range spec.Rules {
		shapes[j] = ruleShape{from: len(r.From) > 0, to: len(r.To) > 0}
	}
	var errs Errors
	for _, p := range fromToSplit(shapes) {
		errs = append(errs, meshError(pos, p.msg(),
			fmt.Sprintf("to allow these operations only from rules[%d]'s sources, write one rule with both from and to; if anyone may really do rules[%d]'s operations, add the annotation %s: \"true\"", p.fromOnly, p.toOnly, AnnotationRulesAreAlternatives),
			"raw", i, "spec", "rules", p.toOnly))
	}
	return errs
}

func validateJWT(name string, j *JWT, pos posFunc) Errors {
	var errs Errors
	seen := map[string]int{}
	for i, is := range j.Issuers {
		path := []any{"jwt", name, "issuers", i}
		if first, ok := seen[is.Issuer]; ok {
			errs = append(errs, meshError(pos, fmt.Sprintf("issuer %q is already listed in issuers[%d]", is.Issuer, first),
				"list each issuer once, with all its audiences", meshJoin(path, "issuer")...))
		} else {
			seen[is.Issuer] = i
		}
		if is.JWKSURI != "" && is.JWKS != "" {
			errs = append(errs, meshError(pos, "set jwksUri or jwks, not both",
				"Istio uses jwks and ignores jwksUri; keep the one you mean", meshJoin(path, "jwks")...))
		}
	}
	return errs
}

func validateExternal(name string, e *External, pos posFunc) Errors {
	var errs Errors
	base := []any{"external", name}
	numbers := map[int]int{}
	names := map[string]int{}
	for i, p := range e.Ports {
		if first, ok := numbers[p.Number]; ok {
			errs = append(errs, meshError(pos, fmt.Sprintf("port %d is already declared in ports[%d]", p.Number, first), "", meshJoin(base, "ports", i, "number")...))
		} else {
			numbers[p.Number] = i
		}
		if first, ok := names[p.PortName()]; ok {
			errs = append(errs, meshError(pos, fmt.Sprintf("port name %q is already used by ports[%d]", p.PortName(), first),
				"give the ports different names", meshJoin(base, "ports", i)...))
		} else {
			names[p.PortName()] = i
		}
	}
	switch e.Resolution {
	case "STATIC":
		if len(e.Endpoints) == 0 {
			errs = append(errs, meshError(pos, "resolution STATIC needs endpoints",
				"list the endpoints' IP addresses, or use resolution DNS to resolve the hosts", meshJoin(base, "resolution")...))
		}
		for i, ep := range e.Endpoints {
			if _, err := netip.ParseAddr(ep.Address); err != nil && !strings.HasPrefix(ep.Address, "unix://") {
				errs = append(errs, meshError(pos, fmt.Sprintf("endpoint address %q is not an IP address, which resolution STATIC needs", ep.Address),
					"use resolution DNS for endpoints given by host name", meshJoin(base, "endpoints", i, "address")...))
			}
		}
	case "NONE":
		if len(e.Endpoints) > 0 {
			errs = append(errs, meshError(pos, "resolution NONE takes no endpoints",
				"NONE forwards to the address the client asked for; use resolution STATIC or DNS to send traffic to these endpoints", meshJoin(base, "endpoints")...))
		}
	case "DNS", "DNS_ROUND_ROBIN":
		if len(e.Endpoints) == 0 {
			for i, h := range e.Hosts {
				if strings.HasPrefix(h, "*") {
					errs = append(errs, meshError(pos, fmt.Sprintf("host %q is a wildcard, which resolution %s cannot resolve", h, e.Resolution),
						"use resolution NONE for wildcard hosts, or list endpoints to resolve instead", meshJoin(base, "hosts", i)...))
				}
			}
		}
	}
	for i, ep := range e.Endpoints {
		for _, p := range slices.Sorted(maps.Keys(ep.Ports)) {
			if _, ok := names[p]; !ok {
				errs = append(errs, meshError(pos, fmt.Sprintf("port name %q is not declared in ports", p),
					"declared port names: "+strings.Join(slices.Sorted(maps.Keys(names)), ", "), meshJoin(base, "endpoints", i, "ports", p)...))
			}
		}
	}
	return errs
}

// LookupRawKind finds the kind of an apiVersion and kind, or says why
// there is none.
func LookupRawKind(apiVersion, kind string) (RawKind, error) {
	group, version, _ := strings.Cut(apiVersion, "/")
	for _, k := range RawKinds {
		if k.Kind != kind {
			continue
		}
		for _, v := range k.Versions {
			if k.Group == group && v == version {
				return k, nil
			}
		}
		var served []string
		for _, v := range k.Versions {
			served = append(served, k.Group+"/"+v)
		}
		return k, fmt.Errorf("%s is served as %s, not %s", kind, strings.Join(served, ", "), apiVersion)
	}
	return RawKind{}, fmt.Errorf("kind %q is not an Istio kind sailplan knows", kind)
}

func rawKindNames() string {
	var names []string
	for _, k := range RawKinds {
		names = append(names, k.Kind)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// validateRaws checks every raw object, and records its file.
func validateRaws(in *Intents, pos posFunc) Errors {
	var errs Errors
	for i := range in.Raw {
		errs = append(errs, validateRaw(i, in.Raw[i], pos)...)
		in.Raw[i].Source = pos("raw", i).Filename
	}
	return errs
}

func validateRaw(i int, o RawObject, pos posFunc) Errors {
	k, err := LookupRawKind(o.APIVersion, o.Kind)
	if err != nil {
		if k.Kind == "" {
			return Errors{meshError(pos, err.Error(), "kinds: "+rawKindNames(), "raw", i, "kind")}
		}
		return Errors{meshError(pos, err.Error(), "use one of the served versions; v1 is the current one where it exists", "raw", i, "apiVersion")}
	}
	d := json.NewDecoder(bytes.NewReader(o.Spec))
	d.UseNumber()
	var spec any
	if err := d.Decode(&spec); err != nil {
		return Errors{meshError(pos, fmt.Sprintf("spec is not JSON: %v", err), "", "raw", i, "spec")}
	}
	msg := k.NewSpec()
	w := &rawWalker{pos: pos, kind: o.Kind}
	w.message(msg.ProtoReflect().Descriptor(), spec, []any{"raw", i, "spec"})
	if len(w.errs) > 0 {
		return w.errs
	}
	// The walk covers the shape; protojson covers the values (numbers,
	// durations, well-known types) with Istio's own types.
	if err := protojson.Unmarshal(o.Spec, msg); err != nil {
		return Errors{meshError(pos, fmt.Sprintf("spec is not a valid Istio %s: %s", o.Kind, protojsonMsg(err)), "", "raw", i, "spec")}
	}
	if ap, ok := msg.(*securityv1beta1.AuthorizationPolicy); ok {
		return validateRawAuthorization(i, o, ap, pos)
	}
	return nil
}

var protojsonPrefix = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

func protojsonMsg(err error) string {
	// protojson's messages use a non-breaking space after "proto:" to keep
	// them unstable; normalise them.
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return protojsonPrefix.ReplaceAllString(s, "")
}

// rawDeprecated says what replaces the deprecated fields and enum values of
// the kinds sailplan knows (marked deprecated in istio.io/api's protos, or
// in their comments).
var rawDeprecated = map[protoreflect.FullName]string{
	"istio.networking.v1alpha3.OutlierDetection.consecutive_errors":                     "use consecutive5xxErrors (any 5xx response counts) or consecutiveGatewayErrors (502, 503 and 504 only, which is what consecutiveErrors counted)",
	"istio.networking.v1alpha3.LoadBalancerSettings.ConsistentHashLB.minimum_ring_size": "use ringHash: {minimumRingSize: N} inside consistentHash",
	"istio.networking.v1alpha3.LoadBalancerSettings.warmup_duration_secs":               "use warmup: {duration: \"...\"}",
	"istio.networking.v1alpha3.LoadBalancerSettings.LEAST_CONN":                         "use LEAST_REQUEST",
	"istio.networking.v1alpha3.HTTPRoute.mirror_percent":                                "use mirrorPercentage: {value: PERCENT}",
	"istio.networking.v1alpha3.CorsPolicy.allow_origin":                                 "use allowOrigins: [{exact: \"https://...\"}]",
	"istio.networking.v1alpha3.HTTPFaultInjection.Delay.percent":                        "use percentage: {value: PERCENT}",
	"istio.networking.v1alpha3.Port.target_port":                                        "it has no effect; remove it",
	"istio.networking.v1alpha3.SidecarPort.target_port":                                 "it has no effect; remove it",
}

// rawWalker checks a raw spec against the protobuf descriptor of its kind,
// field by field, so that each mistake is reported at its own line.
type rawWalker struct {
	pos  posFunc
	kind string
	errs Errors
}

func (w *rawWalker) add(msg, hint string, path []any) {
	w.errs = append(w.errs, meshError(w.pos, msg, hint, path...))
}

// protoTypeName is a message's name without its package, as Istio's reference
// docs name it: ConnectionPoolSettings.HTTPSettings.
func protoTypeName(md protoreflect.Descriptor) string {
	return strings.TrimPrefix(string(md.FullName()), string(md.ParentFile().Package())+".")
}

func (w *rawWalker) message(md protoreflect.MessageDescriptor, v any, path []any) {
	if v == nil {
		return
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return // well-known types have their own JSON forms; protojson checks them
	}
	obj, ok := v.(map[string]any)
	if !ok {
		w.add(fmt.Sprintf("want an object (Istio's %s), got %s", protoTypeName(md), jsonKindOf(v)), "", path)
		return
	}
	oneofs := map[protoreflect.FullName]string{}
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		fp := meshJoin(path, key)
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			w.unknownField(md, key, fp)
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, ok := oneofs[od.FullName()]; ok {
				first, second := other, key
				// Report at the field written last, which is the one a user
				// just added.
				if p1, p2 := w.pos(meshJoin(path, first)...), w.pos(fp...); p1.Filename == p2.Filename && p1.Offset > p2.Offset {
					first, second = second, first
				}
				var alts []string
				for j := 0; j < od.Fields().Len(); j++ {
					alts = append(alts, od.Fields().Get(j).JSONName())
				}
				w.add(fmt.Sprintf("%s and %s are alternatives in Istio's %s: set only one", first, second, protoTypeName(md)),
					fmt.Sprintf("%s takes one of %s; keep the one you mean and remove the other", protoTypeName(md), strings.Join(alts, ", ")),
					meshJoin(path, second))
			} else {
				oneofs[od.FullName()] = key
			}
		}
		if hint, ok := rawDeprecated[fd.FullName()]; ok {
			w.add(fmt.Sprintf("%s is deprecated in Istio's %s", key, protoTypeName(md)), hint, fp)
		} else if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			w.add(fmt.Sprintf("%s is deprecated in Istio's %s", key, protoTypeName(md)), "see Istio's reference for what replaces it", fp)
		}
		w.field(fd, obj[key], fp)
	}
	for j := 0; j < md.Fields().Len(); j++ {
		fd := md.Fields().Get(j)
		if _, ok := obj[fd.JSONName()]; ok || !protoRequired(fd) {
			continue
		}
		w.add(fmt.Sprintf("%s is required in Istio's %s", fd.JSONName(), protoTypeName(md)), "", path)
	}
}

func protoRequired(fd protoreflect.FieldDescriptor) bool {
	for _, b := range proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior) {
		if b == annotations.FieldBehavior_REQUIRED {
			return true
		}
	}
	return false
}

func (w *rawWalker) field(fd protoreflect.FieldDescriptor, v any, path []any) {
	if v == nil {
		return
	}
	switch {
	case fd.IsMap():
		m, ok := v.(map[string]any)
		if !ok {
			w.add(fmt.Sprintf("want an object, got %s", jsonKindOf(v)), "", path)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			w.single(fd.MapValue(), m[k], meshJoin(path, k))
		}
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			w.add(fmt.Sprintf("want a list, got %s", jsonKindOf(v)), "", path)
			return
		}
		for i, e := range l {
			w.single(fd, e, meshJoin(path, i))
		}
	default:
		w.single(fd, v, path)
	}
}

func (w *rawWalker) single(fd protoreflect.FieldDescriptor, v any, path []any) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.message(fd.Message(), v, path)
	case protoreflect.EnumKind:
		s, ok := v.(string)
		if !ok {
			return // a number; protojson checks it
		}
		ed := fd.Enum()
		ev := ed.Values().ByName(protoreflect.Name(s))
		if ev == nil {
			var names []string
			for j := 0; j < ed.Values().Len(); j++ {
				if opts, ok := ed.Values().Get(j).Options().(*descriptorpb.EnumValueOptions); !ok || !opts.GetDeprecated() {
					names = append(names, string(ed.Values().Get(j).Name()))
				}
			}
			w.add(fmt.Sprintf("%q is not a value of Istio's %s", s, protoTypeName(ed)), "values: "+strings.Join(names, ", "), path)
			return
		}
		if hint, ok := rawDeprecated[ev.FullName()]; ok {
			w.add(fmt.Sprintf("%s is deprecated in Istio's %s", s, protoTypeName(ed)), hint, path)
		}
	}
}

// unknownField explains a field the kind does not have: a snake_case
// spelling, a setting put in the wrong block, or a typo.
func (w *rawWalker) unknownField(md protoreflect.MessageDescriptor, key string, path []any) {
	msg := fmt.Sprintf("field not declared in Istio's %s", protoTypeName(md))
	if fd := md.Fields().ByName(protoreflect.Name(key)); fd != nil {
		w.add(msg, fmt.Sprintf("Kubernetes objects use the JSON names of Istio's fields: write %s", fd.JSONName()), path)
		return
	}
	// Outlier-detection settings written under connectionPool (scenario 3
	// of the seed scenarios): point at the block they belong in.
	if strings.HasPrefix(string(md.FullName()), "istio.networking.v1alpha3.ConnectionPoolSettings") {
		od := (&networkingv1alpha3.OutlierDetection{}).ProtoReflect().Descriptor()
		if od.Fields().ByJSONName(key) != nil {
			where := []any{"spec", "trafficPolicy", "outlierDetection"}
			for j, p := range path {
				if p == "connectionPool" {
					where = meshJoin(path[2:j], "outlierDetection") // from spec on
					break
				}
			}
			target := pathOf(where)
			w.add(msg, fmt.Sprintf("%s is an outlier-detection (circuit breaker) setting: move it to %s, next to connectionPool", key, target), path)
			return
		}
	}
	var names []string
	for j := 0; j < md.Fields().Len(); j++ {
		names = append(names, md.Fields().Get(j).JSONName())
	}
	sort.Strings(names)
	if s := closest(key, names); s != "" {
		w.add(msg, fmt.Sprintf("did you mean %q? fields allowed here: %s", s, strings.Join(names, ", ")), path)
		return
	}
	w.add(msg, "fields allowed here: "+strings.Join(names, ", "), path)
}

func jsonKindOf(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}
