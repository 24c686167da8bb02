package source

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// TestGitSourceRefs follows a branch, a lightweight and an annotated tag
// and a pinned commit of a real repository served over HTTP, each reading
// the intents under a path at the right commit.
func TestGitSourceRefs(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "refs")
	first := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n// first\n", "README.md": "not an intent"}, "first")
	fixture.GitIn(t, repo.Dir, "tag", "light")
	fixture.GitIn(t, repo.Dir, "tag", "-a", "-m", "release v1", "v1")
	fixture.GitIn(t, repo.Dir, "push", "-q", "origin", "refs/tags/light", "refs/tags/v1")
	second := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n// second\n"}, "second")

	for _, tc := range []struct {
		name  string
		src   *GitSource
		want  string
		files string
	}{
		{"branch", &GitSource{Branch: "main"}, second, "second"},
		{"default branch", &GitSource{}, second, "second"},
		{"lightweight tag", &GitSource{Tag: "light"}, first, "first"},
		{"annotated tag", &GitSource{Tag: "v1"}, first, "first"},
		{"pinned commit", &GitSource{Commit: first}, first, "first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			src.URL, src.Path = repo.URL(), "prod"
			if err := src.Validate(); err != nil {
				t.Fatal(err)
			}
			head, err := src.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head != tc.want {
				t.Errorf("Head = %s, want %s", head, tc.want)
			}
			rev, err := src.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := &Revision{
				Commit: tc.want, Author: testenv.GitAuthorName, Message: tc.files,
				Files: schema.Files{"a.cue": []byte("package intents\n// " + tc.files + "\n")},
			}
			if diff := cmp.Diff(want, rev, cmpopts.IgnoreFields(Revision{}, "Time")); diff != "" {
				t.Errorf("Fetch (-want +got):\n%s", diff)
			}
			if age := time.Since(rev.Time); age < 0 || age > time.Hour {
				t.Errorf("commit time %s, want the commit's, a moment ago", rev.Time)
			}
		})
	}

	// A moved tag is followed.
	fixture.GitIn(t, repo.Dir, "tag", "-f", "-a", "-m", "release v1 again", "v1", second)
	fixture.GitIn(t, repo.Dir, "push", "-q", "-f", "origin", "refs/tags/v1")
	moved := &GitSource{URL: repo.URL(), Tag: "v1"}
	if head, err := moved.Head(ctx); err != nil || head != second {
		t.Errorf("Head of the moved tag = %s, %v; want %s", head, err, second)
	}
}

func TestGitSourceErrors(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "errors")
	repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	offBranch := strings.Repeat("ab", 20)

	for _, tc := range []struct {
		name string
		src  *GitSource
		head string // error of Head, "" when Head succeeds
		want string // error of Fetch
	}{
		{"missing branch", &GitSource{Branch: "nope"}, "branch nope not found", "fetching nope"},
		{"missing tag", &GitSource{Tag: "nope"}, "tag nope not found", "fetching nope"},
		{"commit not on the branch", &GitSource{Commit: offBranch}, "", "commit abababa is not on branch main"},
		{"missing path", &GitSource{Path: "prod"}, "", `path "prod" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			src.URL = "http://user:s3cret@" + strings.TrimPrefix(repo.URL(), "http://")
			_, err := src.Head(ctx)
			if (err != nil) != (tc.head != "") || err != nil && !strings.Contains(err.Error(), tc.head) {
				t.Errorf("Head error = %v, want one with %q", err, tc.head)
			}
			_, err = src.Fetch(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch error = %v, want one with %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "git http://***@127.0.0.1") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Fetch error does not start with the redacted URL: %v", err)
			}
		})
	}

	for _, tc := range []struct {
		src  *GitSource
		want string
	}{
		{&GitSource{URL: repo.URL(), Tag: "v1", Branch: "main"}, "a tag (v1) excludes a branch or a commit"},
		{&GitSource{URL: repo.URL(), Commit: "abc1234"}, "want the full 40-digit lower-case hash"},
		{&GitSource{URL: repo.URL(), VerifyKeys: "not a key"}, "verify keys: not an armored OpenPGP key ring"},
		{&GitSource{}, "git: no repository URL"},
	} {
		if err := tc.src.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(tag %q, commit %q) = %v, want %q", tc.src.Tag, tc.src.Commit, err, tc.want)
		}
	}
}

// TestGitSourceHeadFetchesNoObjects counts the requests a real Git server
// sees: asking for the head is one ref advertisement and no pack, however
// often; only Fetch transfers objects.
func TestGitSourceHeadFetchesNoObjects(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "counted")
	head := repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	traffic := fixture.NewGitTraffic(t, srv.URL())
	src := &GitSource{URL: traffic.URL(repo)}
	for range 5 {
		got, err := src.Head(ctx)
		if err != nil || got != head {
			t.Fatalf("Head = %s, %v; want %s", got, err, head)
		}
	}
	if adv, packs := traffic.Counts(); adv != 5 || packs != 0 {
		t.Errorf("after 5 Heads: %d advertisements and %d pack requests, want 5 and 0", adv, packs)
	}
	if _, err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, packs := traffic.Counts(); packs != 1 {
		t.Errorf("after Fetch: %d pack requests, want 1", packs)
	}
}
