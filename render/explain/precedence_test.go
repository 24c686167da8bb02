package explain

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// TestPrecedence checks which VirtualService and route take a request
// when several claim its host (testdata/precedence), with the reason
// explain gives for each, word for word.
func TestPrecedence(t *testing.T) {
	files, err := schema.ReadDir(t.Context(), "testdata/precedence")
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  Request
		want []string
	}{
		{"the exact host beats the wildcard; a gateway merges both VirtualServices for it, and the first route that matches wins",
			Request{Host: "shop.example.com", Path: "/cart", Gateway: "istio-system/edge"},
			[]string{
				"used default/shop-a: its host shop.example.com names the request's host and it is bound to istio-system/edge",
				"skipped default/wildcard: a VirtualService for a more specific host takes the request",
				"used team/shop-b: its host shop.example.com names the request's host and it is bound to istio-system/edge; Istio appends its routes to those of default/shop-a, the gateway's VirtualServices for a host being merged oldest first",
				"match default/shop-a route 1: uri prefix \"/cart\"",
				"outcome routed to cart.default.svc.cluster.local",
			}},
		{"merged routes: the second VirtualService's route takes what the first's do not",
			Request{Host: "shop.example.com", Path: "/shoes", Gateway: "istio-system/edge"},
			[]string{
				"used default/shop-a: its host shop.example.com names the request's host and it is bound to istio-system/edge",
				"skipped default/wildcard: a VirtualService for a more specific host takes the request",
				"used team/shop-b: its host shop.example.com names the request's host and it is bound to istio-system/edge; Istio appends its routes to those of default/shop-a, the gateway's VirtualServices for a host being merged oldest first",
				"no default/shop-a route 1: uri prefix \"/cart\": the path is \"/shoes\"",
				"match team/shop-b route 1: no match conditions: every request",
				"outcome routed to shop.team.svc.cluster.local",
			}},
		{"a wildcard host takes the names it covers",
			Request{Host: "www.example.com", Path: "/", Gateway: "istio-system/edge"},
			[]string{
				"used default/wildcard: its host *.example.com names the request's host and it is bound to istio-system/edge",
				"match default/wildcard route 1: no match conditions: every request",
				"outcome routed to catchall.default.svc.cluster.local",
			}},
		{"from a sidecar only the VirtualService bound to mesh counts",
			Request{Host: "shop.example.com", Path: "/cart"},
			[]string{
				"skipped default/shop-a: bound to istio-system/edge only: it does not route sidecars' requests (that takes \"mesh\" among its gateways)",
				"skipped default/wildcard: bound to istio-system/edge only: it does not route sidecars' requests (that takes \"mesh\" among its gateways)",
				"used team/shop-b: its host shop.example.com names the request's host and it is bound to mesh",
				"match team/shop-b route 1: no match conditions: every request",
				"outcome routed to shop.team.svc.cluster.local",
			}},
		{"a server host team/... admits VirtualServices of namespace team only",
			Request{Host: "api.internal.example.com", Port: 8080, Path: "/", Gateway: "istio-system/edge"},
			[]string{
				"skipped default/wildcard: the gateway's server for *.internal.example.com admits VirtualServices of namespace team only",
				"skipped other/internal: the gateway's server for *.internal.example.com admits VirtualServices of namespace team only",
				"outcome no-route",
			}},
		{"a sidecar keeps one VirtualService per host; a short name and the FQDN are the same host",
			Request{Host: "reviews", Path: "/"},
			[]string{
				"used default/reviews-a: its host reviews.default.svc.cluster.local names the request's host and it is bound to mesh",
				"skipped default/reviews-b: it claims reviews.default.svc.cluster.local for sidecars too: Istio keeps one of them, the oldest; explain takes the first by namespace and name, default/reviews-a",
				"match default/reviews-a route 1: no match conditions: every request",
				"outcome routed to reviews.default.svc.cluster.local",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := Explain(Input{Intents: in}, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range ex.VirtualServices {
				mark := "skipped"
				if c.Used {
					mark = "used"
				}
				got = append(got, fmt.Sprintf("%s %s: %s", mark, c.VirtualService, c.Why))
			}
			for _, r := range ex.Routes {
				mark := "no"
				if r.Matched {
					mark = "match"
				}
				got = append(got, fmt.Sprintf("%s %s route %d: %s", mark, r.VirtualService, r.Index, joinConds(r.Conditions)))
			}
			out := "outcome " + ex.Outcome
			if ex.Outcome == "routed" {
				out += " to"
				for _, d := range ex.Destinations {
					out += " " + d.FQDN
				}
			}
			got = append(got, out)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func joinConds(cs []string) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += "; "
		}
		s += c
	}
	return s
}
