package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// virtualService is what the host checks need of a VirtualService that the
// intents render: a service's, an expose entry's, or a raw one.
type virtualService struct {
	namespace string
	hosts     []string
	// gateways are as the object names them: NAME, NAMESPACE/NAME or mesh;
	// none means the mesh.
	gateways []string
	// claims are the JWT claims its routes match on.
	claims []string
	// expose says that it is a service's expose entry, for its gateway
	// alone.
	expose bool
	// what names it in messages, and where it is declared.
	what string
	path []any
}

func (vs virtualService) onMesh() bool {
	return len(vs.gateways) == 0 || slices.Contains(vs.gateways, "mesh")
}

// virtualServices lists the VirtualServices the intents render, in a
// stable order. Raw objects that do not decode are reported elsewhere.
func virtualServices(in *Intents) []virtualService {
	var out []virtualService
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		s := in.Services[name]
		if len(s.Routes) == 0 {
			continue
		}
		host := s.Host
		if host == "" {
			host = name
		}
		var gws []string
		for _, g := range s.Gateways {
			gws = append(gws, gatewayRef(in, g))
		}
		out = append(out, virtualService{namespace: s.Namespace, hosts: append([]string{host}, s.Hosts...), gateways: gws,
			claims: routeClaims(s.Routes), what: "services." + name, path: []any{"services", name}})
		for i, e := range s.Expose {
			out = append(out, virtualService{namespace: s.Namespace, hosts: e.Hosts, gateways: []string{gatewayRef(in, e.Gateway)},
				claims: routeClaims(s.Routes), expose: true, what: fmt.Sprintf("services.%s.expose[%d]", name, i), path: []any{"services", name, "expose", i}})
		}
	}
	for i, o := range in.Raw {
		if o.Kind != "VirtualService" {
			continue
		}
		var spec struct {
			Hosts    []string `json:"hosts"`
			Gateways []string `json:"gateways"`
			HTTP     []struct {
				Match []struct {
					Headers        map[string]any `json:"headers"`
					WithoutHeaders map[string]any `json:"withoutHeaders"`
				} `json:"match"`
			} `json:"http"`
		}
		if json.Unmarshal(o.Spec, &spec) != nil {
			continue
		}
		vs := virtualService{namespace: o.Metadata.Namespace, hosts: spec.Hosts, gateways: spec.Gateways,
			what: fmt.Sprintf("raw[%d] (VirtualService %s/%s)", i, o.Metadata.Namespace, o.Metadata.Name), path: []any{"raw", i}}
		var headers []string
		for _, r := range spec.HTTP {
			for _, m := range r.Match {
				headers = slices.Concat(headers, slices.Collect(maps.Keys(m.Headers)), slices.Collect(maps.Keys(m.WithoutHeaders)))
			}
		}
		vs.claims = claimsIn(headers)
		out = append(out, vs)
	}
	return out
}

// gatewayRef is a gateway intent's name as the rendered VirtualService
// writes it.
func gatewayRef(in *Intents, name string) string {
	if g, ok := in.Gateways[name]; ok {
		return g.Namespace + "/" + name
	}
	return name
}

// claimHeader is the prefix of the header names that route on a claim of
// the request's validated JWT, which Istio supports on gateways.
const claimHeader = "@request.auth.claims"

func claimOf(header string) (string, bool) {
	rest, ok := strings.CutPrefix(header, claimHeader)
	if !ok {
		return "", false
	}
	return strings.Trim(rest, ".[]"), true
}

func routeClaims(routes []Route) []string {
	var headers []string
	for _, r := range routes {
		for _, m := range r.Match {
			headers = slices.Concat(headers, slices.Collect(maps.Keys(m.Headers)), slices.Collect(maps.Keys(m.WithoutHeaders)))
		}
	}
	return claimsIn(headers)
}

// claimsIn lists, sorted and once each, the claims that header names of
// matches route on.
func claimsIn(headers []string) []string {
	var out []string
	for _, h := range headers {
		if c, ok := claimOf(h); ok {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// gatewayOf finds the gateway intent a VirtualService names, in its
// namespace when the reference has none.
func gatewayOf(in *Intents, vsNamespace, ref string) (string, *Gateway) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = vsNamespace, ref
	}
	if g, ok := in.Gateways[name]; ok && g.Namespace == ns {
		return name, g
	}
	return "", nil
}

// analyzeGatewayHosts reports a VirtualService bound to a gateway intent
// that serves none of its hosts (IST0132): the gateway never hands it a
// request. Like istioctl analyze, a VirtualService with several hosts
// needs one of them served (the others may be for the mesh); an expose
// entry, which is for its gateway alone, needs every host served.
func analyzeGatewayHosts(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, vs := range virtualServices(in) {
		for gi, ref := range vs.gateways {
			name, g := gatewayOf(in, vs.namespace, ref)
			if g == nil {
				continue
			}
			served := func(h string) bool {
				if h != "*" {
					h = fqdn(h, vs.namespace)
				}
				return slices.ContainsFunc(gatewayHosts(g, vs.namespace), func(gh string) bool { return hostsOverlap(gh, h) })
			}
			hint := fmt.Sprintf("gateways.%s serves %s; add the host to one of its servers, or bind the routes to a gateway that serves it", name, strings.Join(gatewayHosts(g, vs.namespace), ", "))
			if vs.expose {
				for hi, h := range vs.hosts {
					if !served(h) {
						errs = append(errs, meshWarning(pos, fmt.Sprintf("host %s is not served by gateways.%s, so no request for it reaches these routes (IST0132)", h, name),
							hint, meshJoin(vs.path, "hosts", hi)...))
					}
				}
				continue
			}
			if !slices.ContainsFunc(vs.hosts, served) {
				errs = append(errs, meshWarning(pos, fmt.Sprintf("none of the hosts %s is served by gateways.%s, so no request through it reaches these routes (IST0132)", strings.Join(vs.hosts, ", "), name),
					hint, vsGatewayPath(vs, gi)...))
			}
		}
	}
	return errs
}

func vsGatewayPath(vs virtualService, i int) []any {
	if vs.path[0] == "raw" {
		return meshJoin(vs.path, "spec", "gateways", i)
	}
	return meshJoin(vs.path, "gateways", i)
}

// gatewayHosts are the hosts a gateway serves to VirtualServices of a
// namespace: a host with a namespace prefix only to that namespace.
func gatewayHosts(g *Gateway, vsNamespace string) []string {
	var out []string
	servers, _ := g.AllServers()
	for _, s := range servers {
		for _, h := range s.Hosts {
			ns, host, ok := strings.Cut(h, "/")
			if !ok {
				host = h
			} else if ns == "." {
				ns = g.Namespace
			}
			if ok && ns != "*" && ns != vsNamespace {
				continue
			}
			out = append(out, host)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hostsOverlap reports whether some name matches both hosts, either of
// which may be a wildcard (*, *.example.com).
func hostsOverlap(a, b string) bool {
	if a == b || a == "*" || b == "*" {
		return true
	}
	wa, wb := strings.HasPrefix(a, "*."), strings.HasPrefix(b, "*.")
	switch {
	case wa && wb:
		return strings.HasSuffix(a[1:], b[1:]) || strings.HasSuffix(b[1:], a[1:])
	case wa:
		return strings.HasSuffix(b, a[1:])
	case wb:
		return strings.HasSuffix(a, b[1:])
	}
	return false
}

// analyzeMeshHosts reports a host that two VirtualServices on the mesh
// claim (IST0109): a sidecar uses one of them, the oldest, in an order
// the author does not control. Services among themselves are an error of
// validateHosts; this adds the raw VirtualServices, as a warning: raw
// objects are the escape hatch, written as Istio takes them, and Istio
// accepts them (explain's precedence tests build exactly this).
func analyzeMeshHosts(in *Intents, pos posFunc) Errors {
	var errs Errors
	owner := map[string]virtualService{}
	for _, vs := range virtualServices(in) {
		if !vs.onMesh() || vs.expose {
			continue
		}
		for hi, h := range vs.hosts {
			key := fqdn(h, vs.namespace)
			first, ok := owner[key]
			if !ok {
				owner[key] = vs
				continue
			}
			if first.path[0] == "services" && vs.path[0] == "services" {
				continue // validateHosts says it
			}
			at := meshJoin(vs.path, "hosts", hi)
			if vs.path[0] == "raw" {
				at = meshJoin(vs.path, "spec", "hosts", hi)
			}
			errs = append(errs, meshWarning(pos,
				fmt.Sprintf("host %s is also routed on the mesh by %s: for one host on the mesh a sidecar uses only one VirtualService, the oldest, in no order you control (IST0109)", h, first.what),
				"route the host in one place: move these routes into "+first.what+", or bind one of them to a gateway only", at...))
		}
	}
	return errs
}

// analyzeClaimRoutes reports routes on JWT claims through a gateway whose
// pods validate no JWT (IST0149): without a RequestAuthentication on them
// there are no claims, and the routes never match.
func analyzeClaimRoutes(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, vs := range virtualServices(in) {
		if len(vs.claims) == 0 {
			continue
		}
		for gi, ref := range vs.gateways {
			name, g := gatewayOf(in, vs.namespace, ref)
			if g == nil || validatesJWT(in, g) {
				continue
			}
			at := vsGatewayPath(vs, gi)
			if vs.expose {
				at = meshJoin(vs.path, "gateway")
			}
			errs = append(errs, meshError(pos,
				fmt.Sprintf("routes match on the JWT claim %s, but no jwt intent validates tokens on the pods of gateways.%s (selector %s), so the claim is never there (IST0149)",
					strings.Join(vs.claims, ", "), name, meshSelectorKey(g.Selector)),
				fmt.Sprintf("declare a jwt intent in namespace %s whose selector matches the gateway's pods, such as selector: %s", jwtNamespaces(g.Namespace), meshSelectorKey(g.Selector)),
				at...))
		}
	}
	return errs
}

// jwtNamespaces says where a RequestAuthentication for a gateway's pods
// may be: the gateway's namespace or Istio's root namespace.
func jwtNamespaces(gatewayNamespace string) string {
	if gatewayNamespace == "istio-system" {
		return gatewayNamespace
	}
	return gatewayNamespace + " (or istio-system)"
}

// validatesJWT reports whether a jwt intent, or a raw
// RequestAuthentication, selects the pods a gateway selects.
func validatesJWT(in *Intents, g *Gateway) bool {
	selects := func(ns string, sel map[string]string) bool {
		if ns != g.Namespace && ns != "istio-system" {
			return false
		}
		for k, v := range sel {
			if g.Selector[k] != v {
				return false
			}
		}
		return true
	}
	for _, j := range in.JWT {
		if selects(j.Namespace, j.Selector) {
			return true
		}
	}
	for _, o := range in.Raw {
		if o.Kind != "RequestAuthentication" {
			continue
		}
		var spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		}
		if json.Unmarshal(o.Spec, &spec) == nil && selects(o.Metadata.Namespace, spec.Selector.MatchLabels) {
			return true
		}
	}
	return false
}
