package writeback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// repo is the branch, cloned into memory with its working tree, at head.
type repo struct {
	w    *Writer
	git  *git.Repository
	head *object.Commit
	// review is the head of the promotion's review branch, when it
	// exists.
	review *object.Commit
}

// reviewRef is where the review branch is fetched to.
const reviewRef = plumbing.ReferenceName("refs/remotes/origin/sailplan-review")

// clone reads the branch with its history (a push from a shallow clone
// cannot be checked as a fast-forward), and with Review the promotion's
// review branch too.
func (w *Writer) clone(ctx context.Context, st *promote.State) (*repo, error) {
	r, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL:           w.URL,
		Auth:          w.Auth,
		ReferenceName: plumbing.NewBranchReferenceName(w.branch()),
		SingleBranch:  true,
		Tags:          git.NoTags,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: fetching %s: %w", w.redact(), w.branch(), err)
	}
	ref, err := r.Head()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", w.redact(), w.branch(), err)
	}
	head, err := r.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", w.redact(), w.branch(), err)
	}
	rp := &repo{w: w, git: r, head: head}
	if w.Review {
		spec := config.RefSpec("+refs/heads/" + ReviewBranch(st) + ":" + string(reviewRef))
		err := r.FetchContext(ctx, &git.FetchOptions{Auth: w.Auth, RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags})
		switch {
		case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
			ref, err := r.Reference(reviewRef, true)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", w.redact(), ReviewBranch(st), err)
			}
			if rp.review, err = r.CommitObject(ref.Hash()); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", w.redact(), ReviewBranch(st), err)
			}
		case isNoMatch(err):
			// No review branch yet.
		default:
			return nil, fmt.Errorf("%s: fetching %s: %w", w.redact(), ReviewBranch(st), err)
		}
	}
	return rp, nil
}

func isNoMatch(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm)
}

// searchDepth is how far back in the branch a write-back of the
// promotion is looked for: it was pushed minutes ago, not hundreds of
// commits.
const searchDepth = 200

// find returns the commit of this promotion's write-back on the branch
// (or its review branch), if one was pushed: it carries the promotion's
// trailer.
func (r *repo) find(ctx context.Context, st *promote.State) string {
	trailer := Trailer(st)
	if r.w.Review {
		if r.review != nil && strings.Contains(r.review.Message, trailer) {
			return r.review.Hash.String()
		}
		return ""
	}
	found := ""
	iter := object.NewCommitPreorderIter(r.head, nil, nil)
	n := 0
	_ = iter.ForEach(func(c *object.Commit) error {
		if n++; n > searchDepth || ctx.Err() != nil {
			return errStop
		}
		if strings.Contains(c.Message, trailer) {
			found = c.Hash.String()
			return errStop
		}
		return nil
	})
	return found
}

var errStop = errors.New("stop")

// push pushes commit to target. It returns why the server refused it, for
// good; errMoved when target moved since it was read; another error for a
// failure that may pass.
func (r *repo) push(ctx context.Context, st *promote.State, commit plumbing.Hash, target string, review bool) (string, error) {
	ref := plumbing.NewBranchReferenceName(target)
	opts := &git.PushOptions{
		RemoteName: "origin",
		Auth:       r.w.Auth,
		RefSpecs:   []config.RefSpec{config.RefSpec(commit.String() + ":" + ref.String())},
	}
	var progress bytes.Buffer
	opts.Progress = &progress
	if !review {
		// Never over a head it has not read: the server's branch must
		// still be the commit the edit was made on.
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(r.head.Hash.String() + ":" + ref.String())}
	}
	err := r.git.PushContext(ctx, opts)
	if err == nil {
		return "", nil
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) || ctx.Err() != nil {
		return "", fmt.Errorf("%s: pushing to %s: %w", r.w.redact(), target, err)
	}
	// Whether the branch moved decides: a moved branch is a race to run
	// again on its new head, whatever the server said.
	now, lerr := r.remoteHead(ctx, ref)
	if lerr != nil {
		return "", fmt.Errorf("%s: pushing to %s: %w", r.w.redact(), target, err)
	}
	switch {
	case !review && now != r.head.Hash:
		return "", fmt.Errorf("%s: %s moved to %s: %w", r.w.redact(), target, notify.Short(now.String()), errMoved)
	case review && !now.IsZero() && now != commit:
		return "", r.taken(target, now)
	}
	if strings.Contains(err.Error(), "command error on") {
		// The server refused the update itself: a hook, a protection.
		why := strings.TrimPrefix(err.Error(), "command error on "+ref.String()+": ")
		if said := remoteSaid(progress.String()); said != "" {
			why += " (" + said + ")"
		}
		hint := "make " + st.Candidate + " stable in Git by hand, or let sailplan push a branch for review (--write-back=review)"
		if review {
			hint = "allow sailplan to push branches under sailplan/, or make the candidate stable in Git by hand"
		}
		return fmt.Sprintf("the server refused the push to %s: %s; %s", target, why, hint), nil
	}
	return "", fmt.Errorf("%s: pushing to %s: %w", r.w.redact(), target, err)
}

// remoteSaid is what the server's hooks wrote, one line, without Git's
// "remote:" prefixes and progress lines.
func remoteSaid(progress string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(progress, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "remote:"))
		if l == "" || strings.Contains(l, "%") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// taken says that the review branch exists at commit without this
// write-back. It is read again (errMoved): another replica's push of this
// write-back is found there and recorded. Else it is not final either:
// once a person deletes the branch, the next look pushes.
func (r *repo) taken(branch string, at plumbing.Hash) error {
	return fmt.Errorf("%s: branch %s already exists at %s, without this write-back: delete it, and sailplan pushes again (%w)", r.w.redact(), branch, notify.Short(at.String()), errMoved)
}

// remoteHead is ref's commit on the server; the zero hash when there is
// no such branch.
func (r *repo) remoteHead(ctx context.Context, ref plumbing.ReferenceName) (plumbing.Hash, error) {
	remote, err := r.git.Remote("origin")
	if err != nil {
		return plumbing.ZeroHash, err
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: r.w.Auth})
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for _, x := range refs {
		if x.Name() == ref {
			return x.Hash(), nil
		}
	}
	return plumbing.ZeroHash, nil
}
