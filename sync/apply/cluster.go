package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/sailplan/sailplan/sync/kube"
)

// Client-side rate limits. client-go's defaults (5 QPS, burst 10) would
// spread a first apply of 2,000 objects over more than six minutes. The
// number of requests in flight is bounded by Options.Workers per cluster;
// the token bucket only stops a runaway loop (say, a drift fight with
// another controller) from flooding an apiserver, whose own priority and
// fairness protects it from the rest.
const (
	clientQPS   = 1000
	clientBurst = 2000
	// requestTimeout bounds one request, so that a cluster that stops
	// answering (not refusing) is found unreachable instead of hanging a wave.
	requestTimeout = 30 * time.Second
	// probeTimeout bounds the reachability check that precedes each sync
	// of a cluster.
	probeTimeout = 5 * time.Second
)

// Cluster is one cluster that sailplan can reach: its clients, the watch
// caches of what sailplan manages in it, and what it last applied.
type Cluster struct {
	Name string

	client    dynamic.Interface
	core      corev1client.CoreV1Interface
	discovery discovery.DiscoveryInterface
	mapper    meta.ResettableRESTMapper
	cache     *liveCache
	applier   *Applier
	inventory *Inventory

	// syncing counts syncs under way in this cluster: while one runs, the
	// watches show its own writes before it has recorded them as applied,
	// and drift correction must wait rather than put the old bodies back.
	syncing atomic.Int32

	// mu guards what follows.
	mu sync.Mutex
	// applied is what sailplan last applied successfully per object:
	// what drift correction puts back.
	applied map[objKey]appliedObject

	driftOnce sync.Once
}

// NewCluster returns the cluster reached through cfg, with its ApplySet
// parent where opts say. It does not contact the cluster; Close stops the
// watches that its syncs start.
func NewCluster(name string, cfg *rest.Config, opts Options) (*Cluster, error) {
	c, err := newCluster(name, cfg, opts.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, nil
}

func newCluster(name string, cfg *rest.Config, opts Options) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "sailplan"
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.Timeout = requestTimeout
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Discovery is cached and reset when a kind is not found, so a CRD
	// installed after start is picked up.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	inv := newInventory(opts.ParentNamespace, opts.ParentName)
	cache := newLiveCache(client, inv.ID())
	c := &Cluster{
		Name:      name,
		client:    client,
		core:      core,
		discovery: disc,
		mapper:    mapper,
		cache:     cache,
		inventory: inv,
		applied:   map[objKey]appliedObject{},
	}
	c.applier = &Applier{client: client, mapper: mapper, cache: cache, setID: inv.ID(), workers: opts.Workers}
	return c, nil
}

// probe asks the apiserver for its version: one cheap read that tells an
// unreachable cluster from one that answers, before any work is started.
func (c *Cluster) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := c.discovery.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	if err != nil {
		// The caller says that the cluster is unreachable, and which.
		return kube.Unreachable(err)
	}
	return nil
}

// Close stops the cluster's watches.
func (c *Cluster) Close() { c.cache.stop() }

// Sync brings the cluster to objs, the objects rendered for it:
//
//  1. one read to see that the cluster answers;
//  2. the ApplySet parent is read, and its kinds watched alongside the
//     ones about to be applied;
//  3. the parent is widened to list every kind and namespace of the new
//     objects before they exist (KEP-3659: a member is never outside the
//     parent's lists, even after a crash);
//  4. the objects are applied, unchanged ones skipped;
//  5. if all succeeded, members no longer rendered are pruned;
//  6. the parent is narrowed to what the cluster now holds, only if that
//     changed.
//
// It returns what it did (Outcome), also when it fails part way. Errors
// name their object, not the cluster: the caller knows which cluster it
// asked. opts are read at every sync, so that a raised PruneMaxShare
// takes effect at once.
func (c *Cluster) Sync(ctx context.Context, objs []*unstructured.Unstructured, opts Options) (Outcome, error) {
	opts = opts.WithDefaults()
	c.syncing.Add(1)
	defer c.syncing.Add(-1)
	if err := c.probe(ctx); err != nil {
		return Outcome{}, err
	}
	parent, err := c.readParent(ctx)
	if err != nil {
		return Outcome{}, err
	}
	ds, mapErr := c.applier.mappings(objs)
	gvrs, gks := c.watchedResources(parent.groupKinds, ds)
	if err := c.cache.watch(ctx, gvrs); err != nil {
		return Outcome{}, err
	}
	wantGKs, wantNSs := groupKindsOf(ds)
	wider := parentState{exists: true, groupKinds: union(parent.groupKinds, wantGKs), namespaces: union(parent.namespaces, wantNSs)}
	if err := c.writeParent(ctx, parent, wider); err != nil {
		return Outcome{}, err
	}
	wider.namespaces = withoutNS(wider.namespaces, c.inventory.Namespace)

	out, applyErr := c.applier.apply(ctx, ds, opts.Commit)
	var o Outcome
	keep := map[objKey]bool{}
	for i, d := range ds {
		keep[d.key] = true
		if out[i].err != nil {
			o.failed(d.key.Kind, out[i].err)
			continue
		}
		switch out[i].action {
		case "":
			continue
		case Unchanged:
			o.done(Result{Kind: d.key.Kind, Action: Unchanged}) // counted, not listed
		default:
			o.done(Result{Object: d.key.String(), Kind: d.key.Kind, Action: out[i].action})
		}
		c.setApplied(d.key, out[i].sent)
	}
	err = errors.Join(mapErr, applyErr)
	final := wider
	if err == nil {
		// Never prune after a failed apply: the objects that did not make
		// it might be the reason others look unwanted.
		pruned, perr := c.prune(ctx, keep, gks, opts.PruneMaxShare, opts.Workers)
		for _, p := range pruned {
			o.done(p)
		}
		if perr == nil {
			final.groupKinds, final.namespaces = wantGKs, wantNSs
		}
		err = perr
	}
	if kube.IsUnreachable(err) {
		return o, err
	}
	if werr := c.writeParent(ctx, wider, final); werr != nil {
		err = errors.Join(err, werr)
	}
	return o, err
}

func withoutNS(nss []string, ns string) []string {
	var out []string
	for _, n := range nss {
		if n != ns {
			out = append(out, n)
		}
	}
	return out
}
