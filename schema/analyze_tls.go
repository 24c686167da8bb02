package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// analyzeTLSOrigination reports TLS origination (a traffic policy's tls
// with mode SIMPLE or MUTUAL) that does not say how to verify the
// server's certificate (IST0128): without caCertificates or a
// credentialName holding a ca.crt, the proxy may accept any server
// certificate, and the connection is encrypted but not authenticated.
// insecureSkipVerify: true says so on purpose and is not reported.
func analyzeTLSOrigination(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		s := in.Services[name]
		errs = append(errs, policyTLS(pos, s.Policy, []any{"services", name, "policy"})...)
		for _, v := range slices.Sorted(maps.Keys(s.Versions)) {
			errs = append(errs, policyTLS(pos, s.Versions[v].Policy, []any{"services", name, "versions", v, "policy"})...)
		}
	}
	for i, o := range in.Raw {
		if o.Kind != "DestinationRule" {
			continue
		}
		var spec struct {
			TrafficPolicy map[string]any `json:"trafficPolicy"`
			Subsets       []struct {
				TrafficPolicy map[string]any `json:"trafficPolicy"`
			} `json:"subsets"`
		}
		if json.Unmarshal(o.Spec, &spec) != nil {
			continue
		}
		errs = append(errs, policyTLS(pos, spec.TrafficPolicy, []any{"raw", i, "spec", "trafficPolicy"})...)
		for j, sub := range spec.Subsets {
			errs = append(errs, policyTLS(pos, sub.TrafficPolicy, []any{"raw", i, "spec", "subsets", j, "trafficPolicy"})...)
		}
	}
	return errs
}

// policyTLS checks a traffic policy's tls and its port-level settings'.
func policyTLS(pos posFunc, p map[string]any, path []any) Errors {
	var errs Errors
	eachPolicyLevel(p, path, func(at []any, p map[string]any) {
		tls, _ := p["tls"].(map[string]any)
		mode, _ := tls["mode"].(string)
		if mode != "SIMPLE" && mode != "MUTUAL" {
			return
		}
		if tls["caCertificates"] != nil || tls["credentialName"] != nil || tls["insecureSkipVerify"] == true {
			return
		}
		errs = append(errs, meshWarning(pos,
			fmt.Sprintf("tls mode %s originates TLS without caCertificates, so the server's certificate may not be verified (IST0128)", mode),
			"set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true",
			meshJoin(at, "tls")...))
	})
	return errs
}
