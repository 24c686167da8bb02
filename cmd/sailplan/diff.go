package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/render/compare"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
)

func newDiffCmd() *cobra.Command {
	var (
		kubeconfig, context, cluster string
		opts                         apply.Options
		limits                       bounded.Limits
		commits                      commitDiff
	)
	cmd := &cobra.Command{
		Use:         "diff (DIR --context NAME | --base REV --head REV [--repo PATH|URL])",
		Annotations: oneShot(),
		Short:       "Show what applying the intents in DIR would change in one cluster, or what a commit changes in the fleet",
		Long: `diff DIR --context NAME renders DIR for the cluster, applies every object
with a server-side dry run and prints a unified diff of the live object
against the result, leaving out fields that change on every write
(managedFields, resourceVersion, generation) and sailplan's digest
annotation. Objects of sailplan's ApplySet that DIR no longer declares are
shown as deleted. Nothing is changed.

diff --base REV --head REV compares two commits of a Git repository (the
working directory's by default, or --repo, a path or a URL) without any
cluster: for every cluster of the fleet, the objects the head adds,
changes and removes, as unified diffs (-o diff), as a Markdown summary for
a pull request's comment (-o markdown: security changes first, routing by
how much, canary plans), or as JSON. An invalid head is reported with
every error at file:line:column. With --live, it also shows what applying
the head would change in each cluster now (server-side dry runs through the
kubeconfig context named after each cluster). See docs/pull-requests.md.

Exit status: 0 without changes, 1 with changes, 2 on errors (an invalid
head, an unknown revision, a cluster that cannot be reached).`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if commits.base != "" || commits.head != "" {
				if len(args) > 0 || context != "" {
					return &exitError{code: 2, err: fmt.Errorf("diff --base/--head compares commits of --repo: it takes no DIR and no --context (--live compares the head with every cluster of its fleet)")}
				}
				commits.cluster, commits.limits = cluster, limits
				commits.kubeconfig, commits.opts = kubeconfig, opts
				return commits.run(cmd.Context(), cmd.OutOrStdout())
			}
			if len(args) != 1 {
				return &exitError{code: 2, err: fmt.Errorf("diff takes DIR and --context, or --base and --head")}
			}
			if context == "" {
				return &exitError{code: 2, err: fmt.Errorf("--context is required")}
			}
			if cluster == "" {
				cluster = context
			}
			in, err := loadDir(cmd.Context(), args[0], limits)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			objs, err := render.Render(in, render.Options{Cluster: cluster})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			us := make([]*unstructured.Unstructured, 0, len(objs))
			for _, o := range objs {
				u, err := render.ToUnstructured(o)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				us = append(us, u)
			}
			c, err := clusterForContext(cmd.Context(), kubeconfig, context, opts)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer c.Close()
			diffs, err := c.Diff(cmd.Context(), us)
			changes := 0
			out := cmd.OutOrStdout()
			for _, d := range diffs {
				if d.Action == apply.Unchanged {
					continue
				}
				changes++
				fmt.Fprintf(out, "# %s %s\n%s", d.Object, d.Action, d.Diff)
			}
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case changes > 0:
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d of %d objects would change\n", context, changes, len(diffs))
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig that has the context")
	f.StringVar(&context, "context", "", "kubeconfig context of the cluster to compare with")
	f.StringVar(&cluster, "cluster", "", "fleet cluster to render for (default: the context's name); with --base, the one cluster to compare")
	f.StringVar(&commits.base, "base", "", "revision to compare from: a branch, tag, origin/main, a hash, HEAD~1")
	f.StringVar(&commits.head, "head", "", "revision to compare to (the pull request's head)")
	f.StringVar(&commits.git.repo, "repo", "", "with --base: the Git repository, a directory inside a clone (default \".\") or a URL")
	f.StringVar(&commits.git.path, "path", "", "with --base: directory of the intents inside the repository")
	f.StringVarP(&commits.output, "output", "o", "diff", "with --base: diff, markdown or json")
	f.IntVar(&commits.markdownLimit, "markdown-limit", compare.MarkdownLimit, "with -o markdown: the most bytes to write (GitHub refuses comments over 65536 characters)")
	f.BoolVar(&commits.live, "live", false, "with --base: also compare the head with what each cluster of its fleet holds now (kubeconfig context named after the cluster)")
	commits.git.registerAuth(f)
	addParentFlags(f, &opts)
	bounded.AddFlags(f, &limits)
	return cmd
}

// clusterForContext reaches the cluster of one kubeconfig context.
func clusterForContext(ctx context.Context, kubeconfig, contextName string, opts apply.Options) (*apply.Cluster, error) {
	cfg, err := kube.RESTConfig(ctx, kubeconfig, contextName)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", contextName, err)
	}
	return apply.NewCluster(contextName, cfg, opts)
}
