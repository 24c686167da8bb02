package source

import (
	"errors"
	"strings"
	"testing"

	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// TestGitSourceVerify applies only commits signed by a trusted key; an
// unsigned head and a head signed by a key that is not trusted are
// refused with a RefusedError that says why, and a refused head is not
// fetched again.
func TestGitSourceVerify(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "signed")
	trusted, trustedPub := fixture.NewKey(t, "Trusted")
	stranger, _ := fixture.NewKey(t, "Stranger")
	_, otherPub := fixture.NewKey(t, "Other")
	traffic := fixture.NewGitTraffic(t, srv.URL())
	src := &GitSource{URL: traffic.URL(repo), VerifyKeys: otherPub + "\n" + trustedPub}
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}

	good := fixture.SignedCommit(t, repo, trusted, map[string]string{"a.cue": "package intents\n"}, "signed")
	rev, err := src.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0x" + strings.ToUpper(trusted.PrimaryKey.KeyIdString()) + " Trusted <trusted@sailplan.invalid>"; rev.Commit != good || rev.Signer != want {
		t.Errorf("Fetch = commit %s signer %q, want %s %q", rev.Commit, rev.Signer, good, want)
	}

	for _, tc := range []struct {
		name, message string
		commit        func() string
		want          string
	}{
		{"unsigned", "unsigned", func() string {
			return repo.Commit(t, map[string]string{"a.cue": "package intents\n// unsigned\n"}, "unsigned")
		}, "not signed"},
		{"unknown key", "stranger", func() string {
			return fixture.SignedCommit(t, repo, stranger, map[string]string{"a.cue": "package intents\n// stranger\n"}, "stranger")
		}, "signed by unknown key 0x" + strings.ToUpper(stranger.PrimaryKey.KeyIdString())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := tc.commit()
			want := "git " + traffic.URL(repo) + ": commit " + head[:7] + ": " + tc.want
			_, err := src.Fetch(ctx)
			if err == nil || err.Error() != want {
				t.Fatalf("Fetch error = %v, want %q", err, want)
			}
			var refused *RefusedError
			if !errors.As(err, &refused) || refused.Commit != head {
				t.Errorf("Fetch error %v is not a RefusedError of %s", err, head)
			}
			if refused.Author != testenv.GitAuthorName || refused.Message != tc.message {
				t.Errorf("RefusedError says the commit is by %q with message %q", refused.Author, refused.Message)
			}
		})
	}

	// A signed commit after the refused ones is applied again.
	fixed := fixture.SignedCommit(t, repo, trusted, map[string]string{"a.cue": "package intents\n// fixed\n"}, "fixed")
	if head, err := src.Head(ctx); err != nil || head != fixed {
		t.Fatalf("Head = %s, %v; want %s", head, err, fixed)
	}
	if rev, err := src.Fetch(ctx); err != nil || rev.Commit != fixed {
		t.Fatalf("Fetch = %v, %v; want %s", rev, err, fixed)
	}
}
