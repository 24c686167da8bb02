package render

import "github.com/sailplan/sailplan/schema"

// gatewayRefs turns gateway intent names into the namespace/name references
// that a VirtualService takes; "mesh" stays as it is. Validation has made
// sure that every name is a gateway intent.
func gatewayRefs(in *schema.Intents, names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if g, ok := in.Gateways[n]; ok {
			out[i] = g.Namespace + "/" + n
		}
	}
	return out
}
