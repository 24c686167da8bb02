package schema

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// analyzeRoutes finds, in each service's routes, what istioctl analyze
// reports on the VirtualService they render: a route that can never be
// reached because earlier routes catch every request it matches (IST0130),
// an error, since the author meant the route to take traffic; and one
// alternative of a route's match that an earlier route catches while the
// route's other alternatives still work (IST0131), a warning. A route
// without match before the last one is reported by the service's own
// validation already.
func analyzeRoutes(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		routes := in.Services[name].Routes
		for i, r := range routes {
			if len(r.Match) == 0 {
				break // the default route: what follows is reported already
			}
			caughtBy := make([]int, len(r.Match))
			for j, m := range r.Match {
				caughtBy[j] = catcher(routes[:i], m)
			}
			if !slices.Contains(caughtBy, -1) {
				errs = append(errs, meshError(pos,
					fmt.Sprintf("route can never be reached: %s (IST0130)", caughtText(caughtBy)),
					"remove the route, or move it before the route that catches its requests; the first route that matches a request takes it",
					"services", name, "routes", i))
				continue
			}
			for j, k := range caughtBy {
				if k < 0 {
					continue
				}
				errs = append(errs, meshWarning(pos,
					fmt.Sprintf("this match never applies: routes[%d] takes every request it matches first (IST0131)", k),
					"remove this alternative, or move the route before routes["+fmt.Sprint(k)+"]",
					"services", name, "routes", i, "match", j))
			}
		}
	}
	return errs
}

// catcher is the first route that takes every request m matches, or -1.
func catcher(earlier []Route, m Match) int {
	for k, r := range earlier {
		for _, e := range r.Match {
			if covers(e, m) {
				return k
			}
		}
	}
	return -1
}

func caughtText(caughtBy []int) string {
	if len(caughtBy) == 1 {
		return fmt.Sprintf("routes[%d] takes every request its match takes", caughtBy[0])
	}
	var names []string
	for _, k := range slices.Compact(slices.Sorted(slices.Values(caughtBy))) {
		names = append(names, fmt.Sprintf("routes[%d]", k))
	}
	return "every alternative of its match is taken first by " + strings.Join(names, " and ")
}

// covers reports whether every request that b matches is matched by a:
// each condition of a is also a condition of b, the same or narrower. It
// errs on the side of no (a regular expression only covers itself), so
// that it never reports a route that can be reached.
func covers(a, b Match) bool {
	if a.IgnoreURICase != b.IgnoreURICase && (a.URI != nil || b.URI != nil) {
		return false
	}
	switch {
	case isAnyPath(a.URI):
	case b.URI == nil || !coversString(*a.URI, *b.URI):
		return false
	}
	if !coversOptional(a.Method, b.Method) || !coversOptional(a.Authority, b.Authority) {
		return false
	}
	if !coversMap(a.Headers, b.Headers) || !coversMap(a.QueryParams, b.QueryParams) {
		return false
	}
	// Conditions sailplan does not compare by narrowing: a's must be b's.
	for _, same := range []struct{ a, b any }{
		{a.WithoutHeaders, b.WithoutHeaders}, {a.SourceLabels, b.SourceLabels}, {a.Port, b.Port},
		{a.SourceNamespace, b.SourceNamespace}, {a.Gateways, b.Gateways},
	} {
		if !reflect.ValueOf(same.a).IsZero() && !reflect.DeepEqual(same.a, same.b) {
			return false
		}
	}
	return true
}

// isAnyPath is no condition on the path, or one every path meets.
func isAnyPath(m *StringMatch) bool {
	return m == nil || (m.Prefix != nil && *m.Prefix == "/")
}

func coversOptional(a, b *StringMatch) bool {
	if a == nil {
		return true
	}
	return b != nil && coversString(*a, *b)
}

func coversMap(a, b map[string]StringMatch) bool {
	for k, am := range a {
		bm, ok := b[k]
		if !ok || !coversString(am, bm) {
			return false
		}
	}
	return true
}

// coversString reports whether every string b matches, a matches.
func coversString(a, b StringMatch) bool {
	switch {
	case a.Prefix != nil && b.Prefix != nil:
		return strings.HasPrefix(*b.Prefix, *a.Prefix)
	case a.Prefix != nil && b.Exact != nil:
		return strings.HasPrefix(*b.Exact, *a.Prefix)
	case a.Exact != nil && b.Exact != nil:
		return *a.Exact == *b.Exact
	case a.Regex != nil && b.Regex != nil:
		return *a.Regex == *b.Regex
	}
	return false
}
