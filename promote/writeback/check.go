package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
)

// check proves, before anything is pushed, that the sync of the edit will
// change no traffic: it loads edited (the head's files with the edit)
// within the evaluation limits, as sync will, and renders every cluster of
// the fleet from it and from head as the promotion serves it now. Every
// object must come out the same, which holds the routes' weights and
// everything else, and in every cluster's view (overrides included) the
// canary must rest with the candidate stable. It returns why not, when
// not: that is final for this head; its error is a failure to check,
// tried again.
func check(ctx context.Context, head *schema.Intents, edited schema.Files, st *promote.State, commit string, l bounded.Limits) (string, error) {
	in, err := bounded.Load(ctx, edited, l)
	var invalid schema.Errors
	if errors.As(err, &invalid) {
		return "the edited intents do not load: " + invalid.Error(), nil
	}
	if err != nil {
		return "", fmt.Errorf("loading the edited intents: %w", err)
	}
	clusters := slices.Sorted(maps.Keys(head.Fleet.Clusters))
	if len(clusters) == 0 {
		clusters = []string{""} // what every cluster has in common
	}
	for _, cluster := range clusters {
		where := "cluster " + cluster
		if cluster == "" {
			where = "the intents"
		}
		svc := in.ForCluster(cluster).Services[st.Service]
		if svc == nil || svc.Canary == nil || !svc.Canary.AtRest() || svc.Canary.Stable != st.Candidate {
			return fmt.Sprintf("%s: after the edit, services.%s.canary does not rest with %s stable (an override or another file declares it too)", where, st.Service, st.Candidate), nil
		}
		opts := render.Options{Cluster: cluster, Commit: commit, Canaries: served(head, cluster, st)}
		before, err := render.Render(head, opts)
		if err != nil {
			return "", fmt.Errorf("%s: rendering the head: %w", where, err)
		}
		after, err := render.Render(in, opts)
		if err != nil {
			return "the edited intents do not render: " + err.Error(), nil
		}
		if what := changed(before, after); what != "" {
			return fmt.Sprintf("%s: the edit would change %s, not only name %s stable", where, what, st.Candidate), nil
		}
	}
	return "", nil
}

// served is what render takes from the promotion in cluster, as sync
// hands it over: the candidate's weight in the cluster's wave, none at 0.
func served(in *schema.Intents, cluster string, st *promote.State) map[string]render.CanaryState {
	weight := 0
	if c, ok := in.Fleet.Clusters[cluster]; ok {
		weight = st.WeightIn(c.Wave)
	} else if len(st.Waves) > 0 {
		weight = st.Waves[0].Weight
	}
	if weight == 0 {
		return nil
	}
	return map[string]render.CanaryState{st.Service: {Candidate: st.Candidate, Weight: weight}}
}

// changed names the first object that differs between two renders of a
// cluster, or says that their numbers differ; "" when they are the same.
func changed(before, after []render.Object) string {
	name := func(o render.Object) string {
		return fmt.Sprintf("%s %s/%s", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
	}
	for i := range min(len(before), len(after)) {
		a, _ := json.Marshal(before[i])
		b, _ := json.Marshal(after[i])
		if string(a) != string(b) {
			return name(before[i])
		}
	}
	switch {
	case len(before) > len(after):
		return "the objects: " + name(before[len(after)]) + " would go"
	case len(after) > len(before):
		return "the objects: " + name(after[len(before)]) + " would come"
	}
	return ""
}
