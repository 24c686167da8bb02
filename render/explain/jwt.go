package explain

import (
	"fmt"
	"slices"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// tokenState is the JWT a request carries to a workload.
type tokenState struct {
	// payload of a valid token; nil for none.
	payload map[string]any
	invalid bool
}

// JWTCheck is what a workload's jwt filter does with the request.
type JWTCheck struct {
	// Token says what became of the token here.
	Token string `json:"token"`
	// Principal is the request principal ("ISS/SUB") once validated.
	Principal string `json:"principal,omitempty"`
	// Required says whether a request without a valid token is denied
	// here, and by which policy.
	Required string `json:"required"`
}

// jwtOutcome is the jwt filter's result at one workload.
type jwtOutcome struct {
	check     JWTCheck
	principal string
	claims    map[string]any
	// rejected is Yes when the filter answers 401 itself, reason why.
	rejected Tri
	reason   string
}

// jwtAt runs the RequestAuthentications that select the workload over the
// request's token. An invalid token is rejected (401); so is a token of
// an issuer none of them accepts, or for an audience they do not list. A
// request without a token passes: only an AuthorizationPolicy can require
// one. The token is forwarded on only when the rule that validated it
// says forwardOriginalToken; a workload without RequestAuthentication
// leaves it alone.
func (x *explainer) jwtAt(wl workload, t tokenState) (jwtOutcome, tokenState) {
	var sure, maybe []*object[security.RequestAuthentication]
	for i := range x.idx.authentications {
		ra := &x.idx.authentications[i]
		switch a, _ := applies(ra.ref.Namespace, ra.spec.GetSelector().GetMatchLabels(), wl); a {
		case Yes:
			sure = append(sure, ra)
		case Unknown:
			maybe = append(maybe, ra)
		}
	}
	var names []string
	for _, ra := range sure {
		names = append(names, ra.ref.String())
	}
	var out jwtOutcome
	mayNote := ""
	if len(maybe) > 0 {
		var ms []string
		for _, ra := range maybe {
			ms = append(ms, ra.ref.String())
		}
		mayNote = fmt.Sprintf("; RequestAuthentication %s may select these pods too (other labels unknown), and is taken as not", strings.Join(ms, ", "))
	}
	switch {
	case t.payload == nil && !t.invalid:
		out.check.Token = "none"
		if len(sure) > 0 {
			out.check.Token += fmt.Sprintf(": %s only invalid tokens, so the request passes without a request principal", authnSubject(names, "rejects", "reject"))
		}
		out.check.Token += mayNote
		return out, t
	case len(sure) == 0:
		out.check.Token = "not validated: no RequestAuthentication selects these pods, so the token is passed on untouched" + mayNote
		return out, t
	case t.invalid:
		out.rejected = Yes
		out.reason = fmt.Sprintf("the token fails validation: %s the request (401)", authnSubject(names, "rejects", "reject"))
		out.check.Token = "rejected (401): it fails validation"
		return out, t
	}
	iss, _ := t.payload["iss"].(string)
	for _, ra := range sure {
		for _, rule := range ra.spec.GetJwtRules() {
			if rule.GetIssuer() != iss {
				continue
			}
			if aud := rule.GetAudiences(); len(aud) > 0 {
				have, _ := claimValues(t.payload, []string{"aud"})
				if !slices.ContainsFunc(have, func(a string) bool { return slices.Contains(aud, a) }) {
					out.rejected = Yes
					out.reason = fmt.Sprintf("RequestAuthentication %s accepts tokens of %s for audiences %s only: the token is for %s (401)", ra.ref, iss, strings.Join(aud, ", "), strings.Join(have, ", "))
					out.check.Token = "rejected (401): audience not allowed"
					return out, t
				}
			}
			out.principal = tokenPrincipal(t.payload)
			out.claims = t.payload
			out.check.Principal = out.principal
			out.check.Token = "valid: issuer " + iss + " accepted by RequestAuthentication " + ra.ref.String()
			if rule.GetForwardOriginalToken() {
				out.check.Token += "; forwarded on (forwardOriginalToken)"
				return out, t
			}
			out.check.Token += "; removed before the request is forwarded (no forwardOriginalToken)"
			return out, tokenState{}
		}
	}
	out.rejected = Yes
	out.reason = fmt.Sprintf("no RequestAuthentication that selects these pods (%s) accepts issuer %s: Jwt issuer is not configured (401)", strings.Join(names, ", "), iss)
	out.check.Token = "rejected (401): issuer " + iss + " not configured"
	return out, t
}

// jwtRequired tells whether the same request without a token would be
// denied here because of a rule on request principals or claims.
func (x *explainer) jwtRequired(wl workload, a *attrs) string {
	bare := *a
	bare.requestPrincipal, bare.claims = "", nil
	pcs := x.policiesFor(wl, &bare)
	if t, _ := decide(pcs); t != No {
		return "no: the request is not denied for want of a token here"
	}
	for _, p := range pcs {
		if p.Applies == No {
			continue
		}
		for i, r := range p.Rules {
			if !p.rules[i].requestAuth {
				continue
			}
			if p.Action == "DENY" && r.Matches == Yes || p.Action == "ALLOW" {
				return fmt.Sprintf("yes: without a valid token, %s policy %s rule %d denies it", p.Action, p.Policy, r.Index)
			}
		}
	}
	return "no: the request is denied here with or without a token"
}

// authnSubject names RequestAuthentications as the subject of verb.
func authnSubject(names []string, one, many string) string {
	if len(names) == 1 {
		return "RequestAuthentication " + names[0] + " " + one
	}
	return "RequestAuthentications " + strings.Join(names, ", ") + " " + many
}
