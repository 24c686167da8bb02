package testenv_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/sailplan/sailplan/testenv"
)

// The Git server needs no cluster, so this test also runs with -short.
func TestGitServer(t *testing.T) {
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "config")
	first := repo.Commit(t, map[string]string{"routes/vs.yaml": "kind: VirtualService\n", "README": "hi\n"}, "first")
	second := repo.Commit(t, map[string]string{"README": ""}, "drop readme")
	if first == second || len(second) != 40 {
		t.Fatalf("commits %q, %q: want two distinct hashes", first, second)
	}

	clone := func() (*git.Repository, error) {
		return git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: repo.URL()})
	}
	r, err := clone()
	if err != nil {
		t.Fatalf("clone %s: %v", repo.URL(), err)
	}
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	if head.Hash().String() != second || head.Name() != plumbing.NewBranchReferenceName("main") {
		t.Errorf("HEAD %s %s, want refs/heads/main %s", head.Name(), head.Hash(), second)
	}
	commit, err := r.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if commit.Author.Name != testenv.GitAuthorName || commit.Message != "drop readme\n" {
		t.Errorf("commit by %q with %q", commit.Author.Name, commit.Message)
	}
	f, err := commit.File("routes/vs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := f.Reader()
	if err != nil {
		t.Fatal(err)
	}
	content, _ := io.ReadAll(rd)
	if string(content) != "kind: VirtualService\n" {
		t.Errorf("routes/vs.yaml = %q", content)
	}
	if _, err := commit.File("README"); err == nil {
		t.Errorf("README still in the tree after deleting it")
	}

	url := srv.URL()
	srv.Stop()
	if _, err := clone(); err == nil {
		t.Fatal("clone succeeded while the server was stopped")
	}
	third := repo.Commit(t, map[string]string{"routes/dr.yaml": "kind: DestinationRule\n"}, "while down")
	srv.Start(t)
	if srv.URL() != url {
		t.Errorf("URL after restart %s, want %s", srv.URL(), url)
	}
	r, err = clone()
	if err != nil {
		t.Fatalf("clone after restart: %v", err)
	}
	if head, err := r.Head(); err != nil || head.Hash().String() != third {
		t.Errorf("HEAD after restart: %v %v, want %s", head, err, third)
	}

	// Pushing over HTTP works too, for tests of code that writes back.
	dir := t.TempDir()
	local, err := git.PlainClone(dir, false, &git.CloneOptions{URL: repo.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pushed"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := local.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("pushed"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "pusher", Email: "pusher@sailplan.invalid", When: time.Now()}
	pushed, err := wt.Commit("pushed over http", &git.CommitOptions{Author: sig})
	if err != nil {
		t.Fatal(err)
	}
	if err := local.PushContext(t.Context(), &git.PushOptions{}); err != nil {
		t.Fatalf("push over HTTP: %v", err)
	}
	r, err = clone()
	if err != nil {
		t.Fatal(err)
	}
	if head, err := r.Head(); err != nil || head.Hash() != pushed {
		t.Errorf("HEAD after push: %v %v, want %s", head, err, pushed)
	}
}
