package compare

import (
	"fmt"
	"strings"
	"testing"

	"cuelang.org/go/cue/token"
	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// load loads intents from files (name -> CUE).
func load(t *testing.T, files map[string]string) *schema.Intents {
	t.Helper()
	fs := schema.Files{}
	for name, src := range files {
		fs[name] = []byte(src)
	}
	in, err := schema.Load(fs)
	if err != nil {
		t.Fatalf("loading %v: %v", files, err)
	}
	return in
}

// compareFiles compares two sets of files, with every file of base that
// head does not name carried over, and "" in head deleting one.
func compareFiles(t *testing.T, base, head map[string]string) *Report {
	t.Helper()
	merged := map[string]string{}
	for k, v := range base {
		merged[k] = v
	}
	for k, v := range head {
		if v == "" {
			delete(merged, k)
			continue
		}
		merged[k] = v
	}
	r, err := Compare(Side{Commit: "base", Intents: load(t, base)}, Side{Commit: "head", Intents: load(t, merged)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noteLines are the report's notes, one a line: cluster, topic, ⚠ for a
// warning, subject and text.
func noteLines(r *Report) []string {
	var out []string
	add := func(cluster string, n Note) {
		warn := ""
		if n.Warn {
			warn = " ⚠"
		}
		out = append(out, fmt.Sprintf("%s %s%s %s: %s", cluster, n.Topic, warn, n.Subject, n.Text))
	}
	r.eachNote(add)
	return out
}

const fleetCUE = `package intents

fleet: clusters: {
	"eu-1": {wave: 1}
	"us-1": {
		wave: 2
		overrides: services: checkout: routes: [{to: {v1: 100, v2: 0}}]
	}
}
`

func checkoutCUE(v1, v2 int) string {
	return fmt.Sprintf(`package intents

services: checkout: {
	namespace: "shop"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: *%d | int, v2: *%d | int}}]
}
`, v1, v2)
}

// TestFleet: each cluster is compared in its own view of the intents (an
// override that pins the weights hides their change), and clusters
// joining the fleet or changing waves are said so.
func TestFleet(t *testing.T) {
	base := map[string]string{"fleet.cue": fleetCUE, "checkout.cue": checkoutCUE(80, 20)}
	r := compareFiles(t, base, map[string]string{
		"checkout.cue": checkoutCUE(50, 50),
		"fleet.cue":    strings.Replace(strings.Replace(fleetCUE, `"eu-1": {wave: 1}`, `"eu-1": {wave: 1}`+"\n\t\"ap-1\": {wave: 3}", 1), "wave: 2", "wave: 3", 1),
	})
	want := []string{
		"ap-1 fleet cluster `ap-1`: joins the fleet in wave 3",
		"ap-1 routing **checkout** (DestinationRule `shop/checkout`): new: subsets `v1`, `v2`",
		"ap-1 routing **checkout** (VirtualService `shop/checkout`): new: default route → v1 `50%`, v2 `50%`",
		"eu-1 routing **checkout** (VirtualService `shop/checkout`): default route: v1 `80%` → `50%`, v2 `20%` → `50%`",
		"us-1 fleet cluster `us-1`: wave 2 → 3",
	}
	if d := cmp.Diff(want, noteLines(r)); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
	if r.Changes() != 5 {
		t.Errorf("Changes() = %d, want 5 (3 objects, 2 fleet changes)", r.Changes())
	}

	// A cluster that leaves is not pruned: no object changes, a note.
	r = compareFiles(t, base, map[string]string{"fleet.cue": strings.Replace(fleetCUE, `"eu-1": {wave: 1}`, "", 1)})
	want = []string{"eu-1 fleet cluster `eu-1`: leaves the fleet: sailplan stops syncing it and leaves its objects as they are (a cluster removed from the fleet is not pruned)"}
	if d := cmp.Diff(want, noteLines(r)); d != "" {
		t.Errorf("a cluster leaves, notes (-want +got):\n%s", d)
	}
}

const meshCUE = `package intents

mtls: billing: {
	namespace: "billing"
	selector: app: "billing"
	mode: "STRICT"
}

authorization: "billing-admin": {
	namespace: "billing"
	selector: app: "billing"
	action: "DENY"
	rules: [{
		from: [{notNamespaces: ["billing"]}]
		to: [{paths: ["/admin/*", "/debug/*"]}]
	}]
}

authorization: "frontend": {
	namespace: "shop"
	selector: app: "frontend"
	action: "ALLOW"
	rules: [{
		from: [{principals: ["cluster.local/ns/istio-system/sa/ingress", "cluster.local/ns/shop/sa/debug"]}]
		to: [{methods: ["GET"]}]
	}]
}

jwt: "api": {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	issuers: [{
		issuer:  "https://auth.example.com"
		jwksUri: "https://auth.example.com/jwks.json"
		audiences: ["api"]
	}]
	require: paths: ["/api/*", "/admin/*"]
}
`

// TestSecurity: what lets more through is warned of, what lets less
// through is not, in the words of each kind.
func TestSecurity(t *testing.T) {
	base := map[string]string{"mesh.cue": meshCUE}
	for _, c := range []struct {
		name     string
		from, to []string // replacements in meshCUE, pairwise
		want     []string
	}{
		{"DENY narrowed", []string{`"/admin/*", "/debug/*"`}, []string{`"/admin/*"`}, []string{
			" security ⚠ AuthorizationPolicy `billing/billing-admin`: **DENY narrowed**: rule 1 to[0] paths: −`/debug/*`",
		}},
		{"ALLOW narrowed", []string{`"cluster.local/ns/istio-system/sa/ingress", "cluster.local/ns/shop/sa/debug"`}, []string{`"cluster.local/ns/istio-system/sa/ingress"`}, []string{
			" security AuthorizationPolicy `shop/frontend`: ALLOW narrowed: rule 1 from[0] principals: −`cluster.local/ns/shop/sa/debug`",
		}},
		{"ALLOW to any method", []string{`to: [{methods: ["GET"]}]`}, []string{``}, []string{
			" security ⚠ AuthorizationPolicy `shop/frontend`: **ALLOW widened**: rule 1 to: any (was methods `GET`)",
		}},
		{"DENY to ALLOW", []string{`action: "DENY"`}, []string{`action: "ALLOW"`}, []string{
			" security ⚠ AuthorizationPolicy `billing/billing-admin`: **action** `DENY` → `ALLOW`",
		}},
		{"mTLS PERMISSIVE on a port", []string{`mode: "STRICT"`}, []string{`mode: "STRICT"` + "\n\tports: \"9090\": \"DISABLE\""}, []string{
			" security ⚠ PeerAuthentication `billing/billing`: **port 9090 mTLS weakened** for workloads `app=billing`: `UNSET` → `DISABLE`",
		}},
		{"no change", nil, nil, nil},
		{"JWT required on fewer paths", []string{`require: paths: ["/api/*", "/admin/*"]`}, []string{`require: paths: ["/api/*"]`}, []string{
			" security ⚠ AuthorizationPolicy `istio-system/api-require-jwt`: **DENY narrowed**: rule 1 to[0] paths: −`/admin/*`",
		}},
		{"JWT: a second issuer, any audience", []string{`audiences: ["api"]`}, []string{`}, {issuer: "https://other.example.com", jwksUri: "https://other.example.com/jwks.json"`}, []string{
			" security ⚠ RequestAuthentication `istio-system/api`: issuer `https://auth.example.com`: **any audience** (was `api`)",
			" security ⚠ RequestAuthentication `istio-system/api`: **issuer added**: tokens from `https://other.example.com` are accepted",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mesh := meshCUE
			for i := range c.from {
				if !strings.Contains(mesh, c.from[i]) {
					t.Fatalf("%q is not in the mesh", c.from[i])
				}
				mesh = strings.Replace(mesh, c.from[i], c.to[i], 1)
			}
			r := compareFiles(t, base, map[string]string{"mesh.cue": mesh})
			if d := cmp.Diff(c.want, noteLines(r)); d != "" {
				t.Errorf("notes (-want +got):\n%s", d)
			}
		})
	}

	// Removing what protects is warned of (the JWT requirement is a DENY
	// policy); so is a new policy that does not say STRICT.
	r := compareFiles(t, base, map[string]string{"mesh.cue": strings.Join(strings.SplitAfter(meshCUE, "\n")[:7], "") + "mtls: open: {namespace: \"shop\", mode: \"PERMISSIVE\"}\n"})
	want := []string{
		" security ⚠ AuthorizationPolicy `billing/billing-admin`: **DENY removed**: what its 1 rule denied to workloads `app=billing` is no longer denied",
		" security ⚠ AuthorizationPolicy `istio-system/api-require-jwt`: **DENY removed**: what its 1 rule denied to workloads `istio=ingressgateway` is no longer denied",
		" security ⚠ AuthorizationPolicy `shop/frontend`: **ALLOW removed** for workloads `app=frontend`: what only it allowed is denied, or, if no other ALLOW policy selects them, everything is allowed",
		" security ⚠ PeerAuthentication `shop/open`: **mTLS not strict**: added: mTLS `PERMISSIVE` for every workload of namespace `shop`",
		" security RequestAuthentication `istio-system/api`: removed: workloads `istio=ingressgateway` no longer validate tokens from `https://auth.example.com`",
	}
	if d := cmp.Diff(want, noteLines(r)); d != "" {
		t.Errorf("policies removed, notes (-want +got):\n%s", d)
	}
	md := Markdown(r, 0)
	if i, j := strings.Index(md, "#### Security"), strings.Index(md, "RequestAuthentication `istio-system/api`: removed"); i < 0 || j < i || !strings.Contains(md, "⚠️ **4 security changes to review**") {
		t.Errorf("Markdown: want the security section, warnings first, and 4 counted:\n%s", md)
	}
}

// TestRouting: routes are paired by their match; a new route, a timeout
// and an order that changes are said.
func TestRouting(t *testing.T) {
	svc := func(routes string) string {
		return `package intents

services: reviews: {
	namespace: "shop"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [` + routes + `]
}
`
	}
	header := `{match: [{headers: "x-canary": exact: "true"}], to: v2: 100}`
	path := `{match: [{uri: prefix: "/beta"}], to: v2: 100}`
	r := compareFiles(t, map[string]string{"reviews.cue": svc(header + ", " + path + ", {to: v1: 100}")},
		map[string]string{"reviews.cue": svc(path + ", " + header + `, {to: v1: 100, timeout: "3s"}`)})
	want := []string{
		" routing **reviews** (VirtualService `shop/reviews`): default route: timeout: none → `3s`",
		" routing **reviews** (VirtualService `shop/reviews`): routes reordered (the first that matches takes the request): route for header `x-canary=true`, route for uri `/beta*`, default route → route for uri `/beta*`, route for header `x-canary=true`, default route",
	}
	if d := cmp.Diff(want, noteLines(r)); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
}

// TestBaseInvalid: a base that never loaded is compared as nothing; a head
// that does not load is reported with its errors under the intent path.
func TestBaseInvalid(t *testing.T) {
	head := load(t, map[string]string{"checkout.cue": checkoutCUE(80, 20)})
	bad := schema.Errors{{Pos: token.Position{Filename: "checkout.cue", Line: 4, Column: 2}, Path: "services.checkout.namespce", Msg: "field not allowed"}}
	r, err := Compare(Side{Commit: "0123456789", Err: bad}, Side{Commit: "abcdef0123", Intents: head}, Options{Path: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"prod/checkout.cue:4:2: services.checkout.namespce: field not allowed"}, r.BaseErrors); d != "" {
		t.Errorf("BaseErrors (-want +got):\n%s", d)
	}
	if len(r.Clusters) != 1 || len(r.Clusters[0].Objects) != 2 || r.Clusters[0].Objects[0].Action != Added || r.Clusters[0].Objects[1].Action != Added {
		t.Errorf("want both objects added in the one cluster, got %+v", r.Clusters)
	}
	if !strings.HasPrefix(Unified(r), "# the base `0123456` has no intents sailplan can load: every object is added\n# prod/checkout.cue:4:2: ") {
		t.Errorf("Unified:\n%s", Unified(r))
	}

	r, err = Compare(Side{Commit: "0123456789", Intents: head}, Side{Commit: "abcdef0123", Err: fmt.Errorf("evaluation: %w", bad)}, Options{Path: "prod"})
	if err != nil || r.Changes() != 0 || Unified(r) != "" {
		t.Fatalf("invalid head: %v, %d changes, unified %q; want no comparison", err, r.Changes(), Unified(r))
	}
	want := "### sailplan: `0123456` → `abcdef0`\n\n❌ **The head does not validate** (1 error): sailplan would reject it and apply nothing; the clusters keep the last commit that does.\n\n```text\nprod/checkout.cue:4:2: services.checkout.namespce: field not allowed\n```\n"
	if d := cmp.Diff(want, Markdown(r, 0)); d != "" {
		t.Errorf("Markdown (-want +got):\n%s", d)
	}
	if _, err := Compare(Side{}, Side{}, Options{}); err == nil {
		t.Error("Compare of a head with neither intents nor an error: want an error")
	}
	if _, err := Compare(Side{Intents: head}, Side{Intents: head}, Options{Cluster: "mars"}); err == nil || err.Error() != `cluster "mars" is in neither commit's fleet (hint: its clusters are )` {
		t.Errorf("Compare of an unknown cluster: %v", err)
	}
}

// TestMarkdownLimit: a report bigger than the limit is cut to it, the
// diffs first, and says what was left out.
func TestMarkdownLimit(t *testing.T) {
	base, head := map[string]string{}, map[string]string{}
	for i := range 40 {
		name := fmt.Sprintf("svc%02d", i)
		base[name+".cue"] = strings.Replace(checkoutCUE(80, 20), "checkout", name, 1)
		head[name+".cue"] = strings.Replace(checkoutCUE(10, 90), "checkout", name, 1)
	}
	r := compareFiles(t, base, head)
	full := Markdown(r, 1<<20)
	if strings.Contains(full, "Cut to stay") || strings.Count(full, "\n--- base/VirtualService/") != 40 {
		t.Fatalf("Markdown without a limit: want every diff and nothing cut:\n%s", full)
	}
	const limit = 6000
	md := Markdown(r, limit)
	if len(md) > limit {
		t.Errorf("Markdown(%d) wrote %d bytes", limit, len(md))
	}
	if !strings.Contains(md, "#### Routing") || strings.Count(md, "v1 `80%` → `10%`") != 40 {
		t.Errorf("Markdown(%d): want every routing note kept before any diff", limit)
	}
	shown := strings.Count(md, "\n--- base/VirtualService/")
	if want := fmt.Sprintf("\n_Cut to stay under 6000 bytes: %d of 40 object diffs. `sailplan diff -o diff` prints every change._\n", 40-shown); !strings.HasSuffix(md, want) || shown == 0 {
		t.Errorf("Markdown(%d) shows %d diffs and ends\n%s\nwant some diffs and the end\n%s", limit, shown, md[max(0, len(md)-400):], want)
	}
}

// TestCode: a value cannot break out of its code span or its list item.
func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"v1":        "`v1`",
		"":          "`\"\"`",
		"a`b":       "`` a`b ``",
		"a\nb":      "`a b`",
		"x``y`":     "``` x``y` ```",
		"<details>": "`<details>`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %s, want %s", in, got, want)
		}
	}
	if got := escape("a_b*c|d"); got != `a\_b\*c\|d` {
		t.Errorf("escape = %s", got)
	}
}
