package explain

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// Input is what one cluster runs: the intents as it sees them and the
// canaries' weights in it.
type Input struct {
	Intents *schema.Intents
	// Cluster is the fleet member; empty for what every cluster has in
	// common (intents without a fleet).
	Cluster string
	// Canaries are the promotions' weights in this cluster, by service.
	Canaries map[string]Canary
}

// Canary is a candidate's weight in one cluster, and where it comes from.
type Canary struct {
	Candidate string `json:"candidate"`
	Weight    int    `json:"weight"`
	// Source says where the weight comes from: a promotion state, a flag.
	Source string `json:"source"`
}

// Explanation is where a request goes in one cluster, and why.
type Explanation struct {
	Cluster string `json:"cluster"`
	Wave    int    `json:"wave,omitempty"`
	// Commit is the commit of the intents, when the caller knows it.
	Commit string `json:"commit,omitempty"`
	// Request is the request explained, with the defaults filled in.
	Request Request `json:"request"`
	Entry   Entry   `json:"entry"`
	// VirtualServices are those whose hosts name the request's host, each
	// with whether it takes the request and why (not).
	VirtualServices []Candidate `json:"virtualServices,omitempty"`
	// Routes are the routes tried, in order, up to the one that matched.
	Routes []RouteCheck `json:"routes,omitempty"`
	// Route is what the matching route does; nil when none matched.
	Route *Route `json:"route,omitempty"`
	// Outcome is routed, redirected, direct-response, no-route,
	// no-virtual-service (the request goes to its host as it is),
	// not-accepted (the gateway does not take it) or not-http.
	Outcome      string        `json:"outcome"`
	Destinations []Destination `json:"destinations,omitempty"`
	// Gateway is the authorization at the gateway's pods, for a request
	// that comes through a gateway.
	Gateway *Hop    `json:"gateway,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Assumptions are the facts explain could not know and took.
	Assumptions []string `json:"assumptions,omitempty"`
}

// Ref names an object and the intent it was rendered from.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Intent and Source are the object's sailplan.dev/intent and
	// sailplan.dev/source annotations.
	Intent string `json:"intent,omitempty"`
	Source string `json:"source,omitempty"`
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Entry is how the request enters: at a sidecar, or at a gateway's server.
type Entry struct {
	// Via is "mesh" or "gateway".
	Via string `json:"via"`
	// Gateway and Server are the Gateway whose server takes the request,
	// and that server's port name.
	Gateway  *Ref   `json:"gateway,omitempty"`
	Server   string `json:"server,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Port     int    `json:"port"`
	// Names are the host names the request is routed by.
	Names []string `json:"names"`
	// Problem says why the gateway does not take the request.
	Problem string `json:"problem,omitempty"`
}

// Candidate is a VirtualService for the request's host.
type Candidate struct {
	VirtualService Ref `json:"virtualService"`
	// Host is the host of the VirtualService that names the request's.
	Host string `json:"host"`
	Used bool   `json:"used"`
	Why  string `json:"why"`
}

// RouteCheck is one route tried.
type RouteCheck struct {
	VirtualService string `json:"virtualService"`
	// Index counts the VirtualService's http routes from 1.
	Index   int    `json:"index"`
	Name    string `json:"name,omitempty"`
	Matched bool   `json:"matched"`
	// Alternative is the match alternative that held, from 1; 0 for a
	// route without conditions.
	Alternative int `json:"alternative,omitempty"`
	// Conditions are, for the route that matched, the conditions that
	// held; for one that did not, the condition that failed in each
	// alternative.
	Conditions []string `json:"conditions"`
}

// Route is what the matching route does with the request.
type Route struct {
	VirtualService Ref    `json:"virtualService"`
	Index          int    `json:"index"`
	Name           string `json:"name,omitempty"`
	// Timeout and Retries are what applies: the route's own, or Istio's
	// defaults when it sets none.
	Timeout string `json:"timeout"`
	Retries string `json:"retries"`
	// Fault, Mirror, Rewrite, Redirect, Headers and CORS describe the
	// route's fields of those names, when set.
	Fault    []string `json:"fault,omitempty"`
	Mirror   []string `json:"mirror,omitempty"`
	Rewrite  string   `json:"rewrite,omitempty"`
	Redirect string   `json:"redirect,omitempty"`
	Headers  []string `json:"headers,omitempty"`
	CORS     string   `json:"cors,omitempty"`
	// Canary is the promotion whose split this route takes.
	Canary *RouteCanary `json:"canary,omitempty"`
	// Problem is what Istio does not follow on this route.
	Problem string `json:"problem,omitempty"`
}

// RouteCanary is the promotion whose current step a route takes.
type RouteCanary struct {
	Service   string `json:"service"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
	Weight    int    `json:"weight"`
	Source    string `json:"source"`
}

// Destination is one destination of the route, with the policy that
// applies to it and the authorization at its pods.
type Destination struct {
	// Host is as the route writes it; FQDN is what Istio makes of it.
	Host   string `json:"host"`
	FQDN   string `json:"fqdn"`
	Subset string `json:"subset,omitempty"`
	Port   int    `json:"port,omitempty"`
	Weight int    `json:"weight"`
	// Role is "stable" or "candidate" on a canary's route.
	Role string `json:"role,omitempty"`
	// Problem says why Istio cannot send the request there.
	Problem string `json:"problem,omitempty"`
	// External says what the sidecar does with a host that is not a
	// service of the cluster.
	External      string  `json:"external,omitempty"`
	Policy        *Policy `json:"policy,omitempty"`
	Authorization *Hop    `json:"authorization,omitempty"`
}

// Verdict sums up the request's fate.
type Verdict struct {
	// Authorization is allow, deny or unknown, over every proxy on the way.
	Authorization Decision `json:"authorization"`
	// Status is the answer Istio gives itself, when it gives one: a
	// redirect, 401, 403, 404, 503; 0 when the destination answers.
	Status  int    `json:"status,omitempty"`
	Summary string `json:"summary"`
}

// Explain explains req in one cluster.
func Explain(in Input, req Request) (*Explanation, error) {
	req, notes, err := req.normalize()
	if err != nil {
		return nil, err
	}
	opts := render.Options{Cluster: in.Cluster, Canaries: map[string]render.CanaryState{}}
	for svc, c := range in.Canaries {
		opts.Canaries[svc] = render.CanaryState{Candidate: c.Candidate, Weight: c.Weight}
	}
	objs, err := render.Render(in.Intents, opts)
	if err != nil {
		return nil, err
	}
	idx, err := newIndex(objs)
	if err != nil {
		return nil, err
	}
	view := in.Intents
	if in.Cluster != "" {
		view = in.Intents.ForCluster(in.Cluster)
	}
	x := &explainer{in: in, view: view, idx: idx, req: req, ex: &Explanation{Cluster: in.Cluster, Request: req, Assumptions: notes}}
	if c, ok := in.Intents.Fleet.Clusters[in.Cluster]; ok {
		x.ex.Wave = c.Wave
	}
	if err := x.run(); err != nil {
		return nil, err
	}
	return x.ex, nil
}

// explainer holds what one explanation needs while it is made.
type explainer struct {
	in   Input
	view *schema.Intents
	idx  *index
	req  Request
	ex   *Explanation
	// server is the gateway server that took the request.
	server *server
}

// assume records an assumption once.
func (x *explainer) assume(s string) {
	if !slices.Contains(x.ex.Assumptions, s) {
		x.ex.Assumptions = append(x.ex.Assumptions, s)
	}
}

func (x *explainer) run() error {
	path, query, err := x.req.pathAndQuery()
	if err != nil {
		return err
	}
	r := &routed{req: &x.req, path: path, query: query, scheme: "http"}
	var token tokenState
	token.payload, token.invalid = x.req.JWT, x.req.InvalidJWT
	if x.req.Gateway != "" {
		gw, err := x.enterGateway(r)
		if err != nil {
			return err
		}
		if gw != nil {
			// The gateway's jwt filter and authorization run before its
			// router, and what it validated is what routes on claims see.
			x.ex.Gateway, token = x.authorize(gw.workload, gw.source, r, token)
			r.claims = x.ex.Gateway.validatedClaims
		}
	} else {
		x.enterMesh(r)
	}
	if x.ex.Outcome == "" {
		x.route(r)
	}
	for i := range x.ex.Destinations {
		x.destination(&x.ex.Destinations[i], r, token)
	}
	x.verdict()
	return nil
}

// canaryOf is the promotion of service name in this cluster as render
// used it.
func (x *explainer) canaryOf(name string, svc *schema.Service) *RouteCanary {
	rc := &RouteCanary{Service: name, Stable: svc.Canary.Stable, Candidate: svc.Canary.Candidate,
		Source: "no promotion of " + svc.Canary.Candidate + " has started: a candidate gets nothing before its first step"}
	if c, ok := x.in.Canaries[name]; ok {
		if c.Candidate == svc.Canary.Candidate {
			rc.Weight, rc.Source = c.Weight, c.Source
		} else {
			rc.Source = fmt.Sprintf("%s is about %s, not %s: ignored, as render ignores it", c.Source, c.Candidate, svc.Canary.Candidate)
		}
	}
	return rc
}

// sortedKeys is maps.Keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
