package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/sailplan/sailplan/render/compare"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
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
}

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
	case r.Changes() > 0:
		return &exitError{code: exitChanges}
	}
	return nil
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
