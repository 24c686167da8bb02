package sync

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

// gitIn runs git in a test repository's working clone, as testenv's
// fixed author.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME="+testenv.GitAuthorName, "GIT_AUTHOR_EMAIL="+testenv.GitAuthorEmail,
		"GIT_COMMITTER_NAME="+testenv.GitAuthorName, "GIT_COMMITTER_EMAIL="+testenv.GitAuthorEmail,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitTraffic is a reverse proxy in front of a real Git server that counts
// what clients ask for: ref advertisements (GET .../info/refs) and object
// fetches (POST .../git-upload-pack).
type gitTraffic struct {
	srv *httptest.Server

	mu                    gosync.Mutex
	advertisements, packs int
}

func newGitTraffic(t *testing.T, target string) *gitTraffic {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gitTraffic{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs"):
			g.advertisements++
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			g.packs++
		}
		g.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// url is repo's URL through the proxy.
func (g *gitTraffic) url(repo *testenv.Repo) string { return g.srv.URL + "/" + repo.Name + ".git" }

func (g *gitTraffic) counts() (advertisements, packs int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.advertisements, g.packs
}

// TestGitSourceRefs follows a branch, a lightweight and an annotated tag
// and a pinned commit of a real repository served over HTTP, each reading
// the intents under a path at the right commit.
func TestGitSourceRefs(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "refs")
	first := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n// first\n", "README.md": "not an intent"}, "first")
	gitIn(t, repo.Dir, "tag", "light")
	gitIn(t, repo.Dir, "tag", "-a", "-m", "release v1", "v1")
	gitIn(t, repo.Dir, "push", "-q", "origin", "refs/tags/light", "refs/tags/v1")
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
			if diff := cmp.Diff(want, rev); diff != "" {
				t.Errorf("Fetch (-want +got):\n%s", diff)
			}
		})
	}

	// A moved tag is followed.
	gitIn(t, repo.Dir, "tag", "-f", "-a", "-m", "release v1 again", "v1", second)
	gitIn(t, repo.Dir, "push", "-q", "-f", "origin", "refs/tags/v1")
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
	traffic := newGitTraffic(t, srv.URL())
	src := &GitSource{URL: traffic.url(repo)}
	for range 5 {
		got, err := src.Head(ctx)
		if err != nil || got != head {
			t.Fatalf("Head = %s, %v; want %s", got, err, head)
		}
	}
	if adv, packs := traffic.counts(); adv != 5 || packs != 0 {
		t.Errorf("after 5 Heads: %d advertisements and %d pack requests, want 5 and 0", adv, packs)
	}
	if _, err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, packs := traffic.counts(); packs != 1 {
		t.Errorf("after Fetch: %d pack requests, want 1", packs)
	}
}

func TestGitSourceHTTPAuth(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "private")
	head := repo.Commit(t, map[string]string{"a.cue": "package intents\n"}, "first")
	const token = "tok-3f9a"
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A server that wants a token as the password, like GitHub or GitLab.
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(guarded.Close)
	u := guarded.URL + "/" + repo.Name + ".git"

	anon := &GitSource{URL: u}
	if _, err := anon.Head(ctx); err == nil {
		t.Fatal("Head without credentials succeeded")
	}
	wrong := &GitSource{URL: u, Auth: HTTPAuth("", "wrong-secret")}
	_, err = wrong.Head(ctx)
	if err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("Head with a wrong token: %v (must fail and not show the token)", err)
	}
	src := &GitSource{URL: u, Auth: HTTPAuth("", token)}
	if got, err := src.Head(ctx); err != nil || got != head {
		t.Fatalf("Head = %s, %v; want %s", got, err, head)
	}
	if _, err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if HTTPAuth("someone", "") != nil {
		t.Error("HTTPAuth without a password is not anonymous")
	}
}

// TestGitSourceSSH fetches over a real SSH server, and refuses a server
// whose host key is unknown or different from the recorded one, naming the
// host.
func TestGitSourceSSH(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "overssh")
	head := repo.Commit(t, map[string]string{"prod/a.cue": "package intents\n"}, "first")
	sshd := testenv.NewSSHGitServer(t, srv)
	dir := t.TempDir()
	writeFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	known := writeFile("known_hosts", sshd.KnownHostsLine()+"\n")
	auth, err := SSHAuth(sshd.URL(repo), sshd.ClientKeyPEM(), nil, known)
	if err != nil {
		t.Fatal(err)
	}
	src := &GitSource{URL: sshd.URL(repo), Path: "prod", Auth: auth}
	if got, err := src.Head(ctx); err != nil || got != head {
		t.Fatalf("Head = %s, %v; want %s", got, err, head)
	}
	rev, err := src.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schema.Files{"a.cue": []byte("package intents\n")}, rev.Files); diff != "" {
		t.Errorf("files over SSH (-want +got):\n%s", diff)
	}

	// Another server's key recorded for this host: a mismatch.
	other := testenv.NewSSHGitServer(t, srv)
	mismatch := writeFile("mismatch", strings.Replace(other.KnownHostsLine(), "[127.0.0.1]:"+port(other.Addr()), "[127.0.0.1]:"+port(sshd.Addr()), 1)+"\n")
	for _, tc := range []struct{ name, file, want string }{
		{"unknown host", writeFile("empty", ""), "host " + sshd.Addr() + ": unknown host key ssh-ed25519"},
		{"other host only", writeFile("other", other.KnownHostsLine()+"\n"), "host " + sshd.Addr() + ": unknown host key ssh-ed25519"},
		{"mismatching key", mismatch, "host " + sshd.Addr() + ": host key mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := SSHAuth(sshd.URL(repo), sshd.ClientKeyPEM(), nil, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			src := &GitSource{URL: sshd.URL(repo), Auth: auth}
			_, err = src.Head(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Head error = %v, want one with %q", err, tc.want)
			}
			if _, err := src.Fetch(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fetch error = %v, want one with %q", err, tc.want)
			}
		})
	}

	t.Run("unknown client key", func(t *testing.T) {
		stranger := testenv.NewSSHGitServer(t, srv) // only for a key the first server does not accept
		auth, err := SSHAuth(sshd.URL(repo), stranger.ClientKeyPEM(), nil, known)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&GitSource{URL: sshd.URL(repo), Auth: auth}).Head(ctx); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("Head error = %v, want an authentication failure", err)
		}
	})

	for _, tc := range []struct{ url, known, want string }{
		{sshd.URL(repo), "", "SSH needs a known_hosts file"},
		{repo.URL(), known, "an SSH key needs an ssh:// or user@host:path URL"},
		{sshd.URL(repo), filepath.Join(dir, "absent"), "known_hosts " + filepath.Join(dir, "absent")},
	} {
		if _, err := SSHAuth(tc.url, sshd.ClientKeyPEM(), nil, tc.known); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SSHAuth(%s, %q) = %v, want %q", tc.url, tc.known, err, tc.want)
		}
	}
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// newKey makes an OpenPGP key and returns it with its armored public key.
func newKey(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(name)+"@sailplan.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return e, buf.String()
}

// signedCommit writes files in repo's working clone, commits them with
// go-git signed by key (unsigned when key is nil) and pushes the commit to
// the server's repository.
func signedCommit(t *testing.T, repo *testenv.Repo, key *openpgp.Entity, files map[string]string, msg string) string {
	t.Helper()
	r, err := git.PlainOpen(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(repo.Dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: testenv.GitAuthorName, Email: testenv.GitAuthorEmail, When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo.Dir, "push", "-q", "origin", "HEAD:refs/heads/main")
	return h.String()
}

// TestGitSourceVerify applies only commits signed by a trusted key; an
// unsigned head and a head signed by a key that is not trusted are
// refused with a permanent error that says why, and a refused head is not
// fetched again.
func TestGitSourceVerify(t *testing.T) {
	ctx := t.Context()
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "signed")
	trusted, trustedPub := newKey(t, "Trusted")
	stranger, _ := newKey(t, "Stranger")
	_, otherPub := newKey(t, "Other")
	traffic := newGitTraffic(t, srv.URL())
	src := &GitSource{URL: traffic.url(repo), VerifyKeys: otherPub + "\n" + trustedPub}
	if err := src.Validate(); err != nil {
		t.Fatal(err)
	}

	good := signedCommit(t, repo, trusted, map[string]string{"a.cue": "package intents\n"}, "signed")
	rev, err := src.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0x" + strings.ToUpper(trusted.PrimaryKey.KeyIdString()) + " Trusted <trusted@sailplan.invalid>"; rev.Commit != good || rev.Signer != want {
		t.Errorf("Fetch = commit %s signer %q, want %s %q", rev.Commit, rev.Signer, good, want)
	}

	for _, tc := range []struct {
		name   string
		commit func() string
		want   string
	}{
		{"unsigned", func() string {
			return repo.Commit(t, map[string]string{"a.cue": "package intents\n// unsigned\n"}, "unsigned")
		}, "not signed"},
		{"unknown key", func() string {
			return signedCommit(t, repo, stranger, map[string]string{"a.cue": "package intents\n// stranger\n"}, "stranger")
		}, "signed by unknown key 0x" + strings.ToUpper(stranger.PrimaryKey.KeyIdString())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := tc.commit()
			want := "git " + traffic.url(repo) + ": commit " + head[:7] + ": " + tc.want
			_, err := src.Fetch(ctx)
			if err == nil || err.Error() != want {
				t.Fatalf("Fetch error = %v, want %q", err, want)
			}
			if !isPermanent(err) {
				t.Errorf("Fetch error %v is not permanent", err)
			}
			_, packs := traffic.counts()
			_, err = src.Head(ctx)
			if err == nil || err.Error() != want || !isPermanent(err) {
				t.Errorf("Head of the refused commit: %v, want the permanent %q", err, want)
			}
			if _, after := traffic.counts(); after != packs {
				t.Errorf("Head of a refused commit fetched objects (%d pack requests, had %d)", after, packs)
			}
		})
	}

	// A signed commit after the refused ones is applied again.
	fixed := signedCommit(t, repo, trusted, map[string]string{"a.cue": "package intents\n// fixed\n"}, "fixed")
	if head, err := src.Head(ctx); err != nil || head != fixed {
		t.Fatalf("Head = %s, %v; want %s", head, err, fixed)
	}
	if rev, err := src.Fetch(ctx); err != nil || rev.Commit != fixed {
		t.Fatalf("Fetch = %v, %v; want %s", rev, err, fixed)
	}
}
