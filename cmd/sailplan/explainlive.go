package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/render/explain"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/kube"
)

// liveFlags say where the daemon keeps the promotions' states.
type liveFlags struct {
	kubeconfig, context, namespace string
}

func (l *liveFlags) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&l.context, "promotions-context", "", "read the canaries' current weights from the promotion states in the home cluster of this kubeconfig context")
	fl.StringVar(&l.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig for --promotions-context")
	fl.StringVar(&l.namespace, "promotions-namespace", promote.DefaultNamespace, "namespace of the promotion states")
}

// canaryWeights are the canaries' weights per cluster: those --canary
// gives, in every cluster, over those the promotion states hold for the
// cluster's wave. As render does, a state for another candidate than the
// intents name is left out.
func (f *explainFlags) canaryWeights(ctx context.Context, in *schema.Intents, clusters []string) (map[string]map[string]explain.Canary, error) {
	out := map[string]map[string]explain.Canary{}
	for _, cl := range clusters {
		out[cl] = map[string]explain.Canary{}
	}
	if f.live.context != "" {
		client, err := kube.Clientset(ctx, f.live.kubeconfig, f.live.context, 0)
		if err != nil {
			return nil, fmt.Errorf("--promotions-context %s: %w", f.live.context, err)
		}
		states, err := promote.NewStore(client, f.live.namespace).List(ctx)
		if err != nil {
			return nil, fmt.Errorf("--promotions-context %s: %w (hint: the caller needs to list ConfigMaps in %s)", f.live.context, err, f.live.namespace)
		}
		for _, st := range states {
			if svc, ok := in.Services[st.Service]; !ok || svc.Canary == nil {
				continue
			}
			for _, cl := range clusters {
				wave := in.Fleet.Clusters[cl].Wave
				out[cl][st.Service] = explain.Canary{Candidate: st.Candidate, Weight: st.WeightIn(wave),
					Source: fmt.Sprintf("promotion state in %s/promotion-%s of context %s: %s, wave %d at %d%%", f.live.namespace, st.Service, f.live.context, st.Phase, wave, st.WeightIn(wave))}
			}
		}
	}
	for _, s := range f.canaries {
		name, pct, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(pct)
		if !ok || err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("--canary %q: want SERVICE=PERCENT, e.g. --canary reviews=25", s)
		}
		svc, ok := in.Services[name]
		if !ok || svc.Canary == nil {
			have := "none has one"
			var names []string
			for _, k := range slices.Sorted(maps.Keys(in.Services)) {
				if in.Services[k].Canary != nil {
					names = append(names, k)
				}
			}
			if len(names) > 0 {
				have = "those with one: " + strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("--canary %s: no service of that name has a canary plan (%s)", name, have)
		}
		for _, cl := range clusters {
			out[cl][name] = explain.Canary{Candidate: svc.Canary.Candidate, Weight: n, Source: "--canary " + s}
		}
	}
	return out, nil
}
