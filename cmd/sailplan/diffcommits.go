package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/render/compare"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
)

// commitDiff is `sailplan diff --base --head`: a pull request's preview,
// from the repository alone.
type commitDiff struct {
	base, head    string
	git           gitFlags // repo, path and credentials
	cluster       string
	output        string
	markdownLimit int
	limits        bounded.Limits

	// live also compares the head with the clusters as they are now,
	// each through the kubeconfig context named after it.
	live       bool
	kubeconfig string
	opts       apply.Options
}

// liveTimeout bounds the live comparison of one cluster, so that a
// cluster that hangs cannot hold a CI job.
const liveTimeout = time.Minute

// Exit codes of the comparison, as of the live diff (and kubectl diff): a
// CI job tells "changes to review" from "the head is broken".
const (
	exitNoChanges = 0
	exitChanges   = 1
	exitInvalid   = 2
)

// run reads both commits, loads them (in parallel, each in its bounded
// child), compares them and writes the report to out. An invalid head is
// reported (Markdown and JSON carry its errors, for the comment) and
// exits 2, its errors also on stderr through the returned error.
func (d *commitDiff) run(ctx context.Context, out io.Writer) error {
	switch d.output {
	case "diff", "markdown", "json":
	default:
		return &exitError{code: exitInvalid, err: fmt.Errorf("--output %q: want diff, markdown or json", d.output)}
	}
	if d.base == "" || d.head == "" {
		return &exitError{code: exitInvalid, err: errors.New("--base and --head go together: give the two revisions to compare, such as --base origin/main --head HEAD")}
	}
	if d.git.repo == "" {
		d.git.repo = "."
	}
	auth, err := d.git.auth()
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	h, err := source.OpenHistory(ctx, d.git.repo, auth)
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	var base, head compare.Side
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { base, err = d.side(gctx, h, d.base); return err })
	g.Go(func() (err error) { head, err = d.side(gctx, h, d.head); return err })
	if err := g.Wait(); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	r, err := compare.Compare(base, head, compare.Options{Cluster: d.cluster, Path: d.git.path})
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("%s..%s: %w", source.Short(base.Commit), source.Short(head.Commit), err)}
	}
	if d.live && r.HeadErrors == nil {
		r.Live = d.liveDiff(ctx, r, head)
	}
	switch d.output {
	case "markdown":
		_, err = io.WriteString(out, compare.Markdown(r, d.markdownLimit))
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	default:
		_, err = io.WriteString(out, compare.Unified(r))
	}
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	switch {
	case r.HeadErrors != nil:
		name := source.Short(r.Head)
		if !strings.HasPrefix(r.Head, d.head) {
			name = d.head + " (" + name + ")"
		}
		return &exitError{code: exitInvalid, err: fmt.Errorf("head %s does not validate, so sailplan would apply nothing of it:\n%s", name, strings.Join(r.HeadErrors, "\n"))}
	case r.LiveErrors() > 0:
		return &exitError{code: exitInvalid, err: fmt.Errorf("%d of %d clusters could not be compared with the head (see the output)", r.LiveErrors(), len(r.Live))}
	case r.Changes()+r.LiveChanges() > 0:
		return &exitError{code: exitChanges}
	}
	return nil
}

// liveDiff compares the head, rendered for each cluster of its fleet
// (with its commit, as run would apply it), with what the cluster holds
// now, through apply's server-side dry run, every cluster in parallel. A
// cluster that cannot be compared says why in its entry.
func (d *commitDiff) liveDiff(ctx context.Context, r *compare.Report, head compare.Side) []compare.Live {
	var names []string
	for _, c := range r.Clusters {
		if !c.Leaves {
			names = append(names, c.Name)
		}
	}
	out := make([]compare.Live, len(names))
	var g errgroup.Group
	for i, name := range names {
		g.Go(func() error {
			out[i] = compare.Live{Cluster: name}
			changes, err := d.liveCluster(ctx, head, name)
			out[i].Objects = changes
			if err != nil {
				out[i].Err = err.Error()
			}
			return nil
		})
	}
	_ = g.Wait() // every error is in its cluster's entry
	return out
}

func (d *commitDiff) liveCluster(ctx context.Context, head compare.Side, name string) ([]compare.LiveChange, error) {
	if name == "" {
		return nil, errors.New("the fleet declares no clusters, so there is no context to reach (hint: sailplan diff DIR --context NAME compares a directory with one cluster)")
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	objs, err := render.Render(head.Intents, render.Options{Cluster: name, Commit: head.Commit})
	if err != nil {
		return nil, err
	}
	us := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if us[i], err = render.ToUnstructured(o); err != nil {
			return nil, err
		}
	}
	c, err := clusterForContext(ctx, d.kubeconfig, name, d.opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	diffs, err := c.Diff(ctx, us)
	var changes []compare.LiveChange
	for _, o := range diffs {
		if o.Action != apply.Unchanged {
			changes = append(changes, compare.LiveChange{Object: o.Object, Action: string(o.Action), Diff: o.Diff})
		}
	}
	return changes, err
}

// side reads and loads one revision. Intents that do not load (or a
// commit without the intent path) are the side's Err, for the report;
// the error returned is for what stops the comparison itself: a revision
// that does not resolve, a repository that cannot be read, ctx ending.
func (d *commitDiff) side(ctx context.Context, h *source.History, rev string) (compare.Side, error) {
	r, err := h.Read(ctx, rev, d.git.path)
	if r == nil {
		return compare.Side{}, err
	}
	s := compare.Side{Commit: r.Commit}
	var es schema.Errors
	switch {
	case errors.Is(err, source.ErrNoPath) || errors.As(err, &es):
		s.Err = err
		return s, nil
	case err != nil:
		return s, err
	}
	s.Intents, err = bounded.Load(ctx, r.Files, d.limits)
	if err != nil && ctx.Err() != nil {
		return s, err
	}
	s.Err = err
	return s, nil
}
