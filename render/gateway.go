package render

import (
	"maps"
	"slices"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/schema"
)

func init() { register("gateways", gateways, map[string]phase{"Gateway": phaseGateway}) }

// gateways renders one Gateway per gateway intent, named after the intent:
// services bind to it as "NAMESPACE/NAME".
func gateways(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.Gateways)) {
		g := in.Gateways[name]
		gw := &networkingv1.Gateway{
			TypeMeta:   metav1.TypeMeta{APIVersion: networkingV1, Kind: "Gateway"},
			ObjectMeta: intentMeta(in, kind, name, g.Namespace, opts),
		}
		gw.Spec.Selector = g.Selector
		servers, _ := g.AllServers()
		for _, s := range servers {
			gw.Spec.Servers = append(gw.Spec.Servers, gatewayServer(s))
		}
		out = append(out, gw)
	}
	return out, nil
}

func gatewayServer(s schema.GatewayServer) *networkingv1alpha3.Server {
	out := &networkingv1alpha3.Server{
		Port:  &networkingv1alpha3.Port{Number: uint32(s.Port), Protocol: s.Protocol, Name: s.PortName},
		Hosts: s.Hosts,
	}
	if s.HTTPSRedirect {
		out.Tls = &networkingv1alpha3.ServerTLSSettings{HttpsRedirect: true}
	}
	if t := s.TLS; t != nil {
		out.Tls = &networkingv1alpha3.ServerTLSSettings{
			Mode:               networkingv1alpha3.ServerTLSSettings_TLSmode(networkingv1alpha3.ServerTLSSettings_TLSmode_value[t.Mode]),
			CredentialName:     t.CredentialName,
			SubjectAltNames:    t.SubjectAltNames,
			MinProtocolVersion: tlsVersion(t.MinProtocolVersion),
			MaxProtocolVersion: tlsVersion(t.MaxProtocolVersion),
			CipherSuites:       t.CipherSuites,
		}
	}
	return out
}

func tlsVersion(v string) networkingv1alpha3.ServerTLSSettings_TLSProtocol {
	// TLS_AUTO (0, omitted from the output) when not set.
	return networkingv1alpha3.ServerTLSSettings_TLSProtocol(networkingv1alpha3.ServerTLSSettings_TLSProtocol_value[v])
}
