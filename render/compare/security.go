package compare

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
)

// securityKinds are the kinds of isSecurity, by name, which order the
// objects of a cluster.
var securityKinds = map[string]bool{"AuthorizationPolicy": true, "PeerAuthentication": true, "RequestAuthentication": true}

// isSecurity is whether a spec is one of the kinds the Markdown shows
// first: who may call what, mTLS, and JWT.
func isSecurity(a, b proto.Message) bool {
	return isType[*securityv1beta1.AuthorizationPolicy](a, b) ||
		isType[*securityv1beta1.PeerAuthentication](a, b) ||
		isType[*securityv1beta1.RequestAuthentication](a, b)
}

// securityNotes says what changes in an AuthorizationPolicy,
// PeerAuthentication or RequestAuthentication, warning where more gets
// through. a is nil for an object added, b for one removed.
func securityNotes(subject, ns string, a, b proto.Message) []Note {
	switch {
	case isType[*securityv1beta1.AuthorizationPolicy](a, b):
		pa, _ := a.(*securityv1beta1.AuthorizationPolicy)
		pb, _ := b.(*securityv1beta1.AuthorizationPolicy)
		return authorizationNotes(subject, ns, pa, pb)
	case isType[*securityv1beta1.PeerAuthentication](a, b):
		pa, _ := a.(*securityv1beta1.PeerAuthentication)
		pb, _ := b.(*securityv1beta1.PeerAuthentication)
		return peerAuthenticationNotes(subject, ns, pa, pb)
	case isType[*securityv1beta1.RequestAuthentication](a, b):
		ra, _ := a.(*securityv1beta1.RequestAuthentication)
		rb, _ := b.(*securityv1beta1.RequestAuthentication)
		return requestAuthenticationNotes(subject, ns, ra, rb)
	}
	return nil
}

func security(subject string, warn bool, text string) Note {
	return Note{Topic: Security, Warn: warn, Subject: subject, Text: text}
}

// rootNamespace is Istio's default root namespace, where a policy without
// a selector applies to the whole mesh.
const rootNamespace = "istio-system"

// workloads says which workloads a policy in namespace ns selects.
func workloads(ns string, s *typev1beta1.WorkloadSelector) string {
	switch {
	case (s == nil || len(s.MatchLabels) == 0) && ns == rootNamespace:
		return "every workload of the mesh (no selector in the root namespace " + code(ns) + ")"
	case s == nil || len(s.MatchLabels) == 0:
		return "every workload of namespace " + code(ns)
	}
	return "workloads " + labelString(s.MatchLabels)
}

func rulesCount(n int) string {
	if n == 1 {
		return "1 rule"
	}
	return fmt.Sprintf("%d rules", n)
}

func authorizationNotes(subject, ns string, a, b *securityv1beta1.AuthorizationPolicy) []Note {
	switch {
	case a == nil:
		text := fmt.Sprintf("%s added for %s, %s", code(b.Action.String()), workloads(ns, b.Selector), rulesCount(len(b.Rules)))
		if b.Action == securityv1beta1.AuthorizationPolicy_ALLOW {
			text += ": a workload with an ALLOW policy denies what none of them allows"
		}
		return []Note{security(subject, false, text)}
	case b == nil:
		switch a.Action {
		case securityv1beta1.AuthorizationPolicy_DENY:
			return []Note{security(subject, true, fmt.Sprintf("**DENY removed**: what its %s denied to %s is no longer denied", rulesCount(len(a.Rules)), workloads(ns, a.Selector)))}
		case securityv1beta1.AuthorizationPolicy_ALLOW:
			return []Note{security(subject, true, fmt.Sprintf("**ALLOW removed** for %s: what only it allowed is denied, or, if no other ALLOW policy selects them, everything is allowed", workloads(ns, a.Selector)))}
		case securityv1beta1.AuthorizationPolicy_CUSTOM:
			return []Note{security(subject, true, fmt.Sprintf("**CUSTOM removed**: requests to %s are no longer checked by %s", workloads(ns, a.Selector), code(a.GetProvider().GetName())))}
		}
		return []Note{security(subject, false, code(a.Action.String())+" removed")}
	}
	var out []Note
	if a.Action != b.Action {
		out = append(out, security(subject, true, fmt.Sprintf("**action** %s → %s", code(a.Action.String()), code(b.Action.String()))))
	}
	if !proto.Equal(a.Selector, b.Selector) {
		out = append(out, security(subject, true, fmt.Sprintf("**selector**: %s → %s", workloads(ns, a.Selector), workloads(ns, b.Selector))))
	}
	if !proto.Equal(a.GetProvider(), b.GetProvider()) {
		out = append(out, security(subject, true, fmt.Sprintf("**provider** %s → %s", code(a.GetProvider().GetName()), code(b.GetProvider().GetName()))))
	}
	if a.Action == b.Action {
		if n, ok := ruleNotes(subject, b.Action, a.Rules, b.Rules); ok {
			out = append(out, n)
		}
	} else if cs := fieldChanges(&securityv1beta1.AuthorizationPolicy{Rules: a.Rules}, &securityv1beta1.AuthorizationPolicy{Rules: b.Rules}); len(cs) > 0 {
		out = append(out, security(subject, true, joinChanges(cs)))
	}
	// Anything else, such as targetRefs.
	ra, rb := proto.Clone(a).(*securityv1beta1.AuthorizationPolicy), proto.Clone(b).(*securityv1beta1.AuthorizationPolicy)
	for _, p := range []*securityv1beta1.AuthorizationPolicy{ra, rb} {
		p.Action, p.Selector, p.ActionDetail, p.Rules = 0, nil, nil, nil
	}
	if cs := fieldChanges(ra, rb); len(cs) > 0 {
		out = append(out, security(subject, true, joinChanges(cs)))
	}
	return out
}

// reach is how a change moves what a policy's rules match: matching more
// (looser) or fewer requests (tighter), or both in different places.
type reach struct {
	looser, tighter bool
	parts           []string
}

func (r *reach) add(text string, looser bool) {
	r.parts = append(r.parts, text)
	if looser {
		r.looser = true
	} else {
		r.tighter = true
	}
}

// ruleNotes says how the rules of a policy whose action stays move what it
// matches: an ALLOW that matches more lets more through (widened), a DENY
// or CUSTOM that matches less stops less (narrowed); both are warned of.
// The comparison is rule by rule and field by field, in place: a rule
// that moved in the list reads as changed.
func ruleNotes(subject string, action securityv1beta1.AuthorizationPolicy_Action, a, b []*securityv1beta1.Rule) (Note, bool) {
	var r reach
	for i := 0; i < max(len(a), len(b)); i++ {
		at := fmt.Sprintf("rule %d", i+1)
		switch {
		case i >= len(a):
			r.add(at+" added: "+ruleString(b[i]), true)
		case i >= len(b):
			r.add(at+" removed: "+ruleString(a[i]), false)
		default:
			compareRule(&r, at, a[i], b[i])
		}
	}
	if len(r.parts) == 0 {
		return Note{}, false
	}
	name := action.String()
	word, warn := name+" changed", false
	switch action {
	case securityv1beta1.AuthorizationPolicy_ALLOW:
		word, warn = direction(name, "widened", "narrowed", r.looser, r.tighter)
	case securityv1beta1.AuthorizationPolicy_DENY, securityv1beta1.AuthorizationPolicy_CUSTOM:
		// These act on what they match: matching less stops less.
		word, warn = direction(name, "narrowed", "widened", r.tighter, r.looser)
	}
	return security(subject, warn, word+": "+joinChanges(r.parts)), true
}

// direction words a policy's change by what its rules match: risky is the
// word for the direction that lets more through, which is warned of.
func direction(action, risky, safe string, isRisky, isSafe bool) (string, bool) {
	switch {
	case isRisky && isSafe:
		return "**" + action + " " + risky + "** (and " + safe + " elsewhere)", true
	case isRisky:
		return "**" + action + " " + risky + "**", true
	}
	return action + " " + safe, false
}

// compareRule adds how one rule moves: sources and operations are
// alternatives (one must match), conditions all must hold.
func compareRule(r *reach, at string, a, b *securityv1beta1.Rule) {
	fa, fb := sources(a.From), sources(b.From)
	compareAlternatives(r, at+" from", fa, fb)
	ta, tb := operations(a.To), operations(b.To)
	compareAlternatives(r, at+" to", ta, tb)
	keys := func(cs []*securityv1beta1.Condition) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Key
		}
		return out
	}
	ka, kb := keys(a.When), keys(b.When)
	for i, c := range b.When {
		j := slices.Index(ka, c.Key)
		if j < 0 {
			r.add(at+" when: "+code(c.Key)+" added", false)
			continue
		}
		compareFields(r, at+" when "+code(c.Key), a.When[j], b.When[i])
	}
	for _, c := range a.When {
		if !slices.Contains(kb, c.Key) {
			r.add(at+" when: "+code(c.Key)+" removed", true)
		}
	}
}

func sources(fs []*securityv1beta1.Rule_From) []proto.Message {
	out := make([]proto.Message, len(fs))
	for i, f := range fs {
		out[i] = f.GetSource()
	}
	return out
}

func operations(ts []*securityv1beta1.Rule_To) []proto.Message {
	out := make([]proto.Message, len(ts))
	for i, t := range ts {
		out[i] = t.GetOperation()
	}
	return out
}

// compareAlternatives compares a rule's sources (or operations), one of
// which must match: none at all matches everything.
func compareAlternatives(r *reach, at string, a, b []proto.Message) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return
	case len(a) == 0:
		r.add(at+": now only "+alternatives(b), false)
		return
	case len(b) == 0:
		r.add(at+": any (was "+alternatives(a)+")", true)
		return
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		ai := fmt.Sprintf("%s[%d]", at, i)
		switch {
		case i >= len(a):
			r.add(ai+" added: "+fieldsString(b[i]), true)
		case i >= len(b):
			r.add(ai+" removed: "+fieldsString(a[i]), false)
		default:
			compareFields(r, ai, a[i], b[i])
		}
	}
}

// compareFields compares the lists of a source, operation or condition:
// a list says "one of these" (principals, values), a not-list "none of
// these" (notPrincipals, notValues); an empty list does not restrict.
func compareFields(r *reach, at string, a, b proto.Message) {
	ma, mb := a.ProtoReflect(), b.ProtoReflect()
	fields := ma.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !fd.IsList() || fd.Kind() != protoreflect.StringKind {
			continue
		}
		va, vb := listStrings(fd, ma.Get(fd).List()), listStrings(fd, mb.Get(fd).List())
		added, removed := setDiff(va, vb)
		if len(added)+len(removed) == 0 {
			continue
		}
		name := at + " " + fd.JSONName()
		if strings.HasPrefix(fd.JSONName(), "not") {
			if len(added) > 0 {
				r.add(name+": "+plusMinus(added, nil), false)
			}
			if len(removed) > 0 {
				r.add(name+": "+plusMinus(nil, removed), true)
			}
			continue
		}
		switch {
		case len(va) == 0:
			r.add(name+": now only "+codeList(vb), false)
		case len(vb) == 0:
			r.add(name+": any (was "+codeList(va)+")", true)
		default:
			if len(added) > 0 {
				r.add(name+": "+plusMinus(added, nil), true)
			}
			if len(removed) > 0 {
				r.add(name+": "+plusMinus(nil, removed), false)
			}
		}
	}
}

// ruleString writes a rule on one line: its sources, operations and
// conditions, each with the lists that are set.
func ruleString(rule *securityv1beta1.Rule) string {
	var parts []string
	if len(rule.From) > 0 {
		parts = append(parts, "from "+alternatives(sources(rule.From)))
	}
	if len(rule.To) > 0 {
		parts = append(parts, "to "+alternatives(operations(rule.To)))
	}
	for _, c := range rule.When {
		parts = append(parts, "when "+code(c.Key)+" "+fieldsString(c))
	}
	if len(parts) == 0 {
		return "every request"
	}
	return strings.Join(parts, " ")
}

func alternatives(ms []proto.Message) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fieldsString(m)
	}
	return strings.Join(out, " or ")
}

// fieldsString writes the lists that are set: principals `a`, `b`.
func fieldsString(m proto.Message) string {
	msg := m.ProtoReflect()
	var parts []string
	fields := msg.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsList() && fd.Kind() == protoreflect.StringKind && msg.Get(fd).List().Len() > 0 {
			parts = append(parts, fd.JSONName()+" "+codeList(listStrings(fd, msg.Get(fd).List())))
		}
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " and ")
}

// mtlsRank orders mTLS modes by what they let through; UNSET inherits
// the namespace's or the mesh's mode, which the object does not say.
var mtlsRank = map[securityv1beta1.PeerAuthentication_MutualTLS_Mode]int{
	securityv1beta1.PeerAuthentication_MutualTLS_STRICT:     3,
	securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE: 2,
	securityv1beta1.PeerAuthentication_MutualTLS_DISABLE:    1,
	securityv1beta1.PeerAuthentication_MutualTLS_UNSET:      0,
}

// weaker is whether moving from mode a to b may accept plain text where it
// was refused: a lower rank, or a definite mode other than STRICT where
// the inherited one was (which may have been STRICT).
func weaker(a, b securityv1beta1.PeerAuthentication_MutualTLS_Mode) bool {
	if a == b {
		return false
	}
	return mtlsRank[b] < mtlsRank[a] || (a == securityv1beta1.PeerAuthentication_MutualTLS_UNSET && b != securityv1beta1.PeerAuthentication_MutualTLS_STRICT)
}

func mode(m *securityv1beta1.PeerAuthentication_MutualTLS) securityv1beta1.PeerAuthentication_MutualTLS_Mode {
	return m.GetMode()
}

func peerAuthenticationNotes(subject, ns string, a, b *securityv1beta1.PeerAuthentication) []Note {
	unset := securityv1beta1.PeerAuthentication_MutualTLS_UNSET
	switch {
	case a == nil:
		warn := weaker(unset, mode(b.Mtls)) && mode(b.Mtls) != unset
		text := fmt.Sprintf("added: mTLS %s for %s", code(mode(b.Mtls).String()), workloads(ns, b.Selector))
		for _, p := range sortedPorts(b.PortLevelMtls) {
			m := mode(b.PortLevelMtls[p])
			warn = warn || m == securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE || m == securityv1beta1.PeerAuthentication_MutualTLS_DISABLE
			text += fmt.Sprintf(", port %d %s", p, code(m.String()))
		}
		if warn {
			text = "**mTLS not strict**: " + text
		}
		return []Note{security(subject, warn, text)}
	case b == nil:
		strict := mode(a.Mtls) == securityv1beta1.PeerAuthentication_MutualTLS_STRICT
		text := fmt.Sprintf("%s fall back to the namespace's or the mesh's mTLS mode (it was %s)", workloads(ns, a.Selector), code(mode(a.Mtls).String()))
		if strict {
			text = "**STRICT mTLS removed**: " + text
		} else {
			text = "removed: " + text
		}
		return []Note{security(subject, strict, text)}
	}
	var out []Note
	if !proto.Equal(a.Selector, b.Selector) {
		out = append(out, security(subject, true, fmt.Sprintf("**selector**: %s → %s", workloads(ns, a.Selector), workloads(ns, b.Selector))))
	}
	if ma, mb := mode(a.Mtls), mode(b.Mtls); ma != mb {
		out = append(out, modeNote(subject, "mTLS", workloads(ns, b.Selector), ma, mb))
	}
	ports := sortedPorts(a.PortLevelMtls)
	for _, p := range sortedPorts(b.PortLevelMtls) {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	for _, p := range ports {
		if ma, mb := mode(a.PortLevelMtls[p]), mode(b.PortLevelMtls[p]); ma != mb {
			out = append(out, modeNote(subject, fmt.Sprintf("port %d mTLS", p), workloads(ns, b.Selector), ma, mb))
		}
	}
	return out
}

// modeNote says an mTLS mode changing for the workloads who.
func modeNote(subject, what, who string, a, b securityv1beta1.PeerAuthentication_MutualTLS_Mode) Note {
	if weaker(a, b) {
		return security(subject, true, fmt.Sprintf("**%s weakened** for %s: %s → %s", what, who, code(a.String()), code(b.String())))
	}
	return security(subject, false, fmt.Sprintf("%s for %s: %s → %s", what, who, code(a.String()), code(b.String())))
}

func sortedPorts(m map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS) []uint32 {
	out := make([]uint32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func issuers(ra *securityv1beta1.RequestAuthentication) []string {
	out := make([]string, len(ra.JwtRules))
	for i, r := range ra.JwtRules {
		out[i] = r.Issuer
	}
	return out
}

func requestAuthenticationNotes(subject, ns string, a, b *securityv1beta1.RequestAuthentication) []Note {
	switch {
	case a == nil:
		return []Note{security(subject, false, fmt.Sprintf("added: %s validate tokens from %s (a request without a token passes unless a policy requires one)", workloads(ns, b.Selector), codeList(issuers(b))))}
	case b == nil:
		return []Note{security(subject, false, fmt.Sprintf("removed: %s no longer validate tokens from %s", workloads(ns, a.Selector), codeList(issuers(a))))}
	}
	var out []Note
	if !proto.Equal(a.Selector, b.Selector) {
		out = append(out, security(subject, true, fmt.Sprintf("**selector**: %s → %s", workloads(ns, a.Selector), workloads(ns, b.Selector))))
	}
	ia := issuers(a)
	for _, rb := range b.JwtRules {
		j := slices.Index(ia, rb.Issuer)
		if j < 0 {
			out = append(out, security(subject, true, "**issuer added**: tokens from "+code(rb.Issuer)+" are accepted"))
			continue
		}
		ra := a.JwtRules[j]
		var parts []string
		warn := false
		if ra.JwksUri != rb.JwksUri || ra.Jwks != rb.Jwks {
			warn = true
			parts = append(parts, "**keys** from "+keySource(ra)+" → "+keySource(rb))
		}
		added, removed := setDiff(ra.Audiences, rb.Audiences)
		switch {
		case len(ra.Audiences) > 0 && len(rb.Audiences) == 0:
			warn = true
			parts = append(parts, "**any audience** (was "+codeList(ra.Audiences)+")")
		case len(added)+len(removed) > 0:
			warn = warn || len(added) > 0 && len(ra.Audiences) > 0
			parts = append(parts, "audiences: "+plusMinus(added, removed))
		}
		if rb.ForwardOriginalToken && !ra.ForwardOriginalToken {
			warn = true
			parts = append(parts, "**the token is forwarded** to the workloads")
		}
		ca, cb := proto.Clone(ra).(*securityv1beta1.JWTRule), proto.Clone(rb).(*securityv1beta1.JWTRule)
		for _, c := range []*securityv1beta1.JWTRule{ca, cb} {
			c.JwksUri, c.Jwks, c.Audiences, c.ForwardOriginalToken = "", "", nil, false
		}
		parts = append(parts, fieldChanges(ca, cb)...)
		if len(parts) > 0 {
			out = append(out, security(subject, warn, "issuer "+code(rb.Issuer)+": "+joinChanges(parts)))
		}
	}
	ib := issuers(b)
	for _, is := range ia {
		if !slices.Contains(ib, is) {
			out = append(out, security(subject, false, "issuer "+code(is)+" removed: its tokens are no longer accepted"))
		}
	}
	return out
}

func keySource(r *securityv1beta1.JWTRule) string {
	if r.Jwks != "" {
		return "inline keys"
	}
	return code(r.JwksUri)
}
