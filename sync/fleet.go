package sync

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	gosync "sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/sailplan/sailplan/schema"
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

// Cluster is one fleet member that sailplan can reach: its clients, the
// watch caches of what sailplan manages in it, and what it last applied.
type Cluster struct {
	Name string
	Wave int

	cfg       *rest.Config
	client    dynamic.Interface
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
	mu gosync.Mutex
	// applied is the body sailplan last applied successfully per object:
	// what drift correction puts back.
	applied map[objKey]*unstructured.Unstructured
	status  ClusterStatus

	driftOnce gosync.Once
}

// Fleet is the clusters the intents declare, with clients built from the
// kubeconfig contexts of the same names.
type Fleet struct {
	clusters map[string]*Cluster
	opts     Options
	decl     schema.Fleet
	// retries is the backoff of each unreachable cluster, by name.
	retries *flowcontrol.Backoff

	// ctx bounds the fleet's watches; cancel stops them.
	ctx    context.Context
	cancel context.CancelFunc
}

// fleetConfig says how to build a fleet's clients.
type fleetConfig struct {
	// kubeconfig is the path of the kubeconfig; the default loading rules
	// when empty.
	kubeconfig string
	// opts are the reconciler's settings (workers, ApplySet parent).
	opts Options
	// wrapTransport, when set, wraps each cluster's HTTP transport; tests
	// use it to count and interrupt requests.
	wrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper
}

// NewFleet builds a client for every declared cluster from the kubeconfig
// (the default loading rules when fc.kubeconfig is empty). A declared
// cluster without a context of its name is an error that names it: that is
// a configuration mistake, not an outage, so nothing is applied anywhere.
// It does not contact the clusters. Close stops its watches.
func newFleet(fc fleetConfig, decl schema.Fleet) (*Fleet, error) {
	if len(decl.Clusters) == 0 {
		return nil, permanent(fmt.Errorf("fleet: no clusters declared (add fleet: clusters: NAME: {} to the intents)"))
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if fc.kubeconfig != "" {
		rules.ExplicitPath = fc.kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{clusters: map[string]*Cluster{}, opts: fc.opts.withDefaults(), decl: decl, ctx: ctx, cancel: cancel,
		retries: flowcontrol.NewBackOff(retryBase, retryMax)}
	names := make([]string, 0, len(decl.Clusters))
	for name := range decl.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := raw.Contexts[name]; !ok {
			cancel()
			return nil, fmt.Errorf("cluster %s: no context named %q in the kubeconfig", name, name)
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			cancel()
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		if fc.wrapTransport != nil {
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return fc.wrapTransport(name, rt) })
		}
		c, err := newCluster(name, decl.Clusters[name].Wave, cfg, f.opts)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		f.clusters[name] = c
	}
	return f, nil
}

// NewClusterForConfig returns a cluster reached through cfg, outside any
// fleet: the CLI's diff and status use it for one kubeconfig context.
func NewClusterForConfig(name string, cfg *rest.Config, opts Options) (*Cluster, error) {
	c, err := newCluster(name, 0, cfg, opts.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, nil
}

func newCluster(name string, wave int, cfg *rest.Config, opts Options) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "sailplan"
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.Timeout = requestTimeout
	client, err := dynamic.NewForConfig(cfg)
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
		Wave:      wave,
		cfg:       cfg,
		client:    client,
		discovery: disc,
		mapper:    mapper,
		cache:     cache,
		inventory: inv,
		applied:   map[objKey]*unstructured.Unstructured{},
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
		return unreachable(fmt.Errorf("cluster %s: unreachable: %w", c.Name, err))
	}
	return nil
}

// Close stops the cluster's watches.
func (c *Cluster) Close() { c.cache.stop() }

// Close stops the watches of every cluster of the fleet.
func (f *Fleet) Close() {
	f.cancel()
	for _, c := range f.clusters {
		c.Close()
	}
}

// Waves returns the clusters grouped by wave, in increasing wave order,
// and by name within a wave.
func (f *Fleet) Waves() [][]*Cluster {
	byWave := map[int][]*Cluster{}
	for _, c := range f.clusters {
		byWave[c.Wave] = append(byWave[c.Wave], c)
	}
	waves := make([]int, 0, len(byWave))
	for w := range byWave {
		waves = append(waves, w)
	}
	sort.Ints(waves)
	out := make([][]*Cluster, 0, len(waves))
	for _, w := range waves {
		cs := byWave[w]
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
		out = append(out, cs)
	}
	return out
}

// Clusters returns the fleet's clusters by name.
func (f *Fleet) Clusters() []*Cluster {
	var out []*Cluster
	for _, w := range f.Waves() {
		out = append(out, w...)
	}
	return out
}
