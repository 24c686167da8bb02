package explain

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"
)

// gatewayEntry is what the gateway's pods are, as a proxy on the way.
type gatewayEntry struct {
	workload workload
	source   source
}

// server is a Gateway's server, on the pods the request reaches.
type server struct {
	gateway *object[networking.Gateway]
	spec    *networking.Server
	// host is the server host (without namespace) that covers the
	// request's host.
	host string
}

// splitServerHost splits a server's "NAMESPACE/host" entries; a host without a
// namespace admits VirtualServices of every namespace.
func splitServerHost(h string) (ns, host string) {
	if ns, host, ok := strings.Cut(h, "/"); ok {
		return ns, host
	}
	return "*", h
}

// serverHost is the most specific host of s that covers name, or "".
func serverHost(s *networking.Server, name string) string {
	best := ""
	for _, h := range s.GetHosts() {
		_, host := splitServerHost(h)
		if hostMatch(strings.ToLower(host), name) && (best == "" || specificity(host) > specificity(best)) {
			best = host
		}
	}
	return best
}

// enterGateway finds the server that takes the request on the gateway's
// pods: among the servers of every Gateway that selects the same pods
// (Istio merges them), one on the request's port whose hosts cover the
// request's host, the most specific host first. It returns nil when the
// gateway does not take the request.
func (x *explainer) enterGateway(r *routed) (*gatewayEntry, error) {
	ns, name, _ := strings.Cut(x.req.Gateway, "/")
	var named *object[networking.Gateway]
	var declared []string
	for i := range x.idx.gateways {
		g := &x.idx.gateways[i]
		declared = append(declared, g.ref.String())
		if g.ref.Namespace == ns && g.ref.Name == name {
			named = g
		}
	}
	if named == nil {
		have := "none"
		if len(declared) > 0 {
			have = strings.Join(declared, ", ")
		}
		return nil, fmt.Errorf("gateway %s: the intents declare no Gateway of that name (they declare %s): give --gateway one of them, or leave it out for a request from inside the mesh", x.req.Gateway, have)
	}
	host, _ := splitHostPort(x.req.Host)
	var servers []server
	for i := range x.idx.gateways {
		g := &x.idx.gateways[i]
		if !maps.Equal(g.spec.GetSelector(), named.spec.GetSelector()) {
			continue
		}
		for _, s := range g.spec.GetServers() {
			servers = append(servers, server{gateway: g, spec: s, host: serverHost(s, host)})
		}
	}
	port := x.req.Port
	if port == 0 {
		// The port of the first server that serves the host, else of the
		// first server: the https shorthand lists HTTPS first.
		for _, s := range servers {
			if s.host != "" {
				port = int(s.spec.GetPort().GetNumber())
				break
			}
		}
		if port == 0 && len(servers) > 0 {
			port = int(servers[0].spec.GetPort().GetNumber())
		}
		x.assume(fmt.Sprintf("the request is for port %d, the first of the gateway's servers for its host (--port to choose)", port))
	}
	r.port = port
	sel := named.spec.GetSelector()
	x.ex.Entry = Entry{Via: "gateway", Port: port, Names: []string{host}}
	var best *server
	onPort := false
	for i := range servers {
		s := &servers[i]
		if int(s.spec.GetPort().GetNumber()) != port {
			continue
		}
		onPort = true
		if s.host != "" && (best == nil || specificity(s.host) > specificity(best.host)) {
			best = s
		}
	}
	wl := workload{what: fmt.Sprintf("gateway %s (pods %s)", named.ref, labelString(sel)), namespace: ns, labels: sel}
	src := source{what: "a client outside the mesh, without an mTLS identity"}
	if x.req.SourceIP != "" {
		src.ip = x.req.SourceIP
	}
	switch {
	case !onPort:
		x.ex.Entry.Problem = fmt.Sprintf("no server of the gateway's pods listens on port %d", port)
	case best == nil:
		x.ex.Entry.Problem = fmt.Sprintf("no server on port %d serves host %s", port, host)
	}
	if best == nil {
		ref := named.ref
		x.ex.Entry.Gateway = &ref
		x.ex.Outcome = "not-accepted"
		return nil, nil
	}
	gref := best.gateway.ref
	x.ex.Entry.Gateway = &gref
	x.ex.Entry.Server = best.spec.GetPort().GetName()
	x.ex.Entry.Protocol = strings.ToUpper(best.spec.GetPort().GetProtocol())
	x.server = best
	r.by = proxy{gateway: gref.String(), labels: sel, namespace: gref.Namespace}
	x.assume(fmt.Sprintf("the pods of gateway %s run in its namespace and carry its selector's labels (%s); other labels of theirs are unknown", named.ref, labelString(sel)))
	switch x.ex.Entry.Protocol {
	case "HTTPS":
		if best.spec.GetTls().GetMode() == networking.ServerTLSSettings_PASSTHROUGH || best.spec.GetTls().GetMode() == networking.ServerTLSSettings_AUTO_PASSTHROUGH {
			x.ex.Outcome = "not-http"
			x.ex.Entry.Problem = "the server passes TLS through to the destination: it routes by SNI, not by HTTP routes"
			return nil, nil
		}
		r.scheme = "https"
	case "HTTP", "HTTP2", "GRPC":
	default:
		x.ex.Outcome = "not-http"
		x.ex.Entry.Problem = fmt.Sprintf("the server takes %s: it routes connections, not HTTP requests, which is all explain follows", x.ex.Entry.Protocol)
		return nil, nil
	}
	if best.spec.GetTls().GetHttpsRedirect() {
		x.ex.Outcome = "redirected"
		x.ex.Verdict.Status = 301
		x.ex.Verdict.Summary = fmt.Sprintf("the server %s redirects plain HTTP to https://%s%s", x.ex.Entry.Server, host, x.req.Path)
	}
	return &gatewayEntry{workload: wl, source: src}, nil
}

// admits reports whether the gateway server that took the request admits
// VirtualServices of namespace ns for its host ("./host" and
// "NAMESPACE/host" limit them to one namespace).
func (x *explainer) admits(ns string) bool {
	for _, h := range x.server.spec.GetHosts() {
		hns, host := splitServerHost(h)
		if strings.ToLower(host) != x.server.host {
			continue
		}
		if hns == "*" || hns == ns || (hns == "." && ns == x.server.gateway.ref.Namespace) {
			return true
		}
	}
	return false
}

// admitted are the namespaces whose VirtualServices the server that took
// the request admits for its host.
func (x *explainer) admitted() []string {
	var out []string
	for _, h := range x.server.spec.GetHosts() {
		hns, host := splitServerHost(h)
		if strings.ToLower(host) != x.server.host {
			continue
		}
		if hns == "." {
			hns = x.server.gateway.ref.Namespace
		}
		out = append(out, hns)
	}
	return out
}

// enterMesh is a request from a sidecar: routed by the names the client's
// DNS search path gives the host.
func (x *explainer) enterMesh(r *routed) {
	host, _ := splitHostPort(x.req.Host)
	names := meshNames(host, x.req.FromNamespace)
	port := x.req.Port
	if port == 0 {
		port = 80
		for _, name := range sortedKeys(x.view.Services) {
			svc := x.view.Services[name]
			h := svc.Host
			if h == "" {
				h = name
			}
			if slices.Contains(names, fqdn(h, svc.Namespace)) && svc.Port != 0 {
				port = svc.Port
			}
		}
		x.assume(fmt.Sprintf("the request is for port %d (--port to choose)", port))
	}
	r.port = port
	r.by = proxy{gateway: "mesh", labels: x.req.SourceLabels, namespace: x.req.FromNamespace}
	x.ex.Entry = Entry{Via: "mesh", Port: port, Names: names}
}

// gatewaysOf are the gateways a VirtualService is bound to, as
// NAMESPACE/NAME or "mesh"; none means mesh only.
func gatewaysOf(vs *object[networking.VirtualService]) []string {
	gws := vs.spec.GetGateways()
	if len(gws) == 0 {
		return []string{"mesh"}
	}
	out := make([]string, len(gws))
	for i, g := range gws {
		if g != "mesh" && !strings.Contains(g, "/") {
			g = vs.ref.Namespace + "/" + g
		}
		out[i] = g
	}
	return out
}

// route finds the VirtualServices that take the request and walks their
// routes in order: the first route with a matching alternative wins.
func (x *explainer) route(r *routed) {
	type eligible struct {
		vs   *object[networking.VirtualService]
		host string
		i    int // in x.ex.VirtualServices
	}
	var ok []eligible
	for i := range x.idx.virtualServices {
		vs := &x.idx.virtualServices[i]
		matched := ""
		for _, h := range vs.spec.GetHosts() {
			p := fqdn(h, vs.ref.Namespace)
			for _, n := range x.ex.Entry.Names {
				if hostMatch(p, n) && (matched == "" || specificity(p) > specificity(matched)) {
					matched = p
				}
			}
		}
		if matched == "" {
			continue
		}
		c := Candidate{VirtualService: vs.ref, Host: matched}
		bound := gatewaysOf(vs)
		switch {
		case !slices.Contains(bound, r.by.gateway):
			if r.by.gateway == "mesh" {
				c.Why = "bound to " + strings.Join(bound, ", ") + " only: it does not route sidecars' requests (that takes \"mesh\" among its gateways)"
			} else {
				c.Why = "not bound to " + r.by.gateway + " (its gateways: " + strings.Join(bound, ", ") + ")"
			}
		case r.by.gateway != "mesh" && !x.admits(vs.ref.Namespace):
			c.Why = fmt.Sprintf("the gateway's server for %s admits VirtualServices of namespace %s only", x.server.host, strings.Join(x.admitted(), ", "))
		case len(vs.spec.GetHttp()) == 0:
			c.Why = "it has no HTTP routes"
		default:
			ok = append(ok, eligible{vs: vs, host: matched, i: len(x.ex.VirtualServices)})
		}
		x.ex.VirtualServices = append(x.ex.VirtualServices, c)
	}
	best := -1
	for _, e := range ok {
		best = max(best, specificity(e.host))
	}
	var used []*object[networking.VirtualService]
	for _, e := range ok {
		c := &x.ex.VirtualServices[e.i]
		switch {
		case specificity(e.host) < best:
			c.Why = "a VirtualService for a more specific host takes the request"
		case len(used) > 0 && r.by.gateway == "mesh":
			c.Why = fmt.Sprintf("it claims %s for sidecars too: Istio keeps one of them, the oldest; explain takes the first by namespace and name, %s", e.host, used[0].ref)
			x.assume("of VirtualServices that claim the same host for sidecars, the first by namespace and name is the oldest")
		default:
			c.Used = true
			c.Why = "its host " + e.host + " names the request's host and it is bound to " + r.by.gateway
			if len(used) > 0 {
				c.Why += "; Istio appends its routes to those of " + used[len(used)-1].ref.String() + ", the gateway's VirtualServices for a host being merged oldest first"
				x.assume("of VirtualServices merged on a gateway, the first by namespace and name is the oldest")
			}
			used = append(used, e.vs)
		}
	}
	if len(used) == 0 {
		x.noVirtualService(r)
		return
	}
	for _, vs := range used {
		for i, hr := range vs.spec.GetHttp() {
			rc := RouteCheck{VirtualService: vs.ref.String(), Index: i + 1, Name: hr.GetName()}
			if len(hr.GetMatch()) == 0 {
				rc.Matched, rc.Conditions = true, []string{"no match conditions: every request"}
			}
			for j, m := range hr.GetMatch() {
				held, conds, _ := matchHTTP(m, r)
				if held {
					rc.Matched, rc.Alternative, rc.Conditions = true, j+1, conds
					if len(conds) == 0 {
						rc.Conditions = []string{"an empty match: every request"}
					}
					break
				}
				c := conds[0]
				if len(hr.GetMatch()) > 1 {
					c = fmt.Sprintf("alternative %d: %s", j+1, c)
				}
				rc.Conditions = append(rc.Conditions, c)
			}
			x.ex.Routes = append(x.ex.Routes, rc)
			if rc.Matched {
				x.takeRoute(vs, i, hr, r)
				return
			}
		}
	}
	x.ex.Outcome = "no-route"
	x.ex.Verdict.Status = 404
	x.ex.Verdict.Summary = "no route matches: the " + r.by.what() + "'s proxy answers 404"
}

// noVirtualService is a request no VirtualService takes: a gateway has
// nothing to route it by (404); a sidecar sends it to its host as it is,
// over every endpoint.
func (x *explainer) noVirtualService(r *routed) {
	if r.by.gateway != "mesh" {
		x.ex.Outcome = "no-route"
		x.ex.Verdict.Status = 404
		x.ex.Verdict.Summary = fmt.Sprintf("no VirtualService bound to %s serves %s: the gateway answers 404", r.by.gateway, x.ex.Entry.Names[0])
		return
	}
	x.ex.Outcome = "no-virtual-service"
	names := x.ex.Entry.Names
	d := Destination{Host: names[0], FQDN: names[len(names)-1], Port: r.port, Weight: 100}
	if _, ok := serviceNamespace(d.FQDN); !ok {
		d.External = x.external(d.FQDN, r.port)
	}
	x.ex.Destinations = []Destination{d}
}

// external says how a sidecar treats a host that is not a service of the
// cluster: a ServiceEntry's, or passed through.
func (x *explainer) external(host string, port int) string {
	for _, se := range x.idx.serviceEntries {
		for _, h := range se.spec.GetHosts() {
			if !hostMatch(fqdn(h, se.ref.Namespace), host) {
				continue
			}
			for _, p := range se.spec.GetPorts() {
				if int(p.GetNumber()) != port {
					continue
				}
				switch proto := strings.ToUpper(p.GetProtocol()); proto {
				case "HTTP", "HTTP2", "GRPC":
					return fmt.Sprintf("an external service (ServiceEntry %s): no sidecar of the mesh answers for it", se.ref)
				default:
					return fmt.Sprintf("ServiceEntry %s declares port %d as %s: the sidecar forwards the connection (TLS by SNI), it does not route HTTP", se.ref, port, proto)
				}
			}
			return fmt.Sprintf("ServiceEntry %s does not declare port %d: the sidecar passes the request through, or refuses it (502) under outboundTrafficPolicy REGISTRY_ONLY", se.ref, port)
		}
	}
	return "not a service that the intents declare: a service of the cluster, or passed through (refused with 502 under outboundTrafficPolicy REGISTRY_ONLY)"
}

// takeRoute records what the matching route does.
func (x *explainer) takeRoute(vs *object[networking.VirtualService], i int, hr *networking.HTTPRoute, r *routed) {
	rt := &Route{VirtualService: vs.ref, Index: i + 1, Name: hr.GetName()}
	x.ex.Route = rt
	if name, ok := strings.CutPrefix(vs.ref.Intent, "services/"); ok {
		if svc := x.view.Services[name]; svc != nil && svc.Canary != nil && i < len(svc.Routes) {
			if sr := svc.Routes[i]; sr.To == nil && sr.Destinations == nil && sr.Redirect == nil {
				rt.Canary = x.canaryOf(name, svc)
			}
		}
	}
	switch {
	case hr.GetDelegate() != nil:
		x.ex.Outcome = "delegated"
		rt.Problem = fmt.Sprintf("the route delegates to VirtualService %s/%s, which explain does not follow", hr.GetDelegate().GetNamespace(), hr.GetDelegate().GetName())
		x.ex.Verdict.Summary = rt.Problem
		return
	case hr.GetRedirect() != nil:
		rd := hr.GetRedirect()
		code := int(rd.GetRedirectCode())
		if code == 0 {
			code = 301
		}
		x.ex.Outcome = "redirected"
		x.ex.Verdict.Status = code
		rt.Redirect = describeRedirect(rd, r)
		x.ex.Verdict.Summary = fmt.Sprintf("redirected (%d) to %s", code, rt.Redirect)
	case hr.GetDirectResponse() != nil:
		x.ex.Outcome = "direct-response"
		x.ex.Verdict.Status = int(hr.GetDirectResponse().GetStatus())
		x.ex.Verdict.Summary = fmt.Sprintf("the proxy answers %d itself", x.ex.Verdict.Status)
	default:
		x.ex.Outcome = "routed"
		rt.Timeout, rt.Retries = timeoutOf(hr), retriesOf(hr)
		ds := hr.GetRoute()
		for _, d := range ds {
			if len(ds) > 1 && d.GetWeight() == 0 {
				// Istio leaves out weight-0 destinations of a split.
				continue
			}
			w := int(d.GetWeight())
			if len(ds) == 1 {
				w = 100
			}
			dest := Destination{Host: d.GetDestination().GetHost(), FQDN: fqdn(d.GetDestination().GetHost(), vs.ref.Namespace),
				Subset: d.GetDestination().GetSubset(), Port: int(d.GetDestination().GetPort().GetNumber()), Weight: w}
			if dest.Port == 0 {
				dest.Port = r.port
			}
			if c := rt.Canary; c != nil {
				switch dest.Subset {
				case c.Stable:
					dest.Role = "stable"
				case c.Candidate:
					dest.Role = "candidate"
				}
			}
			x.ex.Destinations = append(x.ex.Destinations, dest)
		}
	}
	rt.Fault = describeFault(hr.GetFault())
	rt.Mirror = describeMirrors(hr, vs.ref.Namespace)
	rt.Rewrite = describeRewrite(hr.GetRewrite())
	rt.Headers = describeHeaders(hr.GetHeaders())
	rt.CORS = describeCORS(hr.GetCorsPolicy(), x.req.Headers["origin"])
}

// dur writes a protobuf duration as Go does, without empty units: "30s",
// "24h", "1m30s".
func dur(d *durationpb.Duration) string {
	s := d.AsDuration().String()
	for _, zero := range []string{"0s", "0m"} {
		if strings.HasSuffix(s, zero) && len(s) > len(zero) && !strings.HasSuffix(s, "."+zero) {
			t := strings.TrimSuffix(s, zero)
			if c := t[len(t)-1]; c == 'm' || c == 'h' {
				s = t
			}
		}
	}
	return s
}

func timeoutOf(hr *networking.HTTPRoute) string {
	if hr.GetTimeout() == nil || hr.GetTimeout().AsDuration() == 0 {
		return "none: Istio turns Envoy's 15s default off, so a request waits as long as the destination takes"
	}
	return dur(hr.GetTimeout())
}

// Istio's retry policy for a route that sets none (its retry.DefaultPolicy).
const (
	defaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	defaultRetries = "not set: Istio's default, 2 attempts on " + defaultRetryOn + " (503), unless meshConfig.defaultHttpRetryPolicy says otherwise"
)

func retriesOf(hr *networking.HTTPRoute) string {
	rp := hr.GetRetries()
	switch {
	case rp == nil:
		return defaultRetries
	case rp.GetAttempts() == 0:
		return "none (attempts: 0)"
	}
	perTry := "each within the route's timeout"
	if rp.GetPerTryTimeout() != nil {
		perTry = dur(rp.GetPerTryTimeout()) + " each"
	}
	on := rp.GetRetryOn()
	if on == "" {
		on = defaultRetryOn
	}
	return fmt.Sprintf("%d attempts, %s, on %s", rp.GetAttempts(), perTry, on)
}

func percent(p *networking.Percent) string {
	if p == nil {
		return "100%"
	}
	return fmt.Sprintf("%g%%", p.GetValue())
}

func describeFault(f *networking.HTTPFaultInjection) []string {
	var out []string
	if d := f.GetDelay(); d != nil {
		delay := d.GetFixedDelay()
		if delay == nil {
			delay = d.GetExponentialDelay()
		}
		out = append(out, fmt.Sprintf("delay of %s for %s of requests", dur(delay), percent(d.GetPercentage())))
	}
	if a := f.GetAbort(); a != nil {
		what := fmt.Sprintf("HTTP %d", a.GetHttpStatus())
		if a.GetGrpcStatus() != "" {
			what = "gRPC " + a.GetGrpcStatus()
		}
		out = append(out, fmt.Sprintf("abort with %s for %s of requests", what, percent(a.GetPercentage())))
	}
	return out
}

func describeDestination(d *networking.Destination, ns string) string {
	s := fqdn(d.GetHost(), ns)
	if d.GetSubset() != "" {
		s += " subset " + d.GetSubset()
	}
	if p := d.GetPort().GetNumber(); p != 0 {
		s += fmt.Sprintf(" port %d", p)
	}
	return s
}

func describeMirrors(hr *networking.HTTPRoute, ns string) []string {
	var out []string
	if m := hr.GetMirror(); m != nil {
		pct := percent(hr.GetMirrorPercentage())
		if hr.GetMirrorPercentage() == nil && hr.GetMirrorPercent() != nil {
			pct = fmt.Sprintf("%d%%", hr.GetMirrorPercent().GetValue())
		}
		out = append(out, fmt.Sprintf("a copy of %s of requests to %s, whose answers are dropped", pct, describeDestination(m, ns)))
	}
	for _, m := range hr.GetMirrors() {
		out = append(out, fmt.Sprintf("a copy of %s of requests to %s, whose answers are dropped", percent(m.GetPercentage()), describeDestination(m.GetDestination(), ns)))
	}
	return out
}

func describeRewrite(rw *networking.HTTPRewrite) string {
	if rw == nil {
		return ""
	}
	var parts []string
	if rw.GetUri() != "" {
		parts = append(parts, fmt.Sprintf("the matched path prefix to %q", rw.GetUri()))
	}
	if rx := rw.GetUriRegexRewrite(); rx != nil {
		parts = append(parts, fmt.Sprintf("the path by regex %q to %q", rx.GetMatch(), rx.GetRewrite()))
	}
	if rw.GetAuthority() != "" {
		parts = append(parts, fmt.Sprintf("the authority to %q", rw.GetAuthority()))
	}
	return strings.Join(parts, ", ")
}

func describeRedirect(rd *networking.HTTPRedirect, r *routed) string {
	scheme := rd.GetScheme()
	if scheme == "" {
		scheme = r.scheme
	}
	host, _ := splitHostPort(r.req.Host)
	if rd.GetAuthority() != "" {
		host = rd.GetAuthority()
	}
	if p := rd.GetPort(); p != 0 {
		host += fmt.Sprintf(":%d", p)
	}
	path := r.path
	if rd.GetUri() != "" {
		path = rd.GetUri()
	}
	return scheme + "://" + host + path
}

func describeHeaders(h *networking.Headers) []string {
	var out []string
	for _, side := range []struct {
		what string
		ops  *networking.Headers_HeaderOperations
	}{{"request", h.GetRequest()}, {"response", h.GetResponse()}} {
		for _, k := range sortedKeys(side.ops.GetSet()) {
			out = append(out, fmt.Sprintf("%s header %s set to %q", side.what, k, side.ops.GetSet()[k]))
		}
		for _, k := range sortedKeys(side.ops.GetAdd()) {
			out = append(out, fmt.Sprintf("%s header %s added: %q", side.what, k, side.ops.GetAdd()[k]))
		}
		for _, k := range side.ops.GetRemove() {
			out = append(out, fmt.Sprintf("%s header %s removed", side.what, k))
		}
	}
	return out
}

// describeCORS sums up a CORS policy and, when the request sends an
// Origin, whether the policy allows it.
func describeCORS(c *networking.CorsPolicy, origin []string) string {
	if c == nil {
		return ""
	}
	var origins []string
	allowed := false
	for _, o := range c.GetAllowOrigins() {
		origins = append(origins, describe(o))
		if len(origin) > 0 {
			if ok, _ := matchValue(o, origin[0], false); ok {
				allowed = true
			}
		}
	}
	s := "origins " + strings.Join(origins, ", ")
	if ms := c.GetAllowMethods(); len(ms) > 0 {
		s += "; methods " + strings.Join(ms, ", ")
	}
	if c.GetMaxAge() != nil {
		s += "; preflight answers kept " + dur(c.GetMaxAge())
	}
	if len(origin) > 0 {
		if allowed {
			s += fmt.Sprintf("; origin %s is allowed", origin[0])
		} else {
			s += fmt.Sprintf("; origin %s is not allowed: the browser gets no CORS headers", origin[0])
		}
	}
	return s
}
