package source

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// TestCLIAndDaemonReadTheSameFiles: `sailplan validate` on a checkout
// (schema.ReadDir) and the daemon on the commit (GitSource.Fetch) give the
// same verdict on a tree of links: the same error lines while there are
// links among the intent files or a file is too large, then the same files
// once they are gone, with a directory link, a link that is not an intent
// file and a submodule left in place and read by neither.
func TestCLIAndDaemonReadTheSameFiles(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "links")
	outside := t.TempDir() // outside the repository
	if err := os.WriteFile(filepath.Join(outside, "ext.cue"), []byte("package intents\nservices: ext: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prod := filepath.Join(repo.Dir, "prod")
	if err := os.MkdirAll(filepath.Join(prod, "team"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"prod/ext.cue":        filepath.Join(outside, "ext.cue"), // a CUE file outside the repository
		"prod/shared.cue":     "../shared/common.cue",            // inside the repository, outside the intent root
		"prod/passwd.cue":     "/etc/passwd",
		"prod/team/again.cue": "../a.cue", // inside the intent root
		"prod/outside":        outside,    // a directory: not walked
		"prod/more":           "team",     // a directory inside the root: not walked either
		"prod/README.md":      "/etc/passwd",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(repo.Dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	// A repository of its own inside the intent root: committed as a
	// submodule (a gitlink), its files are in the checkout but never in
	// what the daemon fetches.
	vendored := filepath.Join(prod, "vendored")
	if err := os.MkdirAll(vendored, 0o755); err != nil {
		t.Fatal(err)
	}
	fixture.GitIn(t, vendored, "init", "-q")
	if err := os.WriteFile(filepath.Join(vendored, "v.cue"), []byte("package intents\nservices: vendored: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.GitIn(t, vendored, "add", "v.cue")
	fixture.GitIn(t, vendored, "commit", "-q", "-m", "vendored")

	good := map[string]string{
		"prod/a.cue":         "package intents\nfleet: clusters: c1: {}\n",
		"prod/team/b.cue":    "package intents\n",
		"shared/common.cue":  "package intents\n",
		"prod/.hidden/h.cue": "ignored",
	}
	all := map[string]string{"prod/big.cue": "//" + strings.Repeat("x", schema.MaxFileSize) + "\n"}
	for p, c := range good {
		all[p] = c
	}
	bad := repo.Commit(t, all, "links")
	if mode := fixture.GitIn(t, repo.Dir, "ls-tree", "HEAD", "prod/vendored"); !strings.HasPrefix(mode, "160000 commit") {
		t.Fatalf("prod/vendored committed as %q, want a gitlink", mode)
	}

	cli, cliErr := schema.ReadDir(ctx, prod)
	rev, daemonErr := (&GitSource{URL: repo.URL(), Commit: bad, Path: "prod"}).Fetch(ctx)
	// The daemon's revision comes back with the errors, for the rejection
	// to name the commit, but with no files.
	if cli != nil || rev != nil && rev.Files != nil {
		var daemon schema.Files
		if rev != nil {
			daemon = rev.Files
		}
		t.Fatalf("read files with links: validate %v, daemon %v; want neither", slices.Sorted(maps.Keys(cli)), slices.Sorted(maps.Keys(daemon)))
	}
	hint := " (hint: validate and the daemon read regular files only, in a working tree as in Git, and nothing outside the intent directory: replace the link with a copy of the file)"
	want := []string{
		"big.cue: 1048579 bytes, more than the 1 MiB allowed per intent file (hint: split it into smaller files; generated or vendored data does not belong in the intent directory)",
		"ext.cue: symbolic link to " + filepath.Join(outside, "ext.cue") + ", which sailplan does not follow" + hint,
		"passwd.cue: symbolic link to /etc/passwd, which sailplan does not follow" + hint,
		"shared.cue: symbolic link to ../shared/common.cue, which sailplan does not follow" + hint,
		"team/again.cue: symbolic link to ../a.cue, which sailplan does not follow" + hint,
	}
	if diff := cmp.Diff(want, lines(t, cliErr)); diff != "" {
		t.Errorf("validate's errors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, lines(t, daemonErr)); diff != "" {
		t.Errorf("the daemon's errors (-want +got):\n%s", diff)
	}
	if prefix := "git " + repo.URL() + ": commit " + Short(bad) + ": 5 errors in intents:\n  big.cue: "; !strings.HasPrefix(daemonErr.Error(), prefix) {
		t.Errorf("the daemon's error starts %q, want %q", daemonErr.Error()[:min(len(prefix), len(daemonErr.Error()))], prefix)
	}

	// Without the links to intent files and the large file, both read the
	// same files: nothing behind a directory link, a hidden directory or
	// the submodule.
	fixed := map[string]string{"prod/big.cue": ""}
	for _, p := range []string{"prod/ext.cue", "prod/shared.cue", "prod/passwd.cue", "prod/team/again.cue"} {
		fixed[p] = "" // Commit deletes them
	}
	head := repo.Commit(t, fixed, "no links")
	cli, err := schema.ReadDir(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	rev, err = (&GitSource{URL: repo.URL(), Path: "prod"}).Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Commit != head {
		t.Fatalf("fetched %s, want %s", rev.Commit, head)
	}
	wantFiles := schema.Files{"a.cue": []byte(good["prod/a.cue"]), "team/b.cue": []byte(good["prod/team/b.cue"])}
	if diff := cmp.Diff(wantFiles, cli); diff != "" {
		t.Errorf("validate's files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFiles, rev.Files); diff != "" {
		t.Errorf("the daemon's files (-want +got):\n%s", diff)
	}
}

// TestGitSourceLinkedPath: an intent path that is a link in the commit is
// not followed, and the error says so rather than that it is missing.
func TestGitSourceLinkedPath(t *testing.T) {
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "linked-path")
	if err := os.Symlink("intents", filepath.Join(repo.Dir, "prod")); err != nil {
		t.Fatal(err)
	}
	repo.Commit(t, map[string]string{"intents/a.cue": "package intents\n"}, "linked")
	for path, want := range map[string]string{
		"prod":    `path "prod" is a symbolic link in the repository, which sailplan does not follow: give the path of the directory it points to`,
		"staging": `path "staging" does not exist in the repository`,
	} {
		_, err := (&GitSource{URL: repo.URL(), Path: path}).Fetch(t.Context())
		if err == nil || !strings.HasSuffix(err.Error(), ": "+want) {
			t.Errorf("Fetch of path %s = %v, want ...: %s", path, err, want)
		}
	}
}

// lines is err's lines, which must be schema.Errors, as the daemon's
// rejection and validate's output list them.
func lines(t *testing.T, err error) []string {
	t.Helper()
	var es schema.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T), want schema.Errors", err, err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}
