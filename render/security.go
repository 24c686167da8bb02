package render

import (
	"maps"
	"slices"
	"sort"
	"strconv"

	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/schema"
)

var securityV1 = securityv1.SchemeGroupVersion.String()

func init() {
	register("mtls", peerAuthentications, map[string]phase{"PeerAuthentication": phasePeerAuthentication})
	register("authorization", authorizationPolicies, map[string]phase{"AuthorizationPolicy": phaseAuthorizationPolicy})
	register("jwt", jwtPolicies, map[string]phase{"RequestAuthentication": phaseRequestAuthentication, "AuthorizationPolicy": phaseAuthorizationPolicy})
}

func workloadSelector(labels map[string]string) *typev1beta1.WorkloadSelector {
	if len(labels) == 0 {
		return nil
	}
	return &typev1beta1.WorkloadSelector{MatchLabels: labels}
}

// peerAuthentications renders one PeerAuthentication per mtls intent.
func peerAuthentications(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.MTLS)) {
		m := in.MTLS[name]
		pa := &securityv1.PeerAuthentication{
			TypeMeta:   metav1.TypeMeta{APIVersion: securityV1, Kind: "PeerAuthentication"},
			ObjectMeta: intentMeta(in, kind, name, m.Namespace, opts),
		}
		pa.Spec.Selector = workloadSelector(m.Selector)
		pa.Spec.Mtls = mtlsMode(m.Mode)
		for _, p := range slices.Sorted(maps.Keys(m.Ports)) {
			if pa.Spec.PortLevelMtls == nil {
				pa.Spec.PortLevelMtls = map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS{}
			}
			pa.Spec.PortLevelMtls[uint32(atoi(p))] = mtlsMode(m.Ports[p])
		}
		out = append(out, pa)
	}
	return out, nil
}

func mtlsMode(mode string) *securityv1beta1.PeerAuthentication_MutualTLS {
	return &securityv1beta1.PeerAuthentication_MutualTLS{
		Mode: securityv1beta1.PeerAuthentication_MutualTLS_Mode(securityv1beta1.PeerAuthentication_MutualTLS_Mode_value[mode]),
	}
}

// atoi parses a port validated by the schema.
func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// authorizationPolicies renders one AuthorizationPolicy per authorization
// intent.
func authorizationPolicies(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.Authorization)) {
		a := in.Authorization[name]
		ap := &securityv1.AuthorizationPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: securityV1, Kind: "AuthorizationPolicy"},
			ObjectMeta: intentMeta(in, kind, name, a.Namespace, opts),
		}
		ap.Spec.Selector = workloadSelector(a.Selector)
		ap.Spec.Action = securityv1beta1.AuthorizationPolicy_Action(securityv1beta1.AuthorizationPolicy_Action_value[a.Action])
		if a.Provider != "" {
			ap.Spec.ActionDetail = &securityv1beta1.AuthorizationPolicy_Provider{
				Provider: &securityv1beta1.AuthorizationPolicy_ExtensionProvider{Name: a.Provider},
			}
		}
		for _, r := range a.Rules {
			ap.Spec.Rules = append(ap.Spec.Rules, authzRule(r))
		}
		out = append(out, ap)
	}
	return out, nil
}

func authzRule(r schema.AuthzRule) *securityv1beta1.Rule {
	out := &securityv1beta1.Rule{}
	for _, s := range r.From {
		out.From = append(out.From, &securityv1beta1.Rule_From{Source: &securityv1beta1.Source{
			Principals: s.Principals, NotPrincipals: s.NotPrincipals,
			RequestPrincipals: s.RequestPrincipals, NotRequestPrincipals: s.NotRequestPrincipals,
			Namespaces: s.Namespaces, NotNamespaces: s.NotNamespaces,
			ServiceAccounts: s.ServiceAccounts, NotServiceAccounts: s.NotServiceAccounts,
			IpBlocks: s.IPBlocks, NotIpBlocks: s.NotIPBlocks,
			RemoteIpBlocks: s.RemoteIPBlocks, NotRemoteIpBlocks: s.NotRemoteIPBlocks,
		}})
	}
	for _, o := range r.To {
		out.To = append(out.To, &securityv1beta1.Rule_To{Operation: &securityv1beta1.Operation{
			Hosts: o.Hosts, NotHosts: o.NotHosts, Ports: o.Ports, NotPorts: o.NotPorts,
			Methods: o.Methods, NotMethods: o.NotMethods, Paths: o.Paths, NotPaths: o.NotPaths,
		}})
	}
	for _, c := range r.When {
		out.When = append(out.When, &securityv1beta1.Condition{Key: c.Key, Values: c.Values, NotValues: c.NotValues})
	}
	return out
}

// jwtPolicies renders a RequestAuthentication per jwt intent and, when it
// requires tokens, an AuthorizationPolicy NAME-require-jwt.
//
// A RequestAuthentication alone only rejects invalid tokens: a request
// without a token passes. Requiring one takes an AuthorizationPolicy, and
// it is a DENY policy on purpose: an ALLOW policy on the gateway would
// deny every request that none of its rules matches, so requiring a token
// on /api/* would block every other path (and every other policy's
// traffic) by accident. DENY rules only remove what they match: requests
// to the paths without a valid request principal, or without a required
// claim value, one rule each, so every requirement must hold.
//
// Every rule names require.ports, the pods' own ports, when given: a DENY
// rule on HTTP attributes alone also matches every plain TCP connection
// (which has no token to check), so without ports the policy would refuse
// TLS passthrough and other TCP traffic to the same pods, and istiod warns
// about it. sailplan does not guess the ports from the Gateway intents:
// their ports are the Service's, which Istio translates to the Service's
// targetPort before the proxy listens (443 becomes 8443 on the ingress
// gateway istioctl installs), while a policy's ports match the port the
// proxy listens on. A guess that missed would leave the paths without a
// token requirement, silently; so schema warns when ports are missing.
func jwtPolicies(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, name := range slices.Sorted(maps.Keys(in.JWT)) {
		j := in.JWT[name]
		ra := &securityv1.RequestAuthentication{
			TypeMeta:   metav1.TypeMeta{APIVersion: securityV1, Kind: "RequestAuthentication"},
			ObjectMeta: intentMeta(in, kind, name, j.Namespace, opts),
		}
		ra.Spec.Selector = workloadSelector(j.Selector)
		for _, is := range j.Issuers {
			ra.Spec.JwtRules = append(ra.Spec.JwtRules, jwtRule(is))
		}
		out = append(out, ra)
		if j.Require == nil {
			continue
		}
		ap := &securityv1.AuthorizationPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: securityV1, Kind: "AuthorizationPolicy"},
			ObjectMeta: intentMeta(in, kind, name, j.Namespace, opts),
		}
		ap.Name = schema.RequireJWTPolicyName(name)
		ap.Spec.Selector = workloadSelector(j.Selector)
		ap.Spec.Action = securityv1beta1.AuthorizationPolicy_DENY
		var to []*securityv1beta1.Rule_To
		if r := j.Require; len(r.Paths) > 0 || len(r.NotPaths) > 0 || len(r.Ports) > 0 {
			to = []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Paths: r.Paths, NotPaths: r.NotPaths, Ports: ports(r.Ports)}}}
		}
		ap.Spec.Rules = append(ap.Spec.Rules, &securityv1beta1.Rule{
			From: []*securityv1beta1.Rule_From{{Source: &securityv1beta1.Source{NotRequestPrincipals: []string{"*"}}}},
			To:   to,
		})
		for _, c := range slices.Sorted(maps.Keys(j.Require.Claims)) {
			ap.Spec.Rules = append(ap.Spec.Rules, &securityv1beta1.Rule{
				To:   to,
				When: []*securityv1beta1.Condition{{Key: "request.auth.claims[" + c + "]", NotValues: j.Require.Claims[c]}},
			})
		}
		out = append(out, ap)
	}
	return out, nil
}

// ports writes port numbers as AuthorizationPolicy operations take them.
func ports(ns []int) []string {
	var out []string
	for _, n := range ns {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

func jwtRule(is schema.JWTIssuer) *securityv1beta1.JWTRule {
	r := &securityv1beta1.JWTRule{
		Issuer: is.Issuer, Audiences: is.Audiences, JwksUri: is.JWKSURI, Jwks: is.JWKS,
		FromParams: is.FromParams, FromCookies: is.FromCookies,
		ForwardOriginalToken: is.ForwardOriginalToken, OutputPayloadToHeader: is.OutputPayloadToHeader,
	}
	for _, h := range is.FromHeaders {
		r.FromHeaders = append(r.FromHeaders, &securityv1beta1.JWTHeader{Name: h.Name, Prefix: h.Prefix})
	}
	headers := make([]string, 0, len(is.OutputClaimToHeaders))
	for h := range is.OutputClaimToHeaders {
		headers = append(headers, h)
	}
	sort.Strings(headers)
	for _, h := range headers {
		r.OutputClaimToHeaders = append(r.OutputClaimToHeaders, &securityv1beta1.ClaimToHeader{Header: h, Claim: is.OutputClaimToHeaders[h]})
	}
	return r
}
