package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/sailplan/sailplan/schema"
)

// GitSource is a branch of a Git repository and a directory in it that
// holds the intents.
type GitSource struct {
	// URL of the repository: https://, http://, ssh:// or a local path.
	URL string
	// Branch to follow; "main" when empty.
	Branch string
	// Path of the intents inside the repository; the root when empty.
	Path string
	// Auth for the remote; nil for none.
	Auth transport.AuthMethod
}

// Revision is the intents at one commit.
type Revision struct {
	Commit  string
	Author  string
	Message string
	Files   schema.Files
}

// Short is the commit's abbreviated hash, for logs.
func (r *Revision) Short() string {
	if len(r.Commit) > 7 {
		return r.Commit[:7]
	}
	return r.Commit
}

func (s *GitSource) branch() plumbing.ReferenceName {
	b := s.Branch
	if b == "" {
		b = "main"
	}
	return plumbing.NewBranchReferenceName(b)
}

// Head asks the remote which commit the branch points at, without
// fetching any objects.
func (s *GitSource) Head(ctx context.Context) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: s.Auth})
	if err != nil {
		return "", fmt.Errorf("git %s: listing references: %w", redactURL(s.URL), err)
	}
	for _, ref := range refs {
		if ref.Name() == s.branch() {
			return ref.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("git %s: branch %s not found", redactURL(s.URL), s.branch().Short())
}

// Fetch makes a shallow clone of the branch in memory and reads the
// intent files at its head. Nothing is written to disk.
func (s *GitSource) Fetch(ctx context.Context) (*Revision, error) {
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL:           s.URL,
		Auth:          s.Auth,
		ReferenceName: s.branch(),
		SingleBranch:  true,
		Depth:         1,
		Tags:          git.NoTags,
	})
	if err != nil {
		return nil, fmt.Errorf("git %s: fetching %s: %w", redactURL(s.URL), s.branch().Short(), err)
	}
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", s.branch().Short()), true)
	if err != nil {
		if ref, err = repo.Head(); err != nil {
			return nil, fmt.Errorf("git %s: resolving %s: %w", redactURL(s.URL), s.branch().Short(), err)
		}
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", redactURL(s.URL), ref.Hash(), err)
	}
	files, err := readTree(ctx, commit, s.Path)
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", redactURL(s.URL), ref.Hash().String()[:7], err)
	}
	return &Revision{
		Commit:  commit.Hash.String(),
		Author:  commit.Author.Name,
		Message: strings.TrimSpace(commit.Message),
		Files:   files,
	}, nil
}

// readTree reads the intent files under dir of a commit's tree.
func readTree(ctx context.Context, commit *object.Commit, dir string) (schema.Files, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		if tree, err = tree.Tree(dir); err != nil {
			if errors.Is(err, object.ErrDirectoryNotFound) {
				return nil, fmt.Errorf("path %q does not exist in the repository", dir)
			}
			return nil, fmt.Errorf("path %q: %w", dir, err)
		}
	}
	files := schema.Files{}
	err = tree.Files().ForEach(func(f *object.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !schema.IntentFile(f.Name) {
			return nil
		}
		r, err := f.Reader()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		files[f.Name] = b
		return nil
	})
	return files, err
}

// redactURL drops credentials from a URL before it reaches a log or error.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}
