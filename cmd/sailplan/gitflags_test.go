package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/testenv"
)

func parseGitFlags(t *testing.T, args ...string) *gitFlags {
	t.Helper()
	g := &gitFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return g
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitFlagsSource(t *testing.T) {
	t.Setenv(envToken, "")
	t.Setenv(envPassword, "")
	t.Setenv(envUsername, "")
	token := writeSecret(t, "token", "tok-123\n")
	g := parseGitFlags(t, "--repo", "https://git.example.com/mesh/intents", "--path", "prod", "--tag", "v3", "--git-token-file", token)
	src, err := g.source(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := []string{src.URL, src.Path, src.Branch, src.Tag, src.Commit}
	if diff := cmp.Diff([]string{"https://git.example.com/mesh/intents", "prod", "", "v3", ""}, got); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&githttp.BasicAuth{Username: "sailplan", Password: "tok-123"}, src.Auth); diff != "" {
		t.Errorf("auth from --git-token-file (-want +got):\n%s", diff)
	}

	t.Setenv(envToken, "tok-env")
	g = parseGitFlags(t, "--repo", "https://git.example.com/x", "--git-username", "oauth2")
	if src, err = g.source(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&githttp.BasicAuth{Username: "oauth2", Password: "tok-env"}, src.Auth); diff != "" {
		t.Errorf("auth from $%s (-want +got):\n%s", envToken, diff)
	}
}

func TestGitFlagsSSH(t *testing.T) {
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	head := repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	sshd := testenv.NewSSHGitServer(t, srv)
	key := writeSecret(t, "id_ed25519", string(sshd.ClientKeyPEM()))
	known := writeSecret(t, "known_hosts", sshd.KnownHostsLine()+"\n")
	g := parseGitFlags(t, "--repo", sshd.URL(repo), "--ssh-key-file", key, "--known-hosts-file", known)
	src, err := g.source(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := src.Head(t.Context()); err != nil || got != head {
		t.Errorf("Head over SSH = %s, %v; want %s", got, err, head)
	}
}

func TestGitFlagsRefused(t *testing.T) {
	t.Setenv(envToken, "")
	t.Setenv(envPassword, "")
	const secretText = "hunter2-secret"
	pass := writeSecret(t, "pass", secretText)
	tok := writeSecret(t, "tok", "other-"+secretText)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--repo is required"},
		{[]string{"--repo", "https://h/r", "--tag", "v1", "--branch", "main"}, "a tag (v1) excludes a branch or a commit"},
		{[]string{"--repo", "https://h/r", "--commit", "abc"}, "want the full 40-digit lower-case hash"},
		{[]string{"--repo", "https://h/r", "--git-password-file", pass, "--git-token-file", tok}, "give a password or a token, not both"},
		{[]string{"--repo", "http://git.example.com/r", "--git-password-file", pass}, "refusing to send them in clear text over http://"},
		{[]string{"--repo", "ssh://git@h/r"}, "--ssh-key-file is required"},
		{[]string{"--repo", "ssh://git@h/r", "--git-token-file", tok}, "use --ssh-key-file, not a password or token"},
		{[]string{"--repo", "https://h/r", "--git-token-file", filepath.Join(t.TempDir(), "absent")}, "--git-token-file: open"},
		{[]string{"--repo", "https://h/r", "--verify-keys-file", pass}, "verify keys: not an armored OpenPGP key ring"},
	} {
		_, err := parseGitFlags(t, tc.args...).source(t.Context())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secretText) {
			t.Errorf("%v: the error shows a secret: %v", tc.args, err)
		}
	}
}

func TestGitFlagsWebhook(t *testing.T) {
	secretFile := writeSecret(t, "hook", "s3cret\n")
	g := parseGitFlags(t, "--repo", "https://h/r", "--branch", "prod", "--webhook-provider", "gitea", "--webhook-secret-file", secretFile)
	var triggers atomic.Int64
	h, err := g.webhook(func() { triggers.Add(1) }, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	send := func(ref string) int {
		body := `{"ref":"` + ref + `"}`
		m := hmac.New(sha256.New, []byte("s3cret")) // the file's newline is not part of the secret
		m.Write([]byte(body))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("X-Gitea-Event", "push")
		req.Header.Set("X-Gitea-Delivery", ref)
		req.Header.Set("X-Gitea-Signature", hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	got := []int{send("refs/heads/main"), send("refs/heads/prod")}
	if diff := cmp.Diff([]int{http.StatusOK, http.StatusAccepted}, got); diff != "" || triggers.Load() != 1 {
		t.Errorf("statuses (-want +got):\n%s\ntriggers %d, want 1", diff, triggers.Load())
	}

	if h, err := parseGitFlags(t, "--repo", "https://h/r").webhook(func() {}, nil, nil); h != nil || err != nil {
		t.Errorf("webhook without a secret file = %v, %v; want none", h, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-secret-file", secretFile, "--webhook-provider", "bitbucket"}, `webhook provider "bitbucket"`},
		{[]string{"--webhook-secret-file", secretFile, "--commit", strings.Repeat("a", 40)}, "a pinned --commit does not follow pushes"},
		{[]string{"--webhook-secret-file", writeSecret(t, "empty", "\n")}, "the secret is empty"},
	} {
		if _, err := parseGitFlags(t, tc.args...).webhook(func() {}, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
