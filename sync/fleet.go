package sync

import (
	"fmt"
	"sort"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/schema"
)

// Cluster is one fleet member that sailplan can reach.
type Cluster struct {
	Name    string
	Wave    int
	Applier *Applier
}

// Fleet is the clusters the intents declare, with clients built from the
// kubeconfig contexts of the same names.
type Fleet struct {
	clusters map[string]*Cluster
}

// NewFleet builds a client for every declared cluster from the kubeconfig
// at path (the default loading rules when empty). A declared cluster
// without a context of its name is an error that names it.
func NewFleet(kubeconfig string, decl schema.Fleet) (*Fleet, error) {
	if len(decl.Clusters) == 0 {
		return nil, fmt.Errorf("fleet: no clusters declared (add fleet: clusters: NAME: {} to the intents)")
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	f := &Fleet{clusters: map[string]*Cluster{}}
	for name, c := range decl.Clusters {
		if _, ok := raw.Contexts[name]; !ok {
			return nil, fmt.Errorf("cluster %s: no context named %q in the kubeconfig", name, name)
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		applier, err := newApplier(cfg)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		f.clusters[name] = &Cluster{Name: name, Wave: c.Wave, Applier: applier}
	}
	return f, nil
}

func newApplier(cfg *rest.Config) (*Applier, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "sailplan"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Discovery is cached and refreshed when a kind is not found, so a CRD
	// installed after start is picked up.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	return NewApplier(dyn, mapper), nil
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
