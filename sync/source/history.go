package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// History is a repository whose commits are read one at a time, such as the
// two a pull request compares (sailplan diff --base --head): a clone on
// disk, opened where it is, or a remote fetched into memory with every
// branch, every tag and their history. Unlike GitSource, it follows
// nothing: it resolves the revisions it is given.
type History struct {
	// mu serialises reads: go-git's repository on disk loads its pack
	// indexes lazily and is not safe for concurrent use (two revisions
	// read at once sometimes failed to resolve).
	mu   sync.Mutex
	repo *git.Repository
	// where names the repository in errors: its path, or its URL without
	// credentials.
	where string
}

// OpenHistory opens location: a directory inside a Git working tree (or a
// Git worktree, or a bare repository) is read in place, without touching
// its files or index; anything else is taken as a URL and fetched into
// memory, with auth (nil for none). Nothing is written to disk.
func OpenHistory(ctx context.Context, location string, auth transport.AuthMethod) (*History, error) {
	if fi, err := os.Stat(location); err == nil && fi.IsDir() {
		repo, err := git.PlainOpenWithOptions(location, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
		if err != nil {
			return nil, fmt.Errorf("git %s: %w", location, err)
		}
		return &History{repo: repo, where: location}, nil
	}
	where := RedactURL(location)
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", where, err)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{location}})
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", where, err)
	}
	// Branches both as themselves and as origin's, so that "main" and
	// "origin/main" resolve as they do in a CI job's clone.
	err = remote.FetchContext(ctx, &git.FetchOptions{
		Auth: auth,
		RefSpecs: []config.RefSpec{
			"+refs/heads/*:refs/heads/*",
			"+refs/heads/*:refs/remotes/origin/*",
			"+refs/tags/*:refs/tags/*",
		},
		Tags: git.NoTags, // the refspec above takes them all, annotated or not
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("git %s: fetching: %w", where, err)
	}
	h := &History{repo: repo, where: where}
	if err := h.setRemoteHead(ctx, remote, auth); err != nil {
		return nil, err
	}
	return h, nil
}

// setRemoteHead points HEAD where the remote's does, so that HEAD (and
// HEAD~1) mean the default branch of a fetched repository as of a clone.
func (h *History) setRemoteHead(ctx context.Context, remote *git.Remote, auth transport.AuthMethod) error {
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return fmt.Errorf("git %s: listing references: %w", h.where, err)
	}
	for _, ref := range refs {
		if ref.Name() != plumbing.HEAD {
			continue
		}
		head := plumbing.NewHashReference(plumbing.HEAD, ref.Hash())
		if ref.Type() == plumbing.SymbolicReference {
			head = plumbing.NewSymbolicReference(plumbing.HEAD, ref.Target())
		}
		return h.repo.Storer.SetReference(head)
	}
	return nil // an empty repository, or a server that names no HEAD
}

// Read resolves rev and reads the intent files under dir of its tree with
// the rule that Fetch and `sailplan validate` apply (readTree). rev is
// anything go-git's revision syntax takes: a branch, a tag (annotated
// ones stand for their commit), origin/main, a hash or an unambiguous
// prefix of one, HEAD~1, main^2. A dir the commit does not have is an
// error that wraps ErrNoPath; files the rule refuses are schema.Errors,
// returned with the revision, which names the commit.
func (h *History) Read(ctx context.Context, rev, dir string) (*Revision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	commit, err := h.resolve(rev)
	if err != nil {
		return nil, err
	}
	r := revisionOf(commit)
	if r.Files, err = readTree(ctx, commit, dir); err != nil {
		return r, fmt.Errorf("git %s: %s (%s): %w", h.where, rev, r.Short(), err)
	}
	return r, nil
}

func (h *History) resolve(rev string) (*object.Commit, error) {
	hash, err := h.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("git %s: revision %q: %w%s", h.where, rev, err, h.shallowHint())
	}
	commit, err := h.repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("git %s: revision %q (%s): %w%s", h.where, rev, Short(hash.String()), err, h.shallowHint())
	}
	return commit, nil
}

// shallowHint explains the usual reason a revision cannot be found in a
// CI job: its clone holds the last commit only.
func (h *History) shallowHint() string {
	if shallow, err := h.repo.Storer.Shallow(); err == nil && len(shallow) > 0 {
		return " (hint: the clone is shallow; fetch the history, such as with actions/checkout's fetch-depth: 0 or GitLab's GIT_DEPTH: 0)"
	}
	return ""
}
