package render

import (
	"maps"
	"slices"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/schema"
)

func init() { register("external", externals, map[string]phase{"ServiceEntry": phaseServiceEntry}) }

// externals renders one ServiceEntry per external service.
func externals(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.External)) {
		e := in.External[name]
		se := &networkingv1.ServiceEntry{
			TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "ServiceEntry"},
			ObjectMeta: intentMeta(in, kind, name, e.Namespace, opts),
		}
		se.Spec.Hosts = e.Hosts
		se.Spec.Addresses = e.Addresses
		se.Spec.ExportTo = e.ExportTo
		se.Spec.Resolution = networkingv1alpha3.ServiceEntry_Resolution(networkingv1alpha3.ServiceEntry_Resolution_value[e.Resolution])
		se.Spec.Location = networkingv1alpha3.ServiceEntry_Location(networkingv1alpha3.ServiceEntry_Location_value[e.Location])
		for _, p := range e.Ports {
			se.Spec.Ports = append(se.Spec.Ports, &networkingv1alpha3.ServicePort{
				Number: uint32(p.Number), Protocol: p.Protocol, Name: p.PortName(), TargetPort: uint32(p.TargetPort),
			})
		}
		for _, ep := range e.Endpoints {
			we := &networkingv1alpha3.WorkloadEntry{
				Address: ep.Address, Labels: ep.Labels, Network: ep.Network, Locality: ep.Locality, Weight: uint32(ep.Weight),
			}
			for _, p := range slices.Sorted(maps.Keys(ep.Ports)) {
				if we.Ports == nil {
					we.Ports = map[string]uint32{}
				}
				we.Ports[p] = uint32(ep.Ports[p])
			}
			se.Spec.Endpoints = append(se.Spec.Endpoints, we)
		}
		out = append(out, se)
	}
	return out, nil
}
