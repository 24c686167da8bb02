package source

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// TestHistoryRevisions resolves the revisions a CI job names (branches,
// origin/main, tags, HEAD~1, hashes and their prefixes) in a clone on
// disk, in a Git worktree of it and in the same repository fetched over
// HTTP, and reads the intents of each under a path.
func TestHistoryRevisions(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "history")
	first := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n// first\n"}, "first")
	fixture.GitIn(t, repo.Dir, "tag", "-a", "-m", "release v1", "v1")
	fixture.GitIn(t, repo.Dir, "push", "-q", "origin", "refs/tags/v1")
	second := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n// second\n"}, "second")
	fixture.GitIn(t, repo.Dir, "branch", "feature", first)
	fixture.GitIn(t, repo.Dir, "push", "-q", "origin", "feature")
	worktree := filepath.Join(t.TempDir(), "wt")
	fixture.GitIn(t, repo.Dir, "worktree", "add", "-q", worktree, "feature")

	for _, where := range []struct{ name, location string }{
		{"clone", repo.Dir},
		{"subdirectory of the clone", filepath.Join(repo.Dir, "prod")},
		{"worktree", worktree},
		{"URL", repo.URL()},
	} {
		h, err := OpenHistory(ctx, where.location, nil)
		if err != nil {
			t.Fatalf("%s: %v", where.name, err)
		}
		for rev, want := range map[string]string{
			"main": second, "origin/main": second, "feature": first, "v1": first,
			"main~1": first, "main^": first, second[:9]: second, first: first,
		} {
			r, err := h.Read(ctx, rev, "prod")
			if err != nil {
				t.Errorf("%s: Read(%s): %v", where.name, rev, err)
				continue
			}
			word := "first"
			if want == second {
				word = "second"
			}
			if r.Commit != want || r.Message != word || string(r.Files["a.cue"]) != "package intents\n// "+word+"\n" {
				t.Errorf("%s: Read(%s) = commit %s %q, a.cue %q; want %s %q", where.name, rev, r.Short(), r.Message, r.Files["a.cue"], Short(want), word)
			}
		}
		head := second
		if where.name == "worktree" {
			head = first // a worktree's HEAD is its own branch
		}
		if r, err := h.Read(ctx, "HEAD", "prod"); err != nil || r.Commit != head {
			t.Errorf("%s: Read(HEAD) = %v, %v; want %s", where.name, r, err, Short(head))
		}
	}
}

// TestHistoryErrors: a revision that is not there names it, and a shallow
// clone says so; a path the commit does not have wraps ErrNoPath.
func TestHistoryErrors(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "errors")
	repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n"}, "second")

	h, err := OpenHistory(ctx, repo.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(ctx, "HEAD~1", "prod"); !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), `path "prod" does not exist in the repository`) {
		t.Errorf("Read of a commit without the path: %v; want ErrNoPath", err)
	}
	_, err = h.Read(ctx, "nope", "")
	if err == nil || !strings.HasPrefix(err.Error(), "git "+repo.Dir+`: revision "nope": reference not found`) || strings.Contains(err.Error(), "shallow") {
		t.Errorf("Read of a missing revision: %v", err)
	}

	shallow := filepath.Join(t.TempDir(), "shallow")
	fixture.GitIn(t, repo.Dir, "clone", "-q", "--depth", "1", "file://"+repo.Bare, shallow)
	h, err = OpenHistory(ctx, shallow, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(ctx, "HEAD", "prod"); err != nil {
		t.Errorf("Read(HEAD) of a shallow clone: %v", err)
	}
	if _, err := h.Read(ctx, "HEAD~1", "prod"); err == nil || !strings.Contains(err.Error(), "the clone is shallow; fetch the history") {
		t.Errorf("Read(HEAD~1) of a shallow clone: %v; want the hint", err)
	}

	if _, err := OpenHistory(ctx, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "repository does not exist") {
		t.Errorf("OpenHistory of a directory outside Git: %v", err)
	}
	if _, err := OpenHistory(ctx, "http://user:s3cret@127.0.0.1:1/nope.git", nil); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "git http://***@127.0.0.1:1/nope.git: fetching") {
		t.Errorf("OpenHistory of a server that does not answer: %v", err)
	}
}

// TestHistoryConcurrentReads: diff reads its two revisions at once; in a
// clone whose commits are packed (after git gc), go-git alone sometimes
// failed to resolve one of them.
func TestHistoryConcurrentReads(t *testing.T) {
	ctx := t.Context()
	repo := testenv.NewGitServer(t).NewRepo(t, "packed")
	var commits []string
	for i := range 8 {
		commits = append(commits, repo.Commit(t, map[string]string{"a.cue": fmt.Sprintf("package intents\n// %d\n", i)}, fmt.Sprint(i)))
	}
	fixture.GitIn(t, repo.Dir, "gc", "-q")
	for round := range 20 {
		h, err := OpenHistory(ctx, repo.Dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		var g errgroup.Group
		for i, c := range commits {
			g.Go(func() error {
				r, err := h.Read(ctx, c[:7], "")
				if err != nil {
					return err
				}
				if want := fmt.Sprintf("package intents\n// %d\n", i); string(r.Files["a.cue"]) != want {
					return fmt.Errorf("Read(%s): a.cue %q, want %q", c[:7], r.Files["a.cue"], want)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
