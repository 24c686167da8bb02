package explain

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// proxy is the proxy that routes a request: the client's sidecar, or the
// gateway's pods. Route matches on source labels and namespace, and on
// gateways, are about it.
type proxy struct {
	// gateway is the Gateway ("NAMESPACE/NAME") whose server took the
	// request, or "mesh" for a sidecar.
	gateway   string
	labels    map[string]string
	namespace string
}

// routed is a request as a proxy routes it.
type routed struct {
	req   *Request
	path  string // without the query string
	query map[string][]string
	port  int
	// scheme is what the routing proxy sees: https behind a gateway
	// server that terminates TLS, else http.
	scheme string
	by     proxy
	// claims are the claims of a token that the routing proxy validated,
	// which "@request.auth.claims" header matches read; nil without.
	claims map[string]any
}

// describe writes a StringMatch as the condition it is.
func describe(m *networking.StringMatch) string {
	if isPresence(m) {
		return "present"
	}
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return fmt.Sprintf("exact %q", t.Exact)
	case *networking.StringMatch_Prefix:
		return fmt.Sprintf("prefix %q", t.Prefix)
	case *networking.StringMatch_Regex:
		return fmt.Sprintf("regex %q", t.Regex)
	}
	return "present"
}

// isPresence: an empty match, or the regex "*" (which Istio reads as a
// wildcard, not as RE2), only asks for the header to be there.
func isPresence(m *networking.StringMatch) bool {
	if m == nil || m.GetMatchType() == nil {
		return true
	}
	r, ok := m.GetMatchType().(*networking.StringMatch_Regex)
	return ok && r.Regex == "*"
}

// matchValue applies a StringMatch to a value as Envoy's string matcher
// does: exact and prefix compare bytes, regex is RE2 and must match the
// whole value.
func matchValue(m *networking.StringMatch, v string, ignoreCase bool) (bool, error) {
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		if ignoreCase {
			return strings.EqualFold(v, t.Exact), nil
		}
		return v == t.Exact, nil
	case *networking.StringMatch_Prefix:
		if ignoreCase {
			return len(v) >= len(t.Prefix) && strings.EqualFold(v[:len(t.Prefix)], t.Prefix), nil
		}
		return strings.HasPrefix(v, t.Prefix), nil
	case *networking.StringMatch_Regex:
		re, err := regexp.Compile(`^(?:` + t.Regex + `)$`)
		if err != nil {
			return false, fmt.Errorf("regex %q does not compile: %w", t.Regex, err)
		}
		return re.MatchString(v), nil
	}
	return true, nil
}

// headerCond is one header condition: a header that must match (or, for
// withoutHeaders, must not), present or not.
func headerCond(what, name string, m *networking.StringMatch, value string, present, without bool) (bool, string) {
	cond := fmt.Sprintf("%s %s %s", what, name, describe(m))
	var ok bool
	switch {
	case isPresence(m):
		ok = present
	case !present:
		// Envoy: a missing header fails every value match, and
		// withoutHeaders inverts the result (invert_match), so
		// `without exact "x"` holds for a request that does not send it.
		ok = false
	default:
		var err error
		ok, err = matchValue(m, value, false)
		if err != nil {
			return false, cond + ": " + err.Error()
		}
	}
	if without {
		ok = !ok
	}
	if ok {
		return true, cond
	}
	if !present {
		return false, cond + ": not sent"
	}
	return false, fmt.Sprintf("%s: it is %q", cond, value)
}

// matchHTTP evaluates one alternative of a route's match. It returns
// whether it holds, and either the conditions that held or the first
// that failed, in the order Istio's documentation lists the fields.
func matchHTTP(m *networking.HTTPMatchRequest, r *routed) (bool, []string, error) {
	var held []string
	fail := func(s string) (bool, []string, error) { return false, []string{s}, nil }
	if m.GetPort() != 0 {
		c := fmt.Sprintf("port %d", m.GetPort())
		if int(m.GetPort()) != r.port {
			return fail(fmt.Sprintf("%s: the request is for port %d", c, r.port))
		}
		held = append(held, c)
	}
	// Istio decides these when it builds a proxy's routes: a match naming
	// gateways is kept only for those gateways, and then source labels
	// and namespace are not looked at (sourceMatchHTTP).
	if gws := m.GetGateways(); len(gws) > 0 {
		c := "gateways " + strings.Join(gws, ", ")
		if !slices.Contains(gws, r.by.gateway) {
			return fail(fmt.Sprintf("%s: the request comes through %s", c, r.by.gateway))
		}
		held = append(held, c)
	} else {
		if sl := m.GetSourceLabels(); len(sl) > 0 {
			c := "source labels " + labelString(sl)
			for k, v := range sl {
				if got, ok := r.by.labels[k]; !ok || got != v {
					return fail(fmt.Sprintf("%s: the %s carries %s", c, r.by.what(), labelString(r.by.labels)))
				}
			}
			held = append(held, c)
		}
		if ns := m.GetSourceNamespace(); ns != "" {
			c := "source namespace " + ns
			if ns != r.by.namespace {
				return fail(fmt.Sprintf("%s: the %s is in %s", c, r.by.what(), r.by.namespace))
			}
			held = append(held, c)
		}
	}
	if u := m.GetUri(); u != nil {
		c := "uri " + describe(u)
		if m.GetIgnoreUriCase() {
			c += " (ignoring case)"
		}
		value := r.path
		if _, ok := u.GetMatchType().(*networking.StringMatch_Prefix); ok {
			// Envoy compares a prefix with the whole :path header, query
			// string included; exact and regex with the path alone.
			value = r.req.Path
		}
		// Envoy ignores case for exact and prefix only, never for a regex.
		_, isRegex := u.GetMatchType().(*networking.StringMatch_Regex)
		ok, err := matchValue(u, value, m.GetIgnoreUriCase() && !isRegex)
		if err != nil {
			return fail(c + ": " + err.Error())
		}
		if !ok {
			return fail(fmt.Sprintf("%s: the path is %q", c, value))
		}
		held = append(held, c)
	}
	for _, pseudo := range []struct {
		name  string
		m     *networking.StringMatch
		value string
	}{
		{"method", m.GetMethod(), r.req.Method},
		{"authority", m.GetAuthority(), r.req.Host},
		{"scheme", m.GetScheme(), r.scheme},
	} {
		if pseudo.m == nil {
			continue
		}
		c := pseudo.name + " " + describe(pseudo.m)
		ok, err := matchValue(pseudo.m, pseudo.value, false)
		if err != nil {
			return fail(c + ": " + err.Error())
		}
		if !ok {
			return fail(fmt.Sprintf("%s: it is %q", c, pseudo.value))
		}
		held = append(held, c)
	}
	for _, hs := range []struct {
		matches map[string]*networking.StringMatch
		without bool
	}{{m.GetHeaders(), false}, {m.GetWithoutHeaders(), true}} {
		for _, name := range slices.Sorted(maps.Keys(hs.matches)) {
			ok, c := r.headerMatch(name, hs.matches[name], hs.without)
			if !ok {
				return fail(c)
			}
			held = append(held, c)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.GetQueryParams())) {
		qm := m.GetQueryParams()[name]
		c := fmt.Sprintf("query %s %s", name, describe(qm))
		values, present := r.query[name]
		if !present {
			return fail(c + ": not sent")
		}
		if isPresence(qm) {
			held = append(held, c)
			continue
		}
		// Envoy matches a parameter's first value.
		ok, err := matchValue(qm, values[0], false)
		if err != nil {
			return fail(c + ": " + err.Error())
		}
		if !ok {
			return fail(fmt.Sprintf("%s: it is %q", c, values[0]))
		}
		held = append(held, c)
	}
	return true, held, nil
}

func (p proxy) what() string {
	if p.gateway == "mesh" {
		return "client"
	}
	return "gateway"
}

// labelString writes labels sorted, as k=v pairs, {} for none.
func labelString(labels map[string]string) string {
	if len(labels) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// claimPath recognises a header match on a JWT claim, which Istio turns
// into a match on the claims its jwt filter validated:
// "@request.auth.claims.a.b" or "@request.auth.claims[a][b]".
func claimPath(name string) ([]string, bool) {
	rest, ok := strings.CutPrefix(name, "@request.auth.claims")
	if !ok || rest == "" {
		return nil, false
	}
	if dotted, ok := strings.CutPrefix(rest, "."); ok {
		return strings.Split(dotted, "."), true
	}
	if strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		return strings.Split(rest[1:len(rest)-1], "]["), true
	}
	return nil, false
}

// claimCond matches a claim of the validated token: a string claim as a
// whole, a list when any element matches.
func claimCond(name string, path []string, m *networking.StringMatch, claims map[string]any) (bool, string) {
	c := fmt.Sprintf("header %s %s", name, describe(m))
	if claims == nil {
		return false, c + ": no token validated here"
	}
	values, ok := claimValues(claims, path)
	if !ok {
		return false, c + ": the token has no such claim"
	}
	for _, v := range values {
		if isPresence(m) {
			return true, c
		}
		if ok, _ := matchValue(m, v, false); ok {
			return true, c
		}
	}
	return false, fmt.Sprintf("%s: it is %s", c, strings.Join(values, ","))
}

// claimValues follows a claim path into a token's payload; a claim is a
// string or a list of strings (numbers and booleans as JSON writes them).
func claimValues(payload map[string]any, path []string) ([]string, bool) {
	var v any = payload
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			out = append(out, fmt.Sprint(e))
		}
		return out, true
	case map[string]any:
		return nil, false
	case nil:
		return nil, false
	}
	return []string{fmt.Sprint(v)}, true
}

// headerMatch is one header condition of a match, or with without one of
// its withoutHeaders: a JWT claim (@request.auth.claims.NAME) or a header
// of the request.
func (r *routed) headerMatch(name string, hm *networking.StringMatch, without bool) (bool, string) {
	if claim, isClaim := claimPath(name); isClaim {
		ok, c := claimCond(name, claim, hm, r.claims)
		if without {
			return !ok, "without " + c
		}
		return ok, c
	}
	what := "header"
	if without {
		what = "without header"
	}
	v, present := r.req.header(name)
	return headerCond(what, strings.ToLower(name), hm, v, present, without)
}
