package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/sync/source"
)

// addApplyFlags registers the settings that decide how a fleet is applied;
// run and apply share them.
func addApplyFlags(f *pflag.FlagSet, o *apply.Options, waves *waveFlags) {
	f.Float64Var(&o.PruneMaxShare, "prune-max-share", apply.DefaultPruneMaxShare,
		"largest share (0-1] of a cluster's objects one sync may prune; a larger prune is refused until this allows it")
	waves.register(f)
	f.IntVar(&o.Workers, "workers", apply.DefaultWorkers, "requests in flight per cluster")
	addParentFlags(f, o)
}

// addParentFlags registers where the ApplySet parent lives; status and
// diff need it too.
func addParentFlags(f *pflag.FlagSet, o *apply.Options) {
	f.StringVar(&o.ParentNamespace, "applyset-namespace", apply.DefaultParentNamespace, "namespace of the ApplySet parent ConfigMap in each cluster")
	f.StringVar(&o.ParentName, "applyset-name", apply.DefaultParentName, "name of the ApplySet parent ConfigMap in each cluster")
}

// dirSource is a working tree as a Source: one revision, never moving.
type dirSource struct {
	dir string
	rev *source.Revision
}

func (s dirSource) Head(context.Context) (string, error)            { return s.rev.Commit, nil }
func (s dirSource) Fetch(context.Context) (*source.Revision, error) { return s.rev, nil }
func (s dirSource) String() string                                  { return "directory " + s.dir }

// localCommit names a working tree's content when no commit is given, so
// that the objects' commit annotation says where they came from.
func localCommit(files schema.Files) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	return "local-" + hex.EncodeToString(h.Sum(nil))[:12]
}

func newApplyCmd(g *globalFlags) *cobra.Command {
	var (
		kubeconfig, commit string
		opts               apply.Options
		waves              waveFlags
		limits             bounded.Limits
	)
	cmd := &cobra.Command{
		Use:   "apply DIR",
		Short: "Apply the intents in DIR to every cluster of their fleet once, without the daemon",
		Long: `apply does what one sync of the daemon does, from a working tree: render every
cluster's objects, then apply wave by wave with server-side apply, prune what
the intents no longer declare (within --prune-max-share) and keep the status in
each cluster for sailplan status. Exit status: 0 when every cluster is synced, 1
when the intents are invalid, 2 on any other error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			files, err := schema.ReadDir(ctx, args[0])
			var invalid schema.Errors
			if errors.As(err, &invalid) {
				return &exitError{code: 1, err: err} // files the reading rule refuses
			}
			if err != nil {
				return err
			}
			if commit == "" {
				commit = localCommit(files)
			}
			ev := newEvents(log, kubeconfig, opts, identity("apply"))
			r := &sync.Reconciler{
				Source:     dirSource{dir: args[0], rev: &source.Revision{Commit: commit, Files: files}},
				Kubeconfig: kubeconfig,
				Options:    opts,
				Events:     ev.bus,
				EvalLimits: limits,
			}
			if err := waves.set(r); err != nil {
				return err
			}
			defer r.Close()
			// What this apply did, cluster by cluster (the model keeps the
			// counts of the last sync that wrote, which may be older).
			did := map[string]notify.Counts{}
			ev.bus.Subscribe(notify.HandlerFunc(func(e notify.Event) {
				if s, ok := e.(notify.ClusterSynced); ok {
					did[s.Cluster] = did[s.Cluster].Plus(s.Counts)
				}
			}))
			contexts, err := kube.Contexts(ctx, kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			// Keep what the clusters held before, and since when.
			ev.status.Restore(ctx, contexts)
			syncErr := r.Sync(ctx)
			ev.bus.Flush()
			ev.status.Write(ctx)
			st, _ := ev.model.Status()
			if c, ok := st.Commit(commit); ok && c.Fate == notify.FateRejected && c.Reason != notify.RejectedFleet {
				return &exitError{code: 1, err: errors.New(strings.Join(c.Errors, "\n"))}
			}
			out := cmd.OutOrStdout()
			for _, n := range slices.Sorted(maps.Keys(st.Clusters)) {
				cs := st.Clusters[n]
				fmt.Fprintf(out, "%s\twave %d\t%s\t%s\n", n, cs.Wave, cs.State, countsText(did[n]))
			}
			if syncErr != nil {
				return &exitError{code: 2, err: syncErr}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with one context per fleet cluster")
	f.StringVar(&commit, "commit", "", "commit to record on the objects (default: local- and a hash of DIR's intent files)")
	addApplyFlags(f, &opts, &waves)
	bounded.AddFlags(f, &limits)
	return cmd
}

func countsText(c notify.Counts) string {
	return fmt.Sprintf("created %d, configured %d, unchanged %d, pruned %d", c.Created, c.Configured, c.Unchanged, c.Pruned)
}
