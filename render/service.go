package render

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/schema"
)

var networkingV1 = networkingv1.SchemeGroupVersion.String()

func init() {
	register("services", services, map[string]phase{"DestinationRule": phaseDestinationRule, "VirtualService": phaseVirtualService})
}

// services renders per service a VirtualService, a DestinationRule when it
// has versions or a policy, and a VirtualService per gateway it is
// exposed through.
func services(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		objs, err := service(in, kind, name, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// service renders one service. What it reads besides the service's own
// intent (its source, its canary weight, the gateways' namespaces) is
// what serviceKey holds: keep the two together.
func service(in *schema.Intents, kind schema.Kind, name string, opts Options) ([]Object, error) {
	var out []Object
	svc := in.Services[name]
	meta := intentMeta(in, kind, name, svc.Namespace, opts)
	meta.Labels[LabelService] = name
	if svc.ForceConflicts {
		meta.Annotations[AnnotationForceConflicts] = "true"
	}
	r := serviceRenderer{in: in, name: name, svc: svc, weight: canaryWeight(name, svc, opts)}
	if len(svc.Routes) > 0 {
		out = append(out, r.virtualService(meta))
	}
	for _, e := range svc.Expose {
		out = append(out, r.exposed(meta, e))
	}
	if len(svc.Versions) > 0 || len(svc.Policy) > 0 {
		dr, err := r.destinationRule(meta)
		if err != nil {
			return nil, fmt.Errorf("services.%s: %w", name, err)
		}
		out = append(out, dr)
	}
	return out, nil
}

// canaryWeight is the candidate's weight in the cluster being rendered:
// the promotion's current step, or 0 before a promotion of this candidate
// has started, so a new candidate never takes traffic on its own. A canary
// at rest has no candidate: its stable version takes the whole split.
func canaryWeight(name string, svc *schema.Service, opts Options) int {
	if svc.Canary == nil || svc.Canary.AtRest() {
		return 0
	}
	st, ok := opts.Canaries[name]
	if !ok || st.Candidate != svc.Canary.Candidate {
		return 0
	}
	return st.Weight
}

type serviceRenderer struct {
	in     *schema.Intents
	name   string
	svc    *schema.Service
	weight int // the canary candidate's weight
}

func (r *serviceRenderer) host() string {
	if r.svc.Host != "" {
		return r.svc.Host
	}
	return r.name
}

func (r *serviceRenderer) virtualService(meta metav1.ObjectMeta) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "VirtualService"},
		ObjectMeta: *meta.DeepCopy(),
	}
	vs.Spec.Hosts = append([]string{r.host()}, r.svc.Hosts...)
	vs.Spec.Gateways = gatewayRefs(r.in, r.svc.Gateways)
	for _, route := range r.svc.Routes {
		vs.Spec.Http = append(vs.Spec.Http, r.httpRoute(route))
	}
	return vs
}

// exposed is the VirtualService that takes a gateway's traffic for the
// public hosts: the service's own routes, limited to the exposed paths.
func (r *serviceRenderer) exposed(meta metav1.ObjectMeta, e schema.Expose) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "VirtualService"},
		ObjectMeta: *meta.DeepCopy(),
	}
	vs.Name = r.name + "-" + e.Gateway
	vs.Spec.Hosts = append([]string(nil), e.Hosts...)
	vs.Spec.Gateways = gatewayRefs(r.in, []string{e.Gateway})
	for _, route := range r.svc.Routes {
		hr := r.httpRoute(route)
		hr.Match = limitToPaths(hr.Match, e.Paths)
		vs.Spec.Http = append(vs.Spec.Http, hr)
	}
	return vs
}

// limitToPaths ANDs each match alternative with "path has one of these
// prefixes". An alternative that already matches the URI keeps its own.
func limitToPaths(matches []*networkingv1alpha3.HTTPMatchRequest, paths []string) []*networkingv1alpha3.HTTPMatchRequest {
	if len(paths) == 0 {
		return matches
	}
	if len(matches) == 0 {
		matches = []*networkingv1alpha3.HTTPMatchRequest{{}}
	}
	var out []*networkingv1alpha3.HTTPMatchRequest
	for _, m := range matches {
		if m.Uri != nil {
			out = append(out, m)
			continue
		}
		for _, p := range paths {
			c := proto.Clone(m).(*networkingv1alpha3.HTTPMatchRequest)
			c.Uri = &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: p}}
			out = append(out, c)
		}
	}
	return out
}

func (r *serviceRenderer) httpRoute(route schema.Route) *networkingv1alpha3.HTTPRoute {
	hr := &networkingv1alpha3.HTTPRoute{Name: route.Name}
	for _, m := range route.Match {
		hr.Match = append(hr.Match, r.httpMatch(m))
	}
	switch {
	case route.Redirect != nil:
		hr.Redirect = redirect(route.Redirect)
	case route.To != nil:
		// Sorted by version so that the output does not depend on map order.
		for _, v := range slices.Sorted(maps.Keys(route.To)) {
			hr.Route = append(hr.Route, r.subset(v, route.To[v]))
		}
	case route.Destinations != nil:
		for _, d := range route.Destinations {
			hr.Route = append(hr.Route, &networkingv1alpha3.HTTPRouteDestination{
				Destination: destination(d.Host, d.Version, d.Port),
				Weight:      int32(d.Weight),
			})
		}
	default: // the canary's split
		c := r.svc.Canary
		hr.Route = append(hr.Route, r.subset(c.Stable, 100-r.weight), r.subset(c.Candidate, r.weight))
	}
	hr.Route = withoutZeroWeights(hr.Route)
	if route.Rewrite != nil {
		hr.Rewrite = &networkingv1alpha3.HTTPRewrite{Uri: route.Rewrite.URI, Authority: route.Rewrite.Authority}
		if rx := route.Rewrite.URIRegex; rx != nil {
			hr.Rewrite.UriRegexRewrite = &networkingv1alpha3.RegexRewrite{Match: rx.Match, Rewrite: rx.Rewrite}
		}
	}
	if h := route.Headers; h != nil {
		hr.Headers = &networkingv1alpha3.Headers{Request: headerOps(h.Request), Response: headerOps(h.Response)}
	}
	timeout, retries := route.Timeout, route.Retries
	if timeout == nil {
		timeout = r.svc.Timeout
	}
	if retries == nil {
		retries = r.svc.Retries
	}
	if route.Redirect == nil {
		hr.Timeout = duration(timeout)
		hr.Retries = httpRetry(retries)
	}
	if f := route.Fault; f != nil {
		hr.Fault = &networkingv1alpha3.HTTPFaultInjection{}
		if f.Delay != nil {
			hr.Fault.Delay = &networkingv1alpha3.HTTPFaultInjection_Delay{
				HttpDelayType: &networkingv1alpha3.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(f.Delay.FixedDelay)},
				Percentage:    &networkingv1alpha3.Percent{Value: f.Delay.Percent},
			}
		}
		if f.Abort != nil {
			hr.Fault.Abort = &networkingv1alpha3.HTTPFaultInjection_Abort{
				ErrorType:  &networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: int32(f.Abort.HTTPStatus)},
				Percentage: &networkingv1alpha3.Percent{Value: f.Abort.Percent},
			}
		}
	}
	if m := route.Mirror; m != nil {
		host := m.Host
		if host == "" {
			host = r.host()
		}
		port := m.Port
		if port == 0 && host == r.host() {
			port = r.svc.Port
		}
		hr.Mirror = destination(host, m.Version, port)
		hr.MirrorPercentage = &networkingv1alpha3.Percent{Value: m.Percent}
	}
	if c := route.CORS; c != nil {
		hr.CorsPolicy = corsPolicy(c)
	}
	return hr
}

// withoutZeroWeights drops destinations that take no traffic: Istio sends
// them nothing either way, and protobuf's JSON would print them without a
// weight, which reads as "unset" rather than 0.
func withoutZeroWeights(ds []*networkingv1alpha3.HTTPRouteDestination) []*networkingv1alpha3.HTTPRouteDestination {
	out := ds[:0]
	for _, d := range ds {
		if d.Weight > 0 {
			out = append(out, d)
		}
	}
	return out
}

// subset is a weighted destination on a version of this service.
func (r *serviceRenderer) subset(version string, weight int) *networkingv1alpha3.HTTPRouteDestination {
	return &networkingv1alpha3.HTTPRouteDestination{
		Destination: destination(r.host(), version, r.svc.Port),
		Weight:      int32(weight),
	}
}

func destination(host, subset string, port int) *networkingv1alpha3.Destination {
	d := &networkingv1alpha3.Destination{Host: host, Subset: subset}
	if port != 0 {
		d.Port = &networkingv1alpha3.PortSelector{Number: uint32(port)}
	}
	return d
}

func (r *serviceRenderer) httpMatch(m schema.Match) *networkingv1alpha3.HTTPMatchRequest {
	out := &networkingv1alpha3.HTTPMatchRequest{
		Uri:             stringMatch(m.URI),
		Method:          stringMatch(m.Method),
		Authority:       stringMatch(m.Authority),
		Headers:         stringMatches(m.Headers),
		WithoutHeaders:  stringMatches(m.WithoutHeaders),
		QueryParams:     stringMatches(m.QueryParams),
		IgnoreUriCase:   m.IgnoreURICase,
		Port:            uint32(m.Port),
		SourceLabels:    m.SourceLabels,
		SourceNamespace: m.SourceNamespace,
		Gateways:        gatewayRefs(r.in, m.Gateways),
	}
	return out
}

func stringMatches(in map[string]schema.StringMatch) map[string]*networkingv1alpha3.StringMatch {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]*networkingv1alpha3.StringMatch, len(in))
	for k, v := range in {
		out[k] = stringMatch(&v)
	}
	return out
}

func stringMatch(m *schema.StringMatch) *networkingv1alpha3.StringMatch {
	switch {
	case m == nil:
		return nil
	case m.Exact != nil:
		return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: *m.Exact}}
	case m.Prefix != nil:
		return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: *m.Prefix}}
	case m.Regex != nil:
		return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: *m.Regex}}
	}
	return nil
}

func redirect(r *schema.Redirect) *networkingv1alpha3.HTTPRedirect {
	out := &networkingv1alpha3.HTTPRedirect{Uri: r.URI, Authority: r.Authority, Scheme: r.Scheme, RedirectCode: uint32(r.Code)}
	if r.Port != 0 {
		out.RedirectPort = &networkingv1alpha3.HTTPRedirect_Port{Port: uint32(r.Port)}
	}
	return out
}

func headerOps(h *schema.HeaderOps) *networkingv1alpha3.Headers_HeaderOperations {
	if h == nil {
		return nil
	}
	return &networkingv1alpha3.Headers_HeaderOperations{Set: h.Set, Add: h.Add, Remove: h.Remove}
}

func httpRetry(r *schema.Retries) *networkingv1alpha3.HTTPRetry {
	if r == nil {
		return nil
	}
	conds := make([]string, len(r.RetryOn))
	for i, c := range r.RetryOn {
		switch c := c.(type) {
		case float64:
			conds[i] = strconv.Itoa(int(c))
		default:
			conds[i] = fmt.Sprint(c)
		}
	}
	return &networkingv1alpha3.HTTPRetry{Attempts: int32(r.Attempts), PerTryTimeout: duration(r.PerTryTimeout), RetryOn: strings.Join(conds, ",")}
}

func corsPolicy(c *schema.CORS) *networkingv1alpha3.CorsPolicy {
	out := &networkingv1alpha3.CorsPolicy{
		AllowMethods:  c.AllowMethods,
		AllowHeaders:  c.AllowHeaders,
		ExposeHeaders: c.ExposeHeaders,
		MaxAge:        duration(c.MaxAge),
	}
	for _, o := range c.AllowOrigins {
		switch o := o.(type) {
		case string:
			out.AllowOrigins = append(out.AllowOrigins, &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: o}})
		case map[string]any:
			var sm schema.StringMatch
			for k, v := range o {
				s, _ := v.(string)
				switch k {
				case "exact":
					sm.Exact = &s
				case "prefix":
					sm.Prefix = &s
				case "regex":
					sm.Regex = &s
				}
			}
			out.AllowOrigins = append(out.AllowOrigins, stringMatch(&sm))
		}
	}
	if c.AllowCredentials != nil {
		out.AllowCredentials = wrapBool(*c.AllowCredentials)
	}
	return out
}

// destinationRule declares one subset per version and the traffic policy.
func (r *serviceRenderer) destinationRule(meta metav1.ObjectMeta) (*networkingv1.DestinationRule, error) {
	dr := &networkingv1.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "DestinationRule"},
		ObjectMeta: *meta.DeepCopy(),
	}
	dr.Spec.Host = r.host()
	var err error
	if dr.Spec.TrafficPolicy, err = trafficPolicy(r.svc.Policy); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, v := range slices.Sorted(maps.Keys(r.svc.Versions)) {
		tp, err := trafficPolicy(r.svc.Versions[v].Policy)
		if err != nil {
			return nil, fmt.Errorf("versions.%s.policy: %w", v, err)
		}
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networkingv1alpha3.Subset{Name: v, Labels: r.svc.Versions[v].Labels, TrafficPolicy: tp})
	}
	return dr, nil
}
