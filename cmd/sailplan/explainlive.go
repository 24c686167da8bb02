package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/render/explain"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/sync/source"
)

// liveFlags say where the daemon keeps what it applied and the
// promotions' states.
type liveFlags struct {
	kubeconfig, context, namespace string
	// live reads each cluster's commit from sailplan's status in it and
	// the intents of that commit from git.
	live   bool
	git    gitFlags
	parent apply.Options
}

func (l *liveFlags) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&l.context, "promotions-context", "", "read the canaries' current weights from the promotion states in the home cluster of this kubeconfig context")
	fl.StringVar(&l.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig whose contexts name the clusters (for --live and --promotions-context)")
	fl.StringVar(&l.namespace, "promotions-namespace", promote.DefaultNamespace, "namespace of the promotion states")
	fl.BoolVar(&l.live, "live", false, "explain what each cluster holds now: its commit from sailplan's status in it (context named after the cluster), the intents of that commit from --repo")
	// The Git flags of run, but --path is the request's here.
	g := &l.git
	fl.StringVar(&g.repo, "repo", "", "with --live: the Git repository the daemon follows")
	fl.StringVar(&g.path, "repo-path", "", "with --live: directory of the intents inside the repository")
	fl.StringVar(&g.branch, "branch", "", `with --live: the branch the commits are on (default "main")`)
	fl.StringVar(&g.username, "git-username", "", "user name for HTTPS (default $"+envUsername+")")
	fl.StringVar(&g.passwordFile, "git-password-file", "", "file holding the HTTPS password (default $"+envPassword+")")
	fl.StringVar(&g.tokenFile, "git-token-file", "", "file holding an HTTPS access token (default $"+envToken+")")
	fl.StringVar(&g.sshKeyFile, "ssh-key-file", "", "private key for ssh:// repositories")
	fl.StringVar(&g.sshPassphraseFile, "ssh-key-passphrase-file", "", "file holding the SSH key's passphrase (default $"+envSSHPassphrase+")")
	fl.StringVar(&g.knownHostsFile, "known-hosts-file", "", "known_hosts file with the Git server's host key (required for SSH)")
	fl.StringVar(&g.verifyKeysFile, "verify-keys-file", "", "armored OpenPGP public keys: refuse a commit not signed by one of them")
	addParentFlags(fl, &l.parent)
}

// intents reads the status that sailplan keeps in every cluster (or
// those asked for), takes the commit each cluster holds, and loads the
// intents of each commit once from Git.
func (l *liveFlags) intents(ctx context.Context, asked []string, limits bounded.Limits) ([]string, map[string]sourced, error) {
	if l.git.repo == "" {
		return nil, nil, errors.New("--live: --repo is required: the repository the daemon follows")
	}
	contexts := asked
	if len(contexts) == 0 {
		var err error
		if contexts, err = kube.Contexts(ctx, l.kubeconfig); err != nil {
			return nil, nil, fmt.Errorf("--live: kubeconfig: %w", err)
		}
	}
	opts := l.parent.WithDefaults()
	place := &status.Place{Kubeconfig: l.kubeconfig, Namespace: opts.ParentNamespace, Name: status.NamePlace(opts.ParentName), Timeout: statusTimeout}
	copies := place.Read(ctx, contexts)
	newest, found := status.Newest(copies)
	if !found {
		var why []string
		for _, c := range copies {
			if c.Err != nil {
				why = append(why, c.Err.Error())
			}
		}
		msg := fmt.Sprintf("--live: no cluster of %s holds sailplan's status (ConfigMap %s/%s)", strings.Join(contexts, ", "), opts.ParentNamespace, place.Name)
		if len(why) > 0 {
			msg += ": " + strings.Join(why, "; ")
		}
		return nil, nil, errors.New(msg + " (hint: --applyset-namespace and --applyset-name as the daemon was given)")
	}
	held := newest.Record.Status.Clusters
	clusters := asked
	if len(clusters) == 0 {
		clusters = slices.Collect(maps.Keys(held))
	}
	slices.SortFunc(clusters, func(a, b string) int { return cmp.Or(held[a].Wave-held[b].Wave, strings.Compare(a, b)) })
	out := map[string]sourced{}
	byCommit := map[string]sourced{}
	// One fetch of the repository, whatever number of commits the fleet
	// holds: each is read from it, as diff --base --head reads its two.
	var history *source.History
	for _, cl := range clusters {
		cs, ok := held[cl]
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("--live: cluster %s: sailplan's status (read from %s) does not know it: give one of %s", cl, newest.Cluster, strings.Join(slices.Sorted(maps.Keys(held)), ", "))
		case cs.Commit == "":
			return nil, nil, fmt.Errorf("--live: cluster %s holds no commit of sailplan's yet (%s): leave it out with --cluster", cl, cs.State)
		}
		src, ok := byCommit[cs.Commit]
		if !ok {
			if history == nil {
				auth, err := l.git.auth()
				if err != nil {
					return nil, nil, fmt.Errorf("--live: %w", err)
				}
				if history, err = source.OpenHistory(ctx, l.git.repo, auth); err != nil {
					return nil, nil, fmt.Errorf("--live: %w", err)
				}
			}
			rev, err := history.Read(ctx, cs.Commit, l.git.path)
			if err != nil {
				return nil, nil, fmt.Errorf("--live: cluster %s: %w", cl, err)
			}
			in, err := bounded.Load(ctx, rev.Files, limits)
			if err != nil {
				return nil, nil, fmt.Errorf("--live: commit %s: %w", rev.Short(), err)
			}
			src = sourced{in: in, commit: cs.Commit}
			byCommit[cs.Commit] = src
		}
		if _, ok := src.in.Fleet.Clusters[cl]; !ok {
			return nil, nil, fmt.Errorf("--live: cluster %s: commit %s does not declare it in its fleet", cl, src.commit[:7])
		}
		out[cl] = src
	}
	return clusters, out, nil
}

// canaryWeights are the canaries' weights per cluster: those --canary
// gives, in every cluster, over those the promotion states hold for the
// cluster's wave. As render does, a state for another candidate than the
// intents name is ignored (explain says so).
func (f *explainFlags) canaryWeights(ctx context.Context, sources map[string]sourced, clusters []string) (map[string]map[string]explain.Canary, error) {
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
			for _, cl := range clusters {
				in := sources[cl].in
				if svc, ok := in.Services[st.Service]; !ok || svc.Canary == nil {
					continue
				}
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
		for _, cl := range clusters {
			in := sources[cl].in
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
			out[cl][name] = explain.Canary{Candidate: svc.Canary.Candidate, Weight: n, Source: "--canary " + s}
		}
	}
	return out, nil
}
