package compare

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// maxListedRoutes is how many routes a new VirtualService's note lists.
const maxListedRoutes = 4

// isRouting is whether a spec is a VirtualService or DestinationRule.
func isRouting(a, b proto.Message) bool {
	return isType[*networkingv1alpha3.VirtualService](a, b) || isType[*networkingv1alpha3.DestinationRule](a, b)
}

// routingNotes says what changes in a VirtualService or DestinationRule;
// nil for other kinds. a is nil for an object added, b for one removed.
func routingNotes(subject string, a, b proto.Message) []Note {
	switch {
	case isType[*networkingv1alpha3.VirtualService](a, b):
		va, _ := a.(*networkingv1alpha3.VirtualService)
		vb, _ := b.(*networkingv1alpha3.VirtualService)
		return virtualServiceNotes(subject, va, vb)
	case isType[*networkingv1alpha3.DestinationRule](a, b):
		da, _ := a.(*networkingv1alpha3.DestinationRule)
		db, _ := b.(*networkingv1alpha3.DestinationRule)
		return destinationRuleNotes(subject, da, db)
	}
	return nil
}

// isType is whether the side that is there is a T.
func isType[T proto.Message](a, b proto.Message) bool {
	if _, ok := a.(T); ok {
		return true
	}
	_, ok := b.(T)
	return ok
}

func routing(subject, text string) Note { return Note{Topic: Routing, Subject: subject, Text: text} }

func virtualServiceNotes(subject string, a, b *networkingv1alpha3.VirtualService) []Note {
	switch {
	case a == nil:
		return []Note{routing(subject, "new: "+routesSummary(b))}
	case b == nil:
		return []Note{routing(subject, "removed: its routes no longer apply, and Istio sends the traffic for "+codeList(a.Hosts)+" to every endpoint, whatever its version")}
	}
	var out []Note
	if added, removed := setDiff(a.Hosts, b.Hosts); len(added)+len(removed) > 0 {
		out = append(out, routing(subject, "hosts: "+plusMinus(added, removed)))
	}
	if added, removed := setDiff(a.Gateways, b.Gateways); len(added)+len(removed) > 0 {
		out = append(out, routing(subject, "gateways: "+plusMinus(added, removed)))
	}
	out = append(out, httpRouteNotes(subject, a, b)...)
	// TCP and TLS routes, exportTo: the fields that change.
	ra, rb := proto.Clone(a).(*networkingv1alpha3.VirtualService), proto.Clone(b).(*networkingv1alpha3.VirtualService)
	for _, v := range []*networkingv1alpha3.VirtualService{ra, rb} {
		v.Hosts, v.Gateways, v.Http = nil, nil, nil
	}
	if cs := fieldChanges(ra, rb); len(cs) > 0 {
		out = append(out, routing(subject, joinChanges(cs)))
	}
	return out
}

// httpRouteNotes pairs the HTTP routes of two versions by name, or by
// their match when unnamed, and says for each what changes: weights by
// destination, then the other fields.
func httpRouteNotes(subject string, a, b *networkingv1alpha3.VirtualService) []Note {
	ka, kb := routeKeys(a.Http), routeKeys(b.Http)
	var out []Note
	for i, k := range kb {
		hb := b.Http[i]
		j := slices.Index(ka, k)
		if j < 0 {
			out = append(out, routing(subject, "new "+routeLabel(hb)+" → "+destinations(b, hb)))
			continue
		}
		ha := a.Http[j]
		var parts []string
		if w := weightChanges(a, ha, b, hb); w != "" {
			parts = append(parts, w)
		}
		// The rest of the route: timeout, retries, fault, mirror, headers.
		ra, rb := proto.Clone(ha).(*networkingv1alpha3.HTTPRoute), proto.Clone(hb).(*networkingv1alpha3.HTTPRoute)
		for _, r := range []*networkingv1alpha3.HTTPRoute{ra, rb} {
			r.Name, r.Match, r.Route = "", nil, nil
		}
		parts = append(parts, fieldChanges(ra, rb)...)
		if len(parts) > 0 {
			out = append(out, routing(subject, routeLabel(hb)+": "+joinChanges(parts)))
		}
	}
	for j, k := range ka {
		if !slices.Contains(kb, k) {
			out = append(out, routing(subject, routeLabel(a.Http[j])+" removed"))
		}
	}
	// The first route that matches takes a request: an order that changes
	// sends requests elsewhere even when no route does.
	var common []string
	for _, k := range ka {
		if slices.Contains(kb, k) {
			common = append(common, k)
		}
	}
	var inB []string
	for _, k := range kb {
		if slices.Contains(common, k) {
			inB = append(inB, k)
		}
	}
	if !slices.Equal(common, inB) {
		out = append(out, routing(subject, "routes reordered (the first that matches takes the request): "+strings.Join(labels(a.Http, ka, common), ", ")+" → "+strings.Join(labels(b.Http, kb, inB), ", ")))
	}
	return out
}

func labels(routes []*networkingv1alpha3.HTTPRoute, keys, order []string) []string {
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = routeLabel(routes[slices.Index(keys, k)])
	}
	return out
}

// routeKeys identify routes across versions: the name, else the match;
// the second route of the same match is told apart by its place.
func routeKeys(routes []*networkingv1alpha3.HTTPRoute) []string {
	out := make([]string, len(routes))
	seen := map[string]int{}
	for i, r := range routes {
		k := "match " + matchString(r.Match)
		if r.Name != "" {
			k = "name " + r.Name
		}
		seen[k]++
		if seen[k] > 1 {
			k += "#" + strconv.Itoa(seen[k])
		}
		out[i] = k
	}
	return out
}

// routeLabel names a route in a note: by its name, else by its match.
func routeLabel(r *networkingv1alpha3.HTTPRoute) string {
	switch {
	case r.Name != "":
		return "route " + code(r.Name)
	case len(r.Match) == 0:
		return "default route"
	}
	return "route for " + matchString(r.Match)
}

// matchString writes a route's match: alternatives joined by "or", the
// conditions of each by "and".
func matchString(ms []*networkingv1alpha3.HTTPMatchRequest) string {
	alts := make([]string, len(ms))
	for i, m := range ms {
		alts[i] = matchRequestString(m)
	}
	return strings.Join(alts, " or ")
}

func matchRequestString(m *networkingv1alpha3.HTTPMatchRequest) string {
	var conds []string
	msg := m.ProtoReflect()
	fields := msg.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !msg.Has(fd) || fd.JSONName() == "name" {
			continue
		}
		v := msg.Get(fd)
		switch fd.JSONName() {
		case "uri", "scheme", "method", "authority":
			conds = append(conds, fd.JSONName()+" "+code(stringMatch("", v.Message().Interface().(*networkingv1alpha3.StringMatch))))
		case "headers", "queryParams", "withoutHeaders":
			word := map[string]string{"headers": "header", "queryParams": "query", "withoutHeaders": "without header"}[fd.JSONName()]
			for _, k := range sortedMapKeys(v.Map()) {
				sm := v.Map().Get(protoreflect.ValueOfString(k).MapKey()).Message().Interface().(*networkingv1alpha3.StringMatch)
				conds = append(conds, word+" "+code(stringMatch(k, sm)))
			}
		default:
			conds = append(conds, fd.JSONName()+" "+code(valueString(fd, v)))
		}
	}
	if len(conds) == 0 {
		return "every request"
	}
	return strings.Join(conds, " and ")
}

func sortedMapKeys(m protoreflect.Map) []string {
	var out []string
	m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		out = append(out, k.String())
		return true
	})
	slices.Sort(out)
	return out
}

// stringMatch writes a StringMatch compactly: name=value for an exact
// match, name=value* for a prefix, name~regex for a regular expression.
func stringMatch(name string, sm *networkingv1alpha3.StringMatch) string {
	eq := "="
	if name == "" {
		eq = ""
	}
	switch {
	case sm.GetExact() != "":
		return name + eq + sm.GetExact()
	case sm.GetPrefix() != "":
		return name + eq + sm.GetPrefix() + "*"
	case sm.GetRegex() != "":
		return name + "~" + sm.GetRegex()
	}
	return name // present, whatever its value
}

// routesSummary lists a new VirtualService's routes and where they go.
func routesSummary(vs *networkingv1alpha3.VirtualService) string {
	var parts []string
	for i, r := range vs.Http {
		if i == maxListedRoutes {
			parts = append(parts, fmt.Sprintf("and %d more routes", len(vs.Http)-i))
			break
		}
		parts = append(parts, routeLabel(r)+" → "+destinations(vs, r))
	}
	if len(vs.Tcp)+len(vs.Tls) > 0 {
		parts = append(parts, fmt.Sprintf("%d TCP and %d TLS routes", len(vs.Tcp), len(vs.Tls)))
	}
	if len(parts) == 0 {
		return "no routes"
	}
	return strings.Join(parts, "; ")
}

// destinations writes where a route sends requests: each destination with
// its weight, or its redirect or direct response.
func destinations(vs *networkingv1alpha3.VirtualService, r *networkingv1alpha3.HTTPRoute) string {
	switch {
	case r.Redirect != nil:
		return "redirect " + code(messageString(r.Redirect))
	case r.DirectResponse != nil:
		return "direct response " + code(messageString(r.DirectResponse))
	case len(r.Route) == 0:
		return "nowhere"
	}
	ws := weights(vs, r)
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.dest + " " + code(strconv.Itoa(w.weight)+"%")
	}
	return strings.Join(parts, ", ")
}

type weight struct {
	dest   string
	weight int
}

// weights are a route's destinations and their shares. A destination is
// named by its subset (the service's version) when it is the service's
// own host, else by host, port and subset. A lone destination without a
// weight takes everything, as Istio has it.
func weights(vs *networkingv1alpha3.VirtualService, r *networkingv1alpha3.HTTPRoute) []weight {
	own := ""
	if len(vs.Hosts) > 0 {
		own = vs.Hosts[0]
	}
	out := make([]weight, len(r.Route))
	for i, d := range r.Route {
		dest := d.GetDestination()
		name := dest.GetHost()
		if p := dest.GetPort().GetNumber(); p != 0 {
			name += ":" + strconv.Itoa(int(p))
		}
		switch {
		case dest.GetHost() == own && dest.GetPort() == nil && dest.GetSubset() != "":
			name = dest.GetSubset()
		case dest.GetSubset() != "":
			name += "/" + dest.GetSubset()
		}
		w := int(d.Weight)
		if len(r.Route) == 1 && w == 0 {
			w = 100
		}
		out[i] = weight{dest: name, weight: w}
	}
	return out
}

// weightChanges writes how the shares of a route's destinations move,
// "v1 `90%` → `50%`, v2 `10%` → `50%`", a destination that is not there
// at 0 %; empty when none moves.
func weightChanges(va *networkingv1alpha3.VirtualService, a *networkingv1alpha3.HTTPRoute, vb *networkingv1alpha3.VirtualService, b *networkingv1alpha3.HTTPRoute) string {
	wa, wb := weights(va, a), weights(vb, b)
	share := func(ws []weight, dest string) int {
		for _, w := range ws {
			if w.dest == dest {
				return w.weight
			}
		}
		return 0
	}
	var dests []string
	for _, ws := range [][]weight{wa, wb} {
		for _, w := range ws {
			if !slices.Contains(dests, w.dest) {
				dests = append(dests, w.dest)
			}
		}
	}
	slices.Sort(dests)
	var parts []string
	for _, d := range dests {
		if x, y := share(wa, d), share(wb, d); x != y {
			parts = append(parts, fmt.Sprintf("%s %s → %s", d, code(strconv.Itoa(x)+"%"), code(strconv.Itoa(y)+"%")))
		}
	}
	return strings.Join(parts, ", ")
}

func codeList(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = code(v)
	}
	return strings.Join(out, ", ")
}

func destinationRuleNotes(subject string, a, b *networkingv1alpha3.DestinationRule) []Note {
	switch {
	case a == nil:
		text := "new: subsets " + codeList(subsetNames(b))
		if len(b.Subsets) == 0 {
			text = "new"
		}
		if b.TrafficPolicy != nil {
			text += ", with a traffic policy"
		}
		return []Note{routing(subject, text)}
	case b == nil:
		return []Note{routing(subject, "removed: subsets "+codeList(subsetNames(a))+" and its traffic policy no longer apply")}
	}
	var out []Note
	na, nb := subsetNames(a), subsetNames(b)
	for i, s := range b.Subsets {
		j := slices.Index(na, s.Name)
		if j < 0 {
			out = append(out, routing(subject, "subset "+code(s.Name)+" added ("+labelString(s.Labels)+")"))
			continue
		}
		if cs := fieldChanges(a.Subsets[j], b.Subsets[i]); len(cs) > 0 {
			out = append(out, routing(subject, "subset "+code(s.Name)+": "+joinChanges(cs)))
		}
	}
	for _, s := range a.Subsets {
		if !slices.Contains(nb, s.Name) {
			out = append(out, routing(subject, "subset "+code(s.Name)+" removed"))
		}
	}
	ra, rb := proto.Clone(a).(*networkingv1alpha3.DestinationRule), proto.Clone(b).(*networkingv1alpha3.DestinationRule)
	ra.Subsets, rb.Subsets = nil, nil
	if cs := fieldChanges(ra, rb); len(cs) > 0 {
		out = append(out, routing(subject, joinChanges(cs)))
	}
	return out
}

func subsetNames(dr *networkingv1alpha3.DestinationRule) []string {
	out := make([]string, len(dr.Subsets))
	for i, s := range dr.Subsets {
		out[i] = s.Name
	}
	return out
}

// labelString writes a label selector as the intents do: k=v, sorted.
func labelString(labels map[string]string) string {
	if len(labels) == 0 {
		return "every workload"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = code(k + "=" + labels[k])
	}
	return strings.Join(parts, ", ")
}
