package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/sailplan/sailplan/schema"
)

// GitSource is a directory of a Git repository at the head of a branch, at
// a tag, or at one pinned commit.
type GitSource struct {
	// URL of the repository: https://, http://, ssh://, user@host:path or
	// a local path.
	URL string
	// Branch to follow; "main" when Branch, Tag and Commit are all empty.
	// With Commit, the branch that must contain the commit.
	Branch string
	// Tag to follow instead of a branch; an annotated tag stands for the
	// commit it points at. A tag that is moved is followed.
	Tag string
	// Commit pins one commit (40 hex digits). It is fetched by cloning
	// Branch (default "main") with its history, because servers speaking
	// Git's protocol v0/v1 refuse to send a commit that no reference
	// points at unless configured to; a commit that is not on the branch
	// is an error.
	Commit string
	// Path of the intents inside the repository; the root when empty.
	Path string
	// Auth for the remote; nil for none. See HTTPAuth and SSHAuth.
	Auth transport.AuthMethod
	// VerifyKeys, when set, is an armored OpenPGP key ring: only commits
	// signed by one of its keys are handed out; others are refused with a
	// *RefusedError that says why (see CheckKeyRing).
	VerifyKeys string
}

// Revision is the intents at one commit.
type Revision struct {
	Commit  string
	Author  string
	Message string
	// Signer is the OpenPGP key that signed the commit ("0x<key id> <user
	// id>"), set when the source verifies signatures.
	Signer string
	// Time is the committer's time.
	Time  time.Time
	Files schema.Files
}

// revisionOf is what a Revision says of its commit, without its files.
func revisionOf(commit *object.Commit) *Revision {
	return &Revision{
		Commit:  commit.Hash.String(),
		Author:  commit.Author.Name,
		Message: strings.TrimSpace(commit.Message),
		Time:    commit.Committer.When,
	}
}

// Short is the commit's abbreviated hash, for logs.
func (r *Revision) Short() string { return Short(r.Commit) }

// Short abbreviates a commit hash for display; anything of 7 characters
// or fewer ("unknown", say) stays as it is.
func Short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

var fullHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Validate reports a source that can never work, before anything is
// fetched: a tag together with a branch or commit, a commit that is not a
// full hash, or a key ring that does not parse.
func (s *GitSource) Validate() error {
	if s.URL == "" {
		return errors.New("git: no repository URL")
	}
	if s.Tag != "" && (s.Branch != "" || s.Commit != "") {
		return fmt.Errorf("git %s: a tag (%s) excludes a branch or a commit", RedactURL(s.URL), s.Tag)
	}
	if s.Commit != "" && !fullHash.MatchString(s.Commit) {
		return fmt.Errorf("git %s: commit %q: want the full 40-digit lower-case hash", RedactURL(s.URL), s.Commit)
	}
	if s.VerifyKeys != "" {
		if err := CheckKeyRing(s.VerifyKeys); err != nil {
			return fmt.Errorf("git %s: %w", RedactURL(s.URL), err)
		}
	}
	return nil
}

// ref is the reference followed: a branch, or a tag.
func (s *GitSource) ref() plumbing.ReferenceName {
	if s.Tag != "" {
		return plumbing.NewTagReferenceName(s.Tag)
	}
	b := s.Branch
	if b == "" {
		b = "main"
	}
	return plumbing.NewBranchReferenceName(b)
}

// what names the followed reference or commit in errors.
func (s *GitSource) what() string {
	switch {
	case s.Commit != "":
		return "commit " + Short(s.Commit)
	case s.Tag != "":
		return "tag " + s.Tag
	}
	return "branch " + s.ref().Short()
}

// String names the source in events, as its errors start: the
// repository without credentials.
func (s *GitSource) String() string { return "git " + RedactURL(s.URL) }

// Head returns the commit the source stands at, fetching no objects: the
// pinned commit as is, or the branch's or tag's commit from the remote's
// reference advertisement.
func (s *GitSource) Head(ctx context.Context) (string, error) {
	if s.Commit != "" {
		return s.Commit, nil
	}
	return s.lsRemote(ctx)
}

func (s *GitSource) lsRemote(ctx context.Context) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: s.Auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", fmt.Errorf("git %s: listing references: %w", RedactURL(s.URL), err)
	}
	want := s.ref()
	var found *plumbing.Reference
	for _, ref := range refs {
		switch ref.Name() {
		case want:
			if found == nil {
				found = ref
			}
		case want + "^{}":
			// The commit an annotated tag points at, advertised next to it.
			found = ref
		}
	}
	if found == nil {
		return "", fmt.Errorf("git %s: %s not found", RedactURL(s.URL), s.what())
	}
	return found.Hash().String(), nil
}

// Fetch reads the intent files at the source's commit into memory; nothing
// is written to disk. A branch or tag is cloned shallow (depth 1), so only
// the objects of its head are transferred. With VerifyKeys, a commit that
// is not signed by one of the keys is refused with a *RefusedError.
func (s *GitSource) Fetch(ctx context.Context) (*Revision, error) {
	commit, err := s.fetchCommit(ctx)
	if err != nil {
		return nil, err
	}
	rev := revisionOf(commit)
	if s.VerifyKeys != "" {
		signer, reason := verifyCommit(commit, s.VerifyKeys)
		if reason != nil {
			return nil, &RefusedError{URL: RedactURL(s.URL), Commit: rev.Commit, Author: rev.Author, Message: rev.Message, Err: reason}
		}
		rev.Signer = signer
	}
	if rev.Files, err = readTree(ctx, commit, s.Path); err != nil {
		// Files refused by the reading rule are the commit's fault, not
		// the source's: the revision goes back with them, so that the
		// commit is rejected once, naming its author.
		return rev, fmt.Errorf("git %s: commit %s: %w", RedactURL(s.URL), rev.Short(), err)
	}
	return rev, nil
}

func (s *GitSource) fetchCommit(ctx context.Context) (*object.Commit, error) {
	opts := &git.CloneOptions{
		URL:           s.URL,
		Auth:          s.Auth,
		ReferenceName: s.ref(),
		SingleBranch:  true,
		Depth:         1,
		Tags:          git.NoTags,
	}
	if s.Commit != "" {
		// The pinned commit may be any distance below the branch head.
		opts.Depth = 0
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, opts)
	if err != nil {
		return nil, fmt.Errorf("git %s: fetching %s: %w", RedactURL(s.URL), s.ref().Short(), err)
	}
	var hash plumbing.Hash
	if s.Commit != "" {
		hash = plumbing.NewHash(s.Commit)
	} else {
		ref, err := repo.Reference(s.ref(), true)
		if err != nil {
			return nil, fmt.Errorf("git %s: resolving %s: %w", RedactURL(s.URL), s.what(), err)
		}
		hash = ref.Hash()
		// An annotated tag is an object of its own that names the commit.
		if tag, err := repo.TagObject(hash); err == nil {
			c, err := tag.Commit()
			if err != nil {
				return nil, fmt.Errorf("git %s: %s: %w", RedactURL(s.URL), s.what(), err)
			}
			return c, nil
		}
	}
	commit, err := repo.CommitObject(hash)
	if errors.Is(err, plumbing.ErrObjectNotFound) && s.Commit != "" {
		// A single-branch clone holds exactly what the branch reaches.
		return nil, fmt.Errorf("git %s: commit %s is not on branch %s", RedactURL(s.URL), Short(s.Commit), s.ref().Short())
	}
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", RedactURL(s.URL), Short(hash.String()), err)
	}
	return commit, nil
}

// readTree reads the intent files under dir of a commit's tree through a
// schema.FileSet, the rule `sailplan validate` applies to a working tree,
// so that both read the same files of a commit. A link is a blob holding
// its target: it is handed to the set as a link, never read as CUE and
// never followed. Files refused are schema.Errors, one line per file.
func readTree(ctx context.Context, commit *object.Commit, dir string) (schema.Files, error) {
	root, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	tree := root
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		if tree, err = root.Tree(dir); err != nil {
			if errors.Is(err, object.ErrDirectoryNotFound) {
				return nil, missingDir(root, dir)
			}
			return nil, fmt.Errorf("path %q: %w", dir, err)
		}
	}
	set := schema.NewFileSet()
	if err := addTree(ctx, set, tree, "."); err != nil {
		return nil, err
	}
	return set.Files()
}

// missingDir says why the intent path is not a directory of the commit:
// not there, or a link, which is no more followed here than in the tree.
func missingDir(root *object.Tree, dir string) error {
	if e, err := root.FindEntry(dir); err == nil && e.Mode == filemode.Symlink {
		return fmt.Errorf("path %q is a symbolic link in the repository, which sailplan does not follow: give the path of the directory it points to", dir)
	}
	return fmt.Errorf("path %q %w", dir, ErrNoPath)
}

// ErrNoPath is an intent path that a commit does not have, such as the
// commit before the intents were added.
var ErrNoPath = errors.New("does not exist in the repository")

// addTree hands every entry of t, at p under the intent root, to set,
// walking the directories set.Dir allows.
func addTree(ctx context.Context, set *schema.FileSet, t *object.Tree, p string) error {
	for i := range t.Entries {
		e := &t.Entries[i]
		name := path.Join(p, e.Name)
		if e.Mode == filemode.Dir || e.Mode == filemode.Submodule {
			// A submodule's commit is another repository's: it is not
			// fetched, and set.Dir refuses to walk it.
			if !set.Dir(name, e.Mode == filemode.Submodule) {
				continue
			}
			sub, err := t.Tree(e.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := addTree(ctx, set, sub, name); err != nil {
				return err
			}
			continue
		}
		if !schema.IntentFile(name) {
			continue // Add would pass it over too; this spares looking its blob up
		}
		mode, err := e.Mode.ToOSFileMode()
		if err != nil {
			mode = fs.ModeIrregular // a mode Git does not write
		}
		f, err := t.TreeEntryFile(e)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		err = set.Add(ctx, name, mode, f.Size, func() ([]byte, error) {
			r, err := f.Reader()
			if err != nil {
				return nil, err
			}
			defer r.Close()
			return io.ReadAll(r)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RedactURL drops credentials from a URL before it reaches a log or error.
func RedactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}
