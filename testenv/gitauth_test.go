package testenv_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

// pushTo clones url and pushes a new commit on top of main to branch.
func pushTo(t *testing.T, url string, auth transport.AuthMethod, branch string) error {
	t.Helper()
	r, err := git.CloneContext(t.Context(), memory.NewStorage(), nil, &git.CloneOptions{URL: url, Auth: auth})
	if err != nil {
		return err
	}
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@sailplan.invalid", When: time.Now()}
	parent, err := r.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: "to " + branch, TreeHash: parent.TreeHash, ParentHashes: []plumbing.Hash{parent.Hash}}
	obj := r.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := r.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return r.PushContext(t.Context(), &git.PushOptions{Auth: auth, RefSpecs: []config.RefSpec{config.RefSpec(h.String() + ":refs/heads/" + branch)}})
}

// TestGitServerWrites: with credentials required, the HTTP server refuses
// anonymous clients and takes pushes with them; the SSH server takes
// pushes too; a pre-receive hook refuses pushes over either, as branch
// protection does.
func TestGitServerWrites(t *testing.T) {
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	srv.RequireAuth("sailplan", "s3cret")
	if err := pushTo(t, repo.URL(), nil, "main"); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("anonymous: %v, want authentication required", err)
	}
	if err := pushTo(t, repo.URL(), &githttp.BasicAuth{Username: "sailplan", Password: "wrong"}, "main"); err == nil {
		t.Error("a wrong password pushed")
	}
	creds := &githttp.BasicAuth{Username: "sailplan", Password: "s3cret"}
	if err := pushTo(t, repo.URL(), creds, "main"); err != nil {
		t.Fatalf("push over HTTP with credentials: %v", err)
	}
	if got := repo.Git(t, "log", "-1", "--format=%s", "main"); got != "to main" {
		t.Errorf("main after the HTTP push: %q", got)
	}

	sshd := testenv.NewSSHGitServer(t, srv)
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(sshd.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := source.SSHAuth(sshd.URL(repo), sshd.ClientKeyPEM(), nil, known)
	if err != nil {
		t.Fatal(err)
	}
	if err := pushTo(t, sshd.URL(repo), auth, "over-ssh"); err != nil {
		t.Fatalf("push over SSH: %v", err)
	}
	if got := repo.Git(t, "log", "-1", "--format=%s", "over-ssh"); got != "to over-ssh" {
		t.Errorf("branch over-ssh after the SSH push: %q", got)
	}

	repo.Hook(t, "pre-receive", "#!/bin/sh\nwhile read old new ref; do\n  [ \"$ref\" = refs/heads/main ] && { echo 'main is protected' >&2; exit 1; }\ndone\nexit 0\n")
	for name, push := range map[string]func() error{
		"HTTP": func() error { return pushTo(t, repo.URL(), creds, "main") },
		"SSH":  func() error { return pushTo(t, sshd.URL(repo), auth, "main") },
	} {
		if err := push(); err == nil || !strings.Contains(err.Error(), "pre-receive hook declined") {
			t.Errorf("push to main over %s with the hook: %v, want declined", name, err)
		}
	}
	if err := pushTo(t, repo.URL(), creds, "review"); err != nil {
		t.Errorf("push to another branch with the hook: %v", err)
	}
}
