package schema

import (
	"fmt"
	"maps"
	"slices"
)

// analyzeDenyPorts reports what istiod's validating webhook warns about on
// a DENY AuthorizationPolicy: a rule whose `to` names no ports, or whose
// only `from` conditions are HTTP ones (request principals), denies every
// plain TCP connection (TLS passthrough, databases) to the workloads it
// selects, because the TCP proxy cannot see the HTTP attributes and
// matches the rule without them. Naming the ports keeps the rule on the
// HTTP traffic it is about.
func analyzeDenyPorts(in *Intents, pos posFunc) Errors {
	var errs Errors
	const msg = "a DENY rule that names no ports denies every TCP connection to the selected workloads, since only HTTP traffic has the attributes it tests (Istio warns about it too)"
	for _, name := range slices.Sorted(maps.Keys(in.Authorization)) {
		a := in.Authorization[name]
		if a.Action != "DENY" {
			continue
		}
		for i, r := range a.Rules {
			if denyOnlyHTTP(r) {
				errs = append(errs, meshWarning(pos, msg,
					"add ports: [...] to the rule's to, with the workloads' container ports that serve HTTP",
					"authorization", name, "rules", i))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(in.JWT)) {
		j := in.JWT[name]
		if j.Require != nil && len(j.Require.Ports) == 0 {
			errs = append(errs, meshWarning(pos,
				fmt.Sprintf("require without ports: the policy %s denies every TCP connection to the selected workloads, since only HTTP traffic carries a token (Istio warns about it too)", RequireJWTPolicyName(name)),
				"add ports: [...], the ports the selected pods' proxy listens on for HTTP (Istio's ingress gateway installed by istioctl: 8080 and 8443 for the Gateway's 80 and 443; listing both is safe)",
				"jwt", name, "require"))
		}
	}
	return errs
}

// denyOnlyHTTP mirrors the webhook's rule: a rule with `to` and no ports
// in it, or with `from` only and no TCP attribute in it.
func denyOnlyHTTP(r AuthzRule) bool {
	if len(r.To) > 0 {
		for _, o := range r.To {
			if len(o.Ports) > 0 || len(o.NotPorts) > 0 {
				return false
			}
		}
		return true
	}
	if len(r.From) == 0 {
		return false
	}
	for _, s := range r.From {
		if len(s.Principals)+len(s.NotPrincipals)+len(s.Namespaces)+len(s.NotNamespaces)+len(s.ServiceAccounts)+len(s.NotServiceAccounts)+
			len(s.IPBlocks)+len(s.NotIPBlocks)+len(s.RemoteIPBlocks)+len(s.NotRemoteIPBlocks) > 0 {
			return false
		}
	}
	return true
}
