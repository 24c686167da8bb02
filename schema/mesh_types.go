package schema

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1beta1 "istio.io/api/networking/v1beta1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
)

// Gateway is an Istio Gateway: the servers of a set of gateway pods.
type Gateway struct {
	Namespace string            `json:"namespace"`
	Selector  map[string]string `json:"selector"`
	HTTPS     *GatewayHTTPS     `json:"https,omitempty"`
	Servers   []GatewayServer   `json:"servers,omitempty"`
}

// GatewayHTTPS is the shorthand for HTTPS termination with a Kubernetes
// TLS secret, optionally with an HTTP server that redirects to it.
type GatewayHTTPS struct {
	Hosts          []string `json:"hosts"`
	CredentialName string   `json:"credentialName"`
	Mode           string   `json:"mode"`
	Port           int      `json:"port"`
	RedirectHTTP   bool     `json:"redirectHTTP"`
}

// GatewayServer is one server of a gateway, with its port flattened.
type GatewayServer struct {
	Port          int         `json:"port"`
	Protocol      string      `json:"protocol"`
	PortName      string      `json:"portName,omitempty"`
	Hosts         []string    `json:"hosts"`
	HTTPSRedirect bool        `json:"httpsRedirect,omitempty"`
	TLS           *GatewayTLS `json:"tls,omitempty"`
}

// GatewayTLS is a server's TLS settings.
type GatewayTLS struct {
	Mode               string   `json:"mode"`
	CredentialName     string   `json:"credentialName,omitempty"`
	SubjectAltNames    []string `json:"subjectAltNames,omitempty"`
	MinProtocolVersion string   `json:"minProtocolVersion,omitempty"`
	MaxProtocolVersion string   `json:"maxProtocolVersion,omitempty"`
	CipherSuites       []string `json:"cipherSuites,omitempty"`
}

// ServerOrigin says where a server of AllServers was declared: Field is
// "https" or "servers", Index the position in servers.
type ServerOrigin struct {
	Field string
	Index int
}

// AllServers expands the https shorthand (its servers first) and gives
// every server a port name: the one declared, else "PROTOCOL-PORT" in
// lower case, with "-INDEX" added when two servers would share a name
// (Istio requires unique port names within a gateway; two HTTPS servers on
// 443 for different hosts are common).
func (g *Gateway) AllServers() ([]GatewayServer, []ServerOrigin) {
	var servers []GatewayServer
	var origins []ServerOrigin
	if h := g.HTTPS; h != nil {
		servers = append(servers, GatewayServer{
			Port: h.Port, Protocol: "HTTPS", Hosts: h.Hosts,
			TLS: &GatewayTLS{Mode: h.Mode, CredentialName: h.CredentialName},
		})
		origins = append(origins, ServerOrigin{Field: "https"})
		if h.RedirectHTTP {
			servers = append(servers, GatewayServer{Port: 80, Protocol: "HTTP", Hosts: h.Hosts, HTTPSRedirect: true})
			origins = append(origins, ServerOrigin{Field: "https"})
		}
	}
	for i, s := range g.Servers {
		servers = append(servers, s)
		origins = append(origins, ServerOrigin{Field: "servers", Index: i})
	}
	defaults := map[string]int{}
	for _, s := range servers {
		if s.PortName == "" {
			defaults[defaultPortName(s.Protocol, s.Port)]++
		}
	}
	taken := map[string]bool{}
	for _, s := range servers {
		taken[s.PortName] = s.PortName != ""
	}
	for i := range servers {
		if servers[i].PortName != "" {
			continue
		}
		name := defaultPortName(servers[i].Protocol, servers[i].Port)
		if defaults[name] > 1 || taken[name] {
			name = fmt.Sprintf("%s-%d", name, i)
		}
		servers[i].PortName = name
	}
	return servers, origins
}

func defaultPortName(protocol string, port int) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(protocol), port)
}

// MTLS is a PeerAuthentication: the mutual TLS mode of a scope.
type MTLS struct {
	Namespace string            `json:"namespace"`
	Selector  map[string]string `json:"selector,omitempty"`
	Mode      string            `json:"mode"`
	Ports     map[string]string `json:"ports,omitempty"`
}

// Authorization is an AuthorizationPolicy.
type Authorization struct {
	Namespace            string            `json:"namespace"`
	Selector             map[string]string `json:"selector,omitempty"`
	Action               string            `json:"action"`
	Provider             string            `json:"provider,omitempty"`
	Rules                []AuthzRule       `json:"rules,omitempty"`
	RulesAreAlternatives bool              `json:"rulesAreAlternatives"`
}

// AuthzRule matches a request when every one of its present fields does.
type AuthzRule struct {
	From []AuthzSource    `json:"from,omitempty"`
	To   []AuthzOperation `json:"to,omitempty"`
	When []AuthzCondition `json:"when,omitempty"`
}

// AuthzSource is Istio's Source: where a request comes from.
type AuthzSource struct {
	Principals           []string `json:"principals,omitempty"`
	NotPrincipals        []string `json:"notPrincipals,omitempty"`
	RequestPrincipals    []string `json:"requestPrincipals,omitempty"`
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`
	Namespaces           []string `json:"namespaces,omitempty"`
	NotNamespaces        []string `json:"notNamespaces,omitempty"`
	ServiceAccounts      []string `json:"serviceAccounts,omitempty"`
	NotServiceAccounts   []string `json:"notServiceAccounts,omitempty"`
	IPBlocks             []string `json:"ipBlocks,omitempty"`
	NotIPBlocks          []string `json:"notIpBlocks,omitempty"`
	RemoteIPBlocks       []string `json:"remoteIpBlocks,omitempty"`
	NotRemoteIPBlocks    []string `json:"notRemoteIpBlocks,omitempty"`
}

// AuthzOperation is Istio's Operation: what a request does.
type AuthzOperation struct {
	Hosts      []string `json:"hosts,omitempty"`
	NotHosts   []string `json:"notHosts,omitempty"`
	Ports      []string `json:"ports,omitempty"`
	NotPorts   []string `json:"notPorts,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	NotMethods []string `json:"notMethods,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	NotPaths   []string `json:"notPaths,omitempty"`
}

// AuthzCondition is an additional condition on a request attribute.
type AuthzCondition struct {
	Key       string   `json:"key"`
	Values    []string `json:"values,omitempty"`
	NotValues []string `json:"notValues,omitempty"`
}

// JWT is end-user authentication with JSON Web Tokens.
type JWT struct {
	Namespace string            `json:"namespace"`
	Selector  map[string]string `json:"selector,omitempty"`
	Issuers   []JWTIssuer       `json:"issuers"`
	Require   *JWTRequire       `json:"require,omitempty"`
}

// JWTIssuer is one accepted token issuer: Istio's JWTRule.
type JWTIssuer struct {
	Issuer                string            `json:"issuer"`
	JWKSURI               string            `json:"jwksUri,omitempty"`
	JWKS                  string            `json:"jwks,omitempty"`
	Audiences             []string          `json:"audiences,omitempty"`
	FromHeaders           []JWTHeader       `json:"fromHeaders,omitempty"`
	FromParams            []string          `json:"fromParams,omitempty"`
	FromCookies           []string          `json:"fromCookies,omitempty"`
	ForwardOriginalToken  bool              `json:"forwardOriginalToken"`
	OutputClaimToHeaders  map[string]string `json:"outputClaimToHeaders,omitempty"`
	OutputPayloadToHeader string            `json:"outputPayloadToHeader,omitempty"`
}

// JWTHeader is a header a token is read from.
type JWTHeader struct {
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
}

// JWTRequire says which requests must carry a valid token.
type JWTRequire struct {
	Paths    []string            `json:"paths,omitempty"`
	NotPaths []string            `json:"notPaths,omitempty"`
	Claims   map[string][]string `json:"claims,omitempty"`
	Ports    []int               `json:"ports,omitempty"`
}

// RequireJWTPolicyName names the AuthorizationPolicy rendered for a JWT
// intent's require block.
func RequireJWTPolicyName(intent string) string { return intent + "-require-jwt" }

// External is a ServiceEntry.
type External struct {
	Namespace  string             `json:"namespace"`
	Hosts      []string           `json:"hosts"`
	Addresses  []string           `json:"addresses,omitempty"`
	Ports      []ExternalPort     `json:"ports"`
	Resolution string             `json:"resolution"`
	Location   string             `json:"location"`
	Endpoints  []ExternalEndpoint `json:"endpoints,omitempty"`
	ExportTo   []string           `json:"exportTo,omitempty"`
}

// ExternalPort is a port of an external service.
type ExternalPort struct {
	Number     int    `json:"number"`
	Protocol   string `json:"protocol"`
	Name       string `json:"name,omitempty"`
	TargetPort int    `json:"targetPort,omitempty"`
}

// PortName is the declared name, else "PROTOCOL-NUMBER" in lower case.
func (p ExternalPort) PortName() string {
	if p.Name != "" {
		return p.Name
	}
	return defaultPortName(p.Protocol, p.Number)
}

// ExternalEndpoint is one endpoint of an external service.
type ExternalEndpoint struct {
	Address  string            `json:"address"`
	Ports    map[string]int    `json:"ports,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Network  string            `json:"network,omitempty"`
	Locality string            `json:"locality,omitempty"`
	Weight   int               `json:"weight,omitempty"`
}

// RawObject is an Istio object written as it is. Its spec has been checked
// against Istio's API types for its kind.
type RawObject struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   RawMetadata     `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
	// Source is the file that declares the object. Raw objects are a list,
	// not named intents, so Intents.Sources does not hold them.
	Source string `json:"-"`
}

// RawMetadata is the part of a raw object's metadata a user may set.
type RawMetadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Intent names the raw object in annotations: "raw/KIND/NAMESPACE/NAME",
// since raw objects are a list, not named.
func (o RawObject) Intent() string {
	return fmt.Sprintf("raw/%s/%s/%s", o.Kind, o.Metadata.Namespace, o.Metadata.Name)
}

// RawKind is an Istio kind that raw objects may have.
type RawKind struct {
	Group    string
	Kind     string
	Versions []string // the versions Istio's CRD serves
	// NewSpec returns an empty spec message: the versions of a kind share
	// one spec type (v1 and v1beta1 are aliases of the oldest).
	NewSpec func() proto.Message
}

var (
	networkingVersions = []string{"v1", "v1beta1", "v1alpha3"}
	securityVersions   = []string{"v1", "v1beta1"}
)

// RawKinds are the kinds of Istio's CRDs (istio.io/api's
// kubernetes/customresourcedefinitions.gen.yaml) with their served
// versions.
var RawKinds = []RawKind{
	{"networking.istio.io", "DestinationRule", networkingVersions, func() proto.Message { return &networkingv1alpha3.DestinationRule{} }},
	{"networking.istio.io", "EnvoyFilter", []string{"v1alpha3"}, func() proto.Message { return &networkingv1alpha3.EnvoyFilter{} }},
	{"networking.istio.io", "Gateway", networkingVersions, func() proto.Message { return &networkingv1alpha3.Gateway{} }},
	{"networking.istio.io", "ProxyConfig", []string{"v1beta1"}, func() proto.Message { return &networkingv1beta1.ProxyConfig{} }},
	{"networking.istio.io", "ServiceEntry", networkingVersions, func() proto.Message { return &networkingv1alpha3.ServiceEntry{} }},
	{"networking.istio.io", "Sidecar", networkingVersions, func() proto.Message { return &networkingv1alpha3.Sidecar{} }},
	{"networking.istio.io", "VirtualService", networkingVersions, func() proto.Message { return &networkingv1alpha3.VirtualService{} }},
	{"networking.istio.io", "WorkloadEntry", networkingVersions, func() proto.Message { return &networkingv1alpha3.WorkloadEntry{} }},
	{"networking.istio.io", "WorkloadGroup", networkingVersions, func() proto.Message { return &networkingv1alpha3.WorkloadGroup{} }},
	{"security.istio.io", "AuthorizationPolicy", securityVersions, func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} }},
	{"security.istio.io", "PeerAuthentication", securityVersions, func() proto.Message { return &securityv1beta1.PeerAuthentication{} }},
	{"security.istio.io", "RequestAuthentication", securityVersions, func() proto.Message { return &securityv1beta1.RequestAuthentication{} }},
	{"telemetry.istio.io", "Telemetry", []string{"v1", "v1alpha1"}, func() proto.Message { return &telemetryv1alpha1.Telemetry{} }},
	{"extensions.istio.io", "WasmPlugin", []string{"v1alpha1"}, func() proto.Message { return &extensionsv1alpha1.WasmPlugin{} }},
	{"extensions.istio.io", "TrafficExtension", []string{"v1alpha1"}, func() proto.Message { return &extensionsv1alpha1.TrafficExtension{} }},
}
