package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/schema"
)

// Renderer renders commit after commit for a daemon, rendering again only
// the services that changed: a service is the same *schema.Service when
// its content did not change (schema.Intents.Intern), and with the same
// source, canary weight and gateways it is given the very objects it was
// given before. A one-service change to 1,000 services rendered and
// converted 2,000 objects; it now renders two.
//
// The objects are shared, between commits and between clusters that
// render them alike: callers must not change them. An object kept from an
// earlier commit carries that commit in its sailplan.dev/commit
// annotation, the commit it was first rendered at with this content; sync
// writes the commit it applies on whatever it changes in a cluster
// (apply.Options.Commit) and leaves an unchanged object's as it is.
// Otherwise the result is exactly what Render and ToUnstructured give
// (TestRendererMatchesRender, TestRendererHistory).
//
// Safe for concurrent use; it holds the objects of the services rendered
// since the last Forget.
type Renderer struct {
	mu   gosync.Mutex
	kept map[serviceKey][]*unstructured.Unstructured
	used map[serviceKey][]*unstructured.Unstructured
	// hits and misses count services reused and rendered, for tests.
	hits, misses int
}

// serviceKey is everything a service's objects are made of, but the
// commit (see service).
type serviceKey struct {
	svc    *schema.Service
	name   string
	source string
	weight int
	// gateways is every gateway's namespace, which references to a
	// gateway are written with.
	gateways string
}

// Render renders in for opts.Cluster, as Render and ToUnstructured do.
func (r *Renderer) Render(in *schema.Intents, opts Options) ([]*unstructured.Unstructured, error) {
	if opts.Cluster != "" {
		if _, ok := in.Fleet.Clusters[opts.Cluster]; !ok {
			return nil, fmt.Errorf("cluster %q is not in the fleet", opts.Cluster)
		}
		in = in.ForCluster(opts.Cluster)
	}
	var out []*unstructured.Unstructured
	for _, k := range schema.Kinds {
		if k.Field == "services" {
			objs, err := r.services(in, k, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		objs, err := renderKind(in, k, opts)
		if err != nil {
			return nil, err
		}
		us, err := toUnstructured(objs)
		if err != nil {
			return nil, err
		}
		out = append(out, us...)
	}
	byApplyOrder(out, (*unstructured.Unstructured).GetKind)
	return out, nil
}

func (r *Renderer) services(in *schema.Intents, k schema.Kind, opts Options) ([]*unstructured.Unstructured, error) {
	var gw strings.Builder
	for _, name := range slices.Sorted(maps.Keys(in.Gateways)) {
		fmt.Fprintf(&gw, "%s/%s,", in.Gateways[name].Namespace, name)
	}
	gateways := gw.String()
	var out []*unstructured.Unstructured
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		svc := in.Services[name]
		key := serviceKey{svc: svc, name: name, source: in.Sources[k.Intent(name)], weight: canaryWeight(name, svc, opts), gateways: gateways}
		objs, ok := r.lookup(key)
		if !ok {
			typed, err := service(in, k, name, opts)
			if err != nil {
				return nil, err
			}
			if objs, err = toUnstructured(typed); err != nil {
				return nil, err
			}
			r.keep(key, objs)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func (r *Renderer) lookup(key serviceKey) ([]*unstructured.Unstructured, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	objs, ok := r.used[key]
	if !ok {
		objs, ok = r.kept[key]
	}
	if ok {
		r.hits++
		r.use(key, objs)
	}
	return objs, ok
}

func (r *Renderer) keep(key serviceKey, objs []*unstructured.Unstructured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.misses++
	r.use(key, objs)
}

// use records that objs were given out since the last Forget; r.mu is held.
func (r *Renderer) use(key serviceKey, objs []*unstructured.Unstructured) {
	if r.used == nil {
		r.used = map[serviceKey][]*unstructured.Unstructured{}
	}
	r.used[key] = objs
}

// Forget drops the objects of every service that no Render since the last
// Forget gave out: called once per commit, it keeps one commit's worth.
func (r *Renderer) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kept, r.used = r.used, nil
}

func toUnstructured(objs []Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		u, err := ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
