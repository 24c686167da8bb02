package render

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/schema"
)

var networkingV1 = networkingv1.SchemeGroupVersion.String()

// services renders a VirtualService and a DestinationRule per service.
func services(in *schema.Intents, opts Options) []Object {
	var out []Object
	for _, name := range sortedKeys(in.Services) {
		svc := in.Services[name]
		meta := objectMeta(name, svc.Namespace, "services/"+name, in.Sources["services/"+name], opts)
		meta.Labels[LabelService] = name
		out = append(out, virtualService(name, svc, meta), destinationRule(name, svc, meta))
	}
	return out
}

func serviceHost(name string, svc *schema.Service) string {
	if svc.Host != "" {
		return svc.Host
	}
	return name
}

// virtualService routes the service's host to its versions.
func virtualService(name string, svc *schema.Service, meta metav1.ObjectMeta) *networkingv1.VirtualService {
	host := serviceHost(name, svc)
	vs := &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "VirtualService"},
		ObjectMeta: *meta.DeepCopy(),
	}
	vs.Spec.Hosts = []string{host}
	for _, r := range svc.Routes {
		route := &networkingv1alpha3.HTTPRoute{Name: r.Name}
		for _, m := range r.Match {
			route.Match = append(route.Match, httpMatch(m))
		}
		// Sorted by version so that the output does not depend on map order.
		for _, v := range sortedKeys(r.To) {
			route.Route = append(route.Route, &networkingv1alpha3.HTTPRouteDestination{
				Destination: &networkingv1alpha3.Destination{Host: host, Subset: v},
				Weight:      int32(r.To[v]),
			})
		}
		vs.Spec.Http = append(vs.Spec.Http, route)
	}
	return vs
}

func httpMatch(m schema.Match) *networkingv1alpha3.HTTPMatchRequest {
	out := &networkingv1alpha3.HTTPMatchRequest{
		Uri:    stringMatch(m.URI),
		Method: stringMatch(m.Method),
	}
	for _, h := range sortedKeys(m.Headers) {
		if out.Headers == nil {
			out.Headers = map[string]*networkingv1alpha3.StringMatch{}
		}
		sm := m.Headers[h]
		out.Headers[h] = stringMatch(&sm)
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

// destinationRule declares one subset per version.
func destinationRule(name string, svc *schema.Service, meta metav1.ObjectMeta) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "DestinationRule"},
		ObjectMeta: *meta.DeepCopy(),
	}
	dr.Spec.Host = serviceHost(name, svc)
	for _, v := range sortedKeys(svc.Versions) {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networkingv1alpha3.Subset{Name: v, Labels: svc.Versions[v].Labels})
	}
	return dr
}
