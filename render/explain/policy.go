package explain

import (
	"fmt"
	"slices"

	networking "istio.io/api/networking/v1alpha3"
)

// Policy is the DestinationRule traffic policy that applies to one
// destination.
type Policy struct {
	// DestinationRule is the one Istio picks for the host; nil when none
	// applies, and then every setting is Envoy's default.
	DestinationRule *Ref `json:"destinationRule,omitempty"`
	// Settings are connectionPool, loadBalancer, outlierDetection and tls,
	// those that are set, in Istio's JSON.
	Settings map[string]Setting `json:"settings,omitempty"`
	// Ignored are other DestinationRules for the host, and why Istio does
	// not use them here.
	Ignored []string `json:"ignored,omitempty"`
}

// Setting is one part of the traffic policy and where it comes from: the
// host's policy, a port's, a subset's, or a subset's port's.
type Setting struct {
	Value any    `json:"value"`
	From  string `json:"from"`
}

// policyFields are the parts of a traffic policy that a port's or a
// subset's policy replace, each as a whole.
var policyFields = []string{"connectionPool", "loadBalancer", "outlierDetection", "tls"}

// destinationRule picks the DestinationRule for a host as Istio looks it
// up: in the client's namespace, then the host's, then the root
// namespace; within one, the most specific host.
func (x *explainer) destinationRule(host, clientNS string) (*object[networking.DestinationRule], []string) {
	order := []string{clientNS}
	if ns, ok := serviceNamespace(host); ok {
		order = append(order, ns)
	}
	order = append(order, RootNamespace)
	var chosen *object[networking.DestinationRule]
	var ignored []string
	for _, ns := range slices.Compact(order) {
		var best *object[networking.DestinationRule]
		bestHost := ""
		for i := range x.idx.destinationRules {
			dr := &x.idx.destinationRules[i]
			h := fqdn(dr.spec.GetHost(), dr.ref.Namespace)
			if dr.ref.Namespace != ns || !hostMatch(h, host) {
				continue
			}
			switch {
			case chosen != nil:
				ignored = append(ignored, fmt.Sprintf("%s: Istio takes the one of the nearer namespace, %s", dr.ref, chosen.ref.Namespace))
			case best == nil || specificity(h) > specificity(bestHost):
				if best != nil {
					ignored = append(ignored, fmt.Sprintf("%s: for the less specific host %s", best.ref, bestHost))
				}
				best, bestHost = dr, h
			default:
				ignored = append(ignored, fmt.Sprintf("%s: %s is the first for the host by name; Istio merges the subsets of both and keeps the older's policy", dr.ref, best.ref))
			}
		}
		if chosen == nil && best != nil {
			chosen = best
		}
	}
	return chosen, ignored
}

// policy is the traffic policy for a destination and the labels of its
// subset, merged as Istio merges them: a port's settings in the host's
// policy replace the host's settings (all four, unset ones falling back
// to Envoy's defaults); then a subset's settings for the port replace
// all four again, or else each setting the subset's policy sets replaces
// that one.
func (x *explainer) policy(d *Destination, clientNS string) (*Policy, map[string]string) {
	dr, ignored := x.destinationRule(d.FQDN, clientNS)
	p := &Policy{Ignored: ignored}
	if dr == nil {
		if d.Subset != "" {
			d.Problem = fmt.Sprintf("no DestinationRule declares subset %s for %s: Istio answers 503", d.Subset, d.FQDN)
		}
		return p, nil
	}
	ref := dr.ref
	p.DestinationRule = &ref
	spec, _ := dr.raw["spec"].(map[string]any)
	p.Settings = settingsAt(asMap(spec["trafficPolicy"]), d.Port, "the host's policy", nil)
	if d.Subset == "" {
		return p, nil
	}
	for _, s := range asList(spec["subsets"]) {
		sub := asMap(s)
		if sub["name"] != d.Subset {
			continue
		}
		labels := map[string]string{}
		for k, v := range asMap(sub["labels"]) {
			labels[k] = fmt.Sprint(v)
		}
		if tp := asMap(sub["trafficPolicy"]); tp != nil {
			p.Settings = settingsAt(tp, d.Port, "subset "+d.Subset, p.Settings)
		}
		return p, labels
	}
	d.Problem = fmt.Sprintf("DestinationRule %s declares no subset %s: Istio answers 503", dr.ref, d.Subset)
	return p, nil
}

// settingsAt applies a traffic policy for a port over base: its
// portLevelSettings entry for the port replaces all four settings, else
// each setting it has replaces base's.
func settingsAt(tp map[string]any, port int, from string, base map[string]Setting) map[string]Setting {
	out := map[string]Setting{}
	for k, v := range base {
		out[k] = v
	}
	if tp == nil {
		return out
	}
	for _, pl := range asList(tp["portLevelSettings"]) {
		plm := asMap(pl)
		if number(asMap(plm["port"])["number"]) != port {
			continue
		}
		out = map[string]Setting{}
		for _, f := range policyFields {
			if v, ok := plm[f]; ok {
				out[f] = Setting{Value: v, From: fmt.Sprintf("%s, port %d", from, port)}
			}
		}
		return out
	}
	for _, f := range policyFields {
		if v, ok := tp[f]; ok {
			out[f] = Setting{Value: v, From: from}
		}
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// number reads a JSON number of an unstructured object.
func number(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}
