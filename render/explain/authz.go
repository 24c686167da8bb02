package explain

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	security "istio.io/api/security/v1beta1"
)

// workload is the pods a proxy on the way belongs to.
type workload struct {
	what      string
	namespace string
	labels    map[string]string
	// complete says labels are all the pods' labels; else a label not
	// among them is unknown.
	complete bool
}

// source is who the workload sees sending the request.
type source struct {
	what string
	// principal and namespace come from the peer's mTLS certificate;
	// empty without one.
	principal string
	namespace string
	// ip is the peer's address; empty when unknown.
	ip string
}

// Hop is the authorization at one workload on the way.
type Hop struct {
	Workload  string            `json:"workload"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Source is who the workload sees sending the request.
	Source string `json:"source"`
	// MTLS is the PeerAuthentication mode for the workload, and whose.
	MTLS     string        `json:"mtls,omitempty"`
	JWT      JWTCheck      `json:"jwt"`
	Policies []PolicyCheck `json:"policies,omitempty"`
	// Decision is allow, deny or unknown; Status 401 or 403 with deny.
	Decision Decision `json:"decision"`
	Status   int      `json:"status,omitempty"`
	Reason   string   `json:"reason"`

	validatedClaims map[string]any
}

// Decision is an authorization outcome.
type Decision string

const (
	Allow         Decision = "allow"
	Deny          Decision = "deny"
	UnknownResult Decision = "unknown"
)

func decisionOf(t Tri) Decision {
	switch t {
	case Yes:
		return Allow
	case No:
		return Deny
	}
	return UnknownResult
}

// PolicyCheck is one AuthorizationPolicy that applies, or may apply, to
// the workload.
type PolicyCheck struct {
	Policy Ref    `json:"policy"`
	Action string `json:"action"`
	// Applies says whether the policy selects the workload, Scope why.
	Applies Tri         `json:"applies"`
	Scope   string      `json:"scope"`
	Rules   []RuleCheck `json:"rules,omitempty"`
	Matches Tri         `json:"matches"`
	rules   []*ruleFacts
}

// RuleCheck is one rule of a policy and whether the request matches it.
type RuleCheck struct {
	Index   int `json:"index"`
	Matches Tri `json:"matches"`
	// Conditions are the conditions that held, for a rule that matches;
	// the first that failed for one that does not; those that cannot be
	// told offline for one that may.
	Conditions []string `json:"conditions"`
}

// ruleFacts is what a rule asks for, for telling whether a JWT is
// required.
type ruleFacts struct {
	requestAuth bool
}

// attrs are the request's attributes as a workload's authorization sees
// them.
type attrs struct {
	src              source
	remoteIP         string
	host             string
	method           string
	path             string
	port             int
	headers          map[string][]string
	requestPrincipal string
	claims           map[string]any
	sni              string
}

// authorize is the jwt filter and the authorization of one workload. It
// returns the token as the workload forwards it.
func (x *explainer) authorize(wl workload, src source, r *routed, t tokenState) (*Hop, tokenState) {
	hop := &Hop{Workload: wl.what, Namespace: wl.namespace, Labels: wl.labels, Source: src.what}
	if src.principal != "" {
		hop.Source += " (" + src.principal + ")"
		mode, by := x.mtlsMode(wl, r.port)
		hop.MTLS = mode + " (" + by + ")"
		if mode == "DISABLE" {
			src.principal, src.namespace = "", ""
			hop.Source += "; mTLS is disabled here, so the workload sees no identity"
		}
	}
	jwt, next := x.jwtAt(wl, t)
	hop.JWT = jwt.check
	hop.validatedClaims = jwt.claims
	if jwt.rejected == Yes {
		hop.Decision, hop.Status, hop.Reason = Deny, 401, jwt.reason
		return hop, next
	}
	a := &attrs{src: src, remoteIP: x.req.SourceIP, host: x.req.Host, method: x.req.Method, path: r.path, port: r.port,
		headers: x.req.Headers, requestPrincipal: jwt.principal, claims: jwt.claims}
	if r.scheme == "https" && r.by.gateway != "mesh" && wl.namespace == r.by.namespace {
		a.sni, _ = splitHostPort(x.req.Host)
	}
	hop.Policies = x.policiesFor(wl, a)
	allowed, reason := decide(hop.Policies)
	if jwt.rejected == Unknown {
		allowed = allowed.and(Unknown)
		reason += "; " + jwt.reason
	}
	hop.Decision, hop.Reason = decisionOf(allowed), reason
	if allowed == No {
		hop.Status = 403
	}
	hop.JWT.Required = x.jwtRequired(wl, a)
	return hop, next
}

// applies says whether a policy in namespace ns with a selector selects
// the workload: a policy in the root namespace covers every namespace,
// one without selector every workload of its namespace.
func applies(ns string, selector map[string]string, wl workload) (Tri, string) {
	scope := "namespace " + ns
	if ns == RootNamespace {
		scope = "the whole mesh"
	} else if ns != wl.namespace {
		return No, "namespace " + ns
	}
	if len(selector) == 0 {
		return Yes, "every workload of " + scope
	}
	scope = "workloads of " + scope + " labelled " + labelString(selector)
	t := Yes
	for k, v := range selector {
		got, ok := wl.labels[k]
		switch {
		case ok && got == v:
		case ok || wl.complete:
			return No, scope
		default:
			t = Unknown
		}
	}
	if t == Unknown {
		scope += " (the pods' other labels are unknown: --workload-label)"
	}
	return t, scope
}

// policiesFor evaluates every AuthorizationPolicy that applies, or may,
// to the workload; a policy of the workload's namespace whose selector
// does not match is listed too, since it is the usual surprise.
func (x *explainer) policiesFor(wl workload, a *attrs) []PolicyCheck {
	var out []PolicyCheck
	for _, ap := range x.idx.authorizations {
		action := ap.spec.GetAction().String()
		pc := PolicyCheck{Policy: ap.ref, Action: action}
		if ap.spec.GetTargetRef() != nil || len(ap.spec.GetTargetRefs()) > 0 {
			if ap.ref.Namespace == wl.namespace || ap.ref.Namespace == RootNamespace {
				pc.Applies, pc.Scope = No, "targetRefs: it attaches to Gateway API resources, which explain does not model"
				out = append(out, pc)
			}
			continue
		}
		pc.Applies, pc.Scope = applies(ap.ref.Namespace, ap.spec.GetSelector().GetMatchLabels(), wl)
		if pc.Applies == No {
			if ap.ref.Namespace == wl.namespace {
				out = append(out, pc)
			}
			continue
		}
		pc.Matches = No
		for i, rule := range ap.spec.GetRules() {
			m, conds, facts := a.rule(rule)
			pc.Rules = append(pc.Rules, RuleCheck{Index: i + 1, Matches: m, Conditions: conds})
			pc.rules = append(pc.rules, facts)
			pc.Matches = pc.Matches.or(m)
		}
		out = append(out, pc)
	}
	return out
}

// decide is Istio's order: a CUSTOM policy that matches asks its
// provider first; then any matching DENY rule denies; then, when any
// ALLOW policy applies, only a matching ALLOW rule allows; when none
// applies, the request is allowed. AUDIT policies decide nothing.
func decide(pcs []PolicyCheck) (Tri, string) {
	var custom, deny, allow *PolicyCheck
	customT, denyT, allowT, hasAllow := No, No, No, No
	var allowPolicies []string
	for i := range pcs {
		p := &pcs[i]
		e := p.Applies.and(p.Matches)
		switch p.Action {
		case "CUSTOM":
			if e > customT {
				customT, custom = e, p
			}
		case "DENY":
			if e > denyT {
				denyT, deny = e, p
			}
		case "ALLOW":
			hasAllow = hasAllow.or(p.Applies)
			if p.Applies != No {
				allowPolicies = append(allowPolicies, p.Policy.String())
			}
			if e > allowT {
				allowT, allow = e, p
			}
		}
	}
	if denyT == Yes {
		return No, "DENY policy " + deny.Policy.String() + " " + firstRule(deny, Yes) + " matches"
	}
	var rest Tri
	var reason string
	switch {
	case allowT == Yes:
		rest, reason = Yes, "ALLOW policy "+allow.Policy.String()+" "+firstRule(allow, Yes)+" matches"
	case hasAllow == No:
		rest, reason = Yes, "no ALLOW policy applies and no DENY rule matches"
	case hasAllow == Yes && allowT == No:
		rest, reason = No, "ALLOW policies apply ("+strings.Join(allowPolicies, ", ")+") and none of their rules matches"
	case allowT == Unknown && allow.Matches == Yes:
		rest, reason = Unknown, "ALLOW policy "+allow.Policy.String()+" "+firstRule(allow, Yes)+" matches, if the policy selects these pods: "+allow.Scope
	case allowT == Unknown:
		rest, reason = Unknown, "ALLOW policy "+allow.Policy.String()+" "+firstRule(allow, Unknown)+" may match: it cannot be told offline"
	default:
		rest, reason = Unknown, "whether ALLOW policies ("+strings.Join(allowPolicies, ", ")+") apply cannot be told offline: if they do, none of their rules matches"
	}
	if denyT == Unknown && rest != No {
		rest = Unknown
		if deny.Matches == Yes {
			reason = "DENY policy " + deny.Policy.String() + " " + firstRule(deny, Yes) + " matches, if the policy selects these pods: " + deny.Scope
		} else {
			reason = "DENY policy " + deny.Policy.String() + " " + firstRule(deny, Unknown) + " may match: it cannot be told offline"
		}
	}
	if customT != No && rest != No {
		rest, reason = Unknown, "CUSTOM policy "+custom.Policy.String()+" hands the request to its provider, which decides"
	}
	return rest, reason
}

// firstRule names the first rule of p whose match is t.
func firstRule(p *PolicyCheck, t Tri) string {
	for _, r := range p.Rules {
		if r.Matches == t {
			return fmt.Sprintf("rule %d", r.Index)
		}
	}
	return "(no rule)"
}

// rule matches a request when every part it has matches: one of its
// from sources, one of its to operations, and every when condition.
func (a *attrs) rule(r *security.Rule) (Tri, []string, *ruleFacts) {
	facts := &ruleFacts{}
	var held, failed, unknown []string
	note := func(t Tri, c string) {
		switch t {
		case Yes:
			held = append(held, c)
		case No:
			failed = append(failed, c)
		default:
			unknown = append(unknown, c)
		}
	}
	total := Yes
	if len(r.GetFrom()) == 0 {
		held = append(held, "from: any source (the rule has no from)")
	} else {
		t, c := anyOf("from", len(r.GetFrom()), func(i int) (Tri, string) {
			s := r.GetFrom()[i].GetSource()
			if len(s.GetRequestPrincipals())+len(s.GetNotRequestPrincipals()) > 0 {
				facts.requestAuth = true
			}
			return a.source(s)
		})
		total = total.and(t)
		note(t, c)
	}
	if len(r.GetTo()) == 0 {
		held = append(held, "to: any operation (the rule has no to)")
	} else {
		t, c := anyOf("to", len(r.GetTo()), func(i int) (Tri, string) { return a.operation(r.GetTo()[i].GetOperation()) })
		total = total.and(t)
		note(t, c)
	}
	for _, w := range r.GetWhen() {
		if strings.HasPrefix(w.GetKey(), "request.auth.") {
			facts.requestAuth = true
		}
		t, c := a.condition(w)
		total = total.and(t)
		note(t, c)
	}
	switch total {
	case Yes:
		return Yes, held, facts
	case No:
		return No, failed[:1], facts
	}
	return Unknown, unknown, facts
}

// anyOf ORs the entries of a rule's from or to, and says which held, or
// why the first failed.
func anyOf(what string, n int, entry func(int) (Tri, string)) (Tri, string) {
	best, desc := No, ""
	for i := 0; i < n; i++ {
		t, c := entry(i)
		if n > 1 {
			c = fmt.Sprintf("%s %d: %s", what, i+1, c)
		} else {
			c = what + ": " + c
		}
		if t > best || desc == "" {
			best, desc = t, c
		}
		if t == Yes {
			break
		}
	}
	return best, desc
}

// field is one field of a source or operation: values (ORed) that the
// attribute must match, or, negated, must not.
type field struct {
	name   string
	values []string
	not    bool
	// value is the attribute; present false when the request has none,
	// known false when it cannot be told offline.
	value   string
	present bool
	known   bool
	match   func(pattern, value string) bool
}

// all ANDs the fields that are set.
func all(fields []field) (Tri, string) {
	var held []string
	for _, f := range fields {
		if len(f.values) == 0 {
			continue
		}
		c := f.name + " " + strings.Join(f.values, ", ")
		var t Tri
		switch {
		case !f.known:
			t = Unknown
		case !f.present:
			// Envoy's matchers fail on a missing attribute, and their
			// negation holds.
			t = No
		default:
			t = No
			for _, v := range f.values {
				if f.match(v, f.value) {
					t = Yes
					break
				}
			}
		}
		if f.not {
			t = t.not()
		}
		switch {
		case t == Unknown:
			return Unknown, c + ": unknown offline"
		case t == No && !f.present:
			return No, c + ": the request has none"
		case t == No:
			return No, fmt.Sprintf("%s: it is %s", c, f.value)
		}
		held = append(held, c)
	}
	if len(held) == 0 {
		return Yes, "any"
	}
	return Yes, strings.Join(held, "; ")
}

func (a *attrs) source(s *security.Source) (Tri, string) {
	p, hasP := a.src.principal, a.src.principal != ""
	ns, hasNS := a.src.namespace, a.src.namespace != ""
	sa, hasSA := serviceAccountOf(p)
	ip, knownIP := a.src.ip, a.src.ip != ""
	rip, knownRIP := a.remoteIP, a.remoteIP != ""
	rp, hasRP := a.requestPrincipal, a.requestPrincipal != ""
	return all([]field{
		{name: "principals", values: s.GetPrincipals(), value: p, present: hasP, known: true, match: pattern},
		{name: "notPrincipals", values: s.GetNotPrincipals(), not: true, value: p, present: hasP, known: true, match: pattern},
		{name: "requestPrincipals", values: s.GetRequestPrincipals(), value: rp, present: hasRP, known: true, match: pattern},
		{name: "notRequestPrincipals", values: s.GetNotRequestPrincipals(), not: true, value: rp, present: hasRP, known: true, match: pattern},
		{name: "namespaces", values: s.GetNamespaces(), value: ns, present: hasNS, known: true, match: pattern},
		{name: "notNamespaces", values: s.GetNotNamespaces(), not: true, value: ns, present: hasNS, known: true, match: pattern},
		{name: "serviceAccounts", values: s.GetServiceAccounts(), value: sa, present: hasSA, known: true, match: exactly},
		{name: "notServiceAccounts", values: s.GetNotServiceAccounts(), not: true, value: sa, present: hasSA, known: true, match: exactly},
		{name: "ipBlocks", values: s.GetIpBlocks(), value: ip, present: true, known: knownIP, match: inBlock},
		{name: "notIpBlocks", values: s.GetNotIpBlocks(), not: true, value: ip, present: true, known: knownIP, match: inBlock},
		{name: "remoteIpBlocks", values: s.GetRemoteIpBlocks(), value: rip, present: true, known: knownRIP, match: inBlock},
		{name: "notRemoteIpBlocks", values: s.GetNotRemoteIpBlocks(), not: true, value: rip, present: true, known: knownRIP, match: inBlock},
	})
}

func (a *attrs) operation(o *security.Operation) (Tri, string) {
	port := strconv.Itoa(a.port)
	return all([]field{
		{name: "hosts", values: o.GetHosts(), value: a.host, present: true, known: true, match: patternFold},
		{name: "notHosts", values: o.GetNotHosts(), not: true, value: a.host, present: true, known: true, match: patternFold},
		{name: "ports", values: o.GetPorts(), value: port, present: true, known: true, match: exactly},
		{name: "notPorts", values: o.GetNotPorts(), not: true, value: port, present: true, known: true, match: exactly},
		{name: "methods", values: o.GetMethods(), value: a.method, present: true, known: true, match: pattern},
		{name: "notMethods", values: o.GetNotMethods(), not: true, value: a.method, present: true, known: true, match: pattern},
		{name: "paths", values: o.GetPaths(), value: a.path, present: true, known: true, match: pathPattern},
		{name: "notPaths", values: o.GetNotPaths(), not: true, value: a.path, present: true, known: true, match: pathPattern},
	})
}

// condition is a when condition: its key's attribute must match one of
// values, and none of notValues.
func (a *attrs) condition(c *security.Condition) (Tri, string) {
	key := c.GetKey()
	value, present, known, match := a.attribute(key)
	var fields []field
	if len(c.GetValues()) > 0 {
		fields = append(fields, field{name: key + " in", values: c.GetValues(), value: value, present: present, known: known, match: match})
	}
	if len(c.GetNotValues()) > 0 {
		fields = append(fields, field{name: key + " not in", values: c.GetNotValues(), not: true, value: value, present: present, known: known, match: match})
	}
	t, desc := all(fields)
	if !known && t == Unknown {
		desc = key + ": explain cannot know it offline"
	}
	return t, "when " + desc
}

// attribute reads a condition key's attribute.
func (a *attrs) attribute(key string) (value string, present, known bool, match func(string, string) bool) {
	match = pattern
	switch {
	case strings.HasPrefix(key, "request.headers[") && strings.HasSuffix(key, "]"):
		name := strings.ToLower(key[len("request.headers[") : len(key)-1])
		v, ok := a.headers[name]
		return strings.Join(v, ","), ok, true, pattern
	case key == "source.ip":
		return a.src.ip, true, a.src.ip != "", inBlock
	case key == "remote.ip":
		return a.remoteIP, true, a.remoteIP != "", inBlock
	case key == "source.namespace":
		return a.src.namespace, a.src.namespace != "", true, pattern
	case key == "source.principal":
		return a.src.principal, a.src.principal != "", true, pattern
	case key == "source.serviceAccount":
		sa, ok := serviceAccountOf(a.src.principal)
		return sa, ok, true, exactly
	case key == "request.auth.principal":
		return a.requestPrincipal, a.requestPrincipal != "", true, pattern
	case key == "request.auth.audiences", key == "request.auth.presenter":
		claim := "aud"
		if key == "request.auth.presenter" {
			claim = "azp"
		}
		vs, ok := claimValues(a.claims, []string{claim})
		return strings.Join(vs, "\x00"), ok, true, anyElement(pattern)
	case strings.HasPrefix(key, "request.auth.claims["):
		path := strings.Split(strings.TrimSuffix(strings.TrimPrefix(key, "request.auth.claims["), "]"), "][")
		vs, ok := claimValues(a.claims, path)
		return strings.Join(vs, "\x00"), ok, true, anyElement(pattern)
	case key == "destination.port":
		return strconv.Itoa(a.port), true, true, exactly
	case key == "connection.sni":
		return a.sni, true, a.sni != "", pattern
	}
	// destination.ip, experimental.envoy.filters.*: not knowable here.
	return "", false, false, pattern
}

// anyElement matches a list attribute (joined by NUL) when any element
// matches, as Istio matches list-typed JWT claims.
func anyElement(m func(string, string) bool) func(string, string) bool {
	return func(p, joined string) bool {
		for _, v := range strings.Split(joined, "\x00") {
			if m(p, v) {
				return true
			}
		}
		return false
	}
}

// pattern is Istio's string match of authorization values: "*" matches
// any non-empty value, "*x" a suffix, "x*" a prefix, else the value
// exactly.
func pattern(p, v string) bool {
	switch {
	case p == "*":
		return v != ""
	case strings.HasPrefix(p, "*"):
		return strings.HasSuffix(v, p[1:])
	case strings.HasSuffix(p, "*"):
		return strings.HasPrefix(v, p[:len(p)-1])
	}
	return p == v
}

// patternFold is pattern without regard to case, as hosts are matched.
func patternFold(p, v string) bool { return pattern(strings.ToLower(p), strings.ToLower(v)) }

func exactly(p, v string) bool { return p == v }

// pathPattern matches paths (without the query string): Istio's
// patterns, and path templates where {*} stands for one segment and {**}
// for any rest.
func pathPattern(p, v string) bool {
	if !strings.Contains(p, "{*") {
		return pattern(p, v)
	}
	var b strings.Builder
	b.WriteString("^")
	for rest := p; rest != ""; {
		i := strings.Index(rest, "{*")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "{**}"):
			b.WriteString(".*")
			rest = rest[4:]
		case strings.HasPrefix(rest, "{*}"):
			b.WriteString("[^/]+")
			rest = rest[3:]
		default:
			b.WriteString(regexp.QuoteMeta(rest[:2]))
			rest = rest[2:]
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(v)
}

// inBlock matches an IP address against an address or a CIDR block.
func inBlock(block, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	if pfx, err := netip.ParsePrefix(block); err == nil {
		return pfx.Contains(addr)
	}
	b, err := netip.ParseAddr(block)
	return err == nil && b == addr
}

// serviceAccountOf is "NAMESPACE/NAME" of an identity
// "cluster.local/ns/NAMESPACE/sa/NAME".
func serviceAccountOf(principal string) (string, bool) {
	parts := strings.Split(principal, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return "", false
	}
	return parts[2] + "/" + parts[4], true
}

// mtlsMode is the PeerAuthentication mode for the workload on port: the
// workload's own policy (its port's mode first), else its namespace's,
// else the mesh's (the root namespace's); UNSET inherits; PERMISSIVE when
// none says.
func (x *explainer) mtlsMode(wl workload, port int) (string, string) {
	mode, by := "PERMISSIVE", "no PeerAuthentication: Istio's default"
	for _, scope := range []int{0, 1, 2} { // mesh, namespace, workload
		for _, pa := range x.idx.peers {
			sel := pa.spec.GetSelector().GetMatchLabels()
			switch scope {
			case 0:
				if pa.ref.Namespace != RootNamespace || len(sel) > 0 {
					continue
				}
			case 1:
				if pa.ref.Namespace != wl.namespace || len(sel) > 0 {
					continue
				}
			case 2:
				if t, _ := applies(pa.ref.Namespace, sel, wl); pa.ref.Namespace != wl.namespace || len(sel) == 0 || t != Yes {
					continue
				}
			}
			m := pa.spec.GetMtls().GetMode().String()
			if pm, ok := pa.spec.GetPortLevelMtls()[uint32(port)]; ok && scope == 2 {
				m = pm.GetMode().String()
			}
			if m != "UNSET" {
				mode, by = m, "PeerAuthentication "+pa.ref.String()
			}
		}
	}
	return mode, by
}
