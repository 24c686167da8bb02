package sync

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"k8s.io/client-go/util/flowcontrol"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
)

// Member is one cluster the intents declare: its clients and watches, and
// the wave it is applied in.
type Member struct {
	*apply.Cluster
	Wave int

	// down is when the cluster stopped answering; zero while it answers.
	// holds is the commit it was last synced to, and synced the rendering
	// (prepared.rendering) it was last given in full. Only the sync of the
	// cluster touches them, and syncs are one at a time.
	down   time.Time
	holds  string
	synced uint64
}

// Fleet is the clusters the intents declare, with clients built from the
// kubeconfig contexts of the same names.
type Fleet struct {
	members map[string]*Member
	decl    schema.Fleet
	// excludedSaid is whether the clusters left out were published.
	excludedSaid bool
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
	// opts are the clusters' settings (workers, ApplySet parent).
	opts apply.Options
	// wrapTransport, when set, wraps each cluster's HTTP transport; tests
	// use it to count and interrupt requests.
	wrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper
	// exclude are declared clusters this daemon leaves out: no client, no
	// kubeconfig context needed.
	exclude []string
}

// newFleet builds a client for every declared cluster from the kubeconfig
// (the default loading rules when fc.kubeconfig is empty). A declared
// cluster without a context of its name is an error that names it: that is
// a configuration mistake, not an outage, so nothing is applied anywhere.
// It does not contact the clusters. Close stops its watches.
func newFleet(ctx context.Context, fc fleetConfig, decl schema.Fleet) (*Fleet, error) {
	if len(decl.Clusters) == 0 {
		return nil, errNoClusters
	}
	contexts, err := kube.Contexts(ctx, fc.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	names := make([]string, 0, len(decl.Clusters))
	for name := range decl.Clusters {
		if !slices.Contains(fc.exclude, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(contexts, name) {
			return nil, fmt.Errorf("cluster %s: no context named %q in the kubeconfig", name, name)
		}
	}
	// The watches outlive the sync that builds the fleet: Close ends them.
	watchCtx, cancel := context.WithCancel(context.Background())
	f := &Fleet{members: map[string]*Member{}, decl: decl, ctx: watchCtx, cancel: cancel,
		retries: flowcontrol.NewBackOff(retryBase, retryMax)}
	for _, name := range names {
		cfg, err := kube.RESTConfig(ctx, fc.kubeconfig, name)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		if fc.wrapTransport != nil {
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return fc.wrapTransport(name, rt) })
		}
		c, err := apply.NewCluster(name, cfg, fc.opts)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.members[name] = &Member{Cluster: c, Wave: decl.Clusters[name].Wave}
	}
	return f, nil
}

// Close stops the watches of every cluster of the fleet.
func (f *Fleet) Close() {
	f.cancel()
	for _, m := range f.members {
		m.Close()
	}
}

// Waves returns the clusters grouped by wave, in increasing wave order,
// and by name within a wave.
func (f *Fleet) Waves() [][]*Member {
	byWave := map[int][]*Member{}
	for _, m := range f.members {
		byWave[m.Wave] = append(byWave[m.Wave], m)
	}
	waves := make([]int, 0, len(byWave))
	for w := range byWave {
		waves = append(waves, w)
	}
	sort.Ints(waves)
	out := make([][]*Member, 0, len(waves))
	for _, w := range waves {
		ms := byWave[w]
		sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
		out = append(out, ms)
	}
	return out
}

// Clusters returns the fleet's clusters, wave by wave.
func (f *Fleet) Clusters() []*Member {
	var out []*Member
	for _, w := range f.Waves() {
		out = append(out, w...)
	}
	return out
}
