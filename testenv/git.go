package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitServer serves bare repositories over smart HTTP with the real
// `git http-backend`, on a loopback address that stays the same across
// Stop and Start so that tests can take the server down and bring it back.
type GitServer struct {
	root    string // GIT_PROJECT_ROOT: one bare repository per NewRepo
	addr    string
	handler http.Handler

	mu  sync.Mutex
	srv *http.Server
	// user and password, when set, are the only credentials accepted
	// (see RequireAuth).
	user, password string
}

// Repo is a bare repository on a GitServer plus a working clone that Commit
// writes into and pushes from.
type Repo struct {
	// Name is the repository's name; its URL path is "/" + Name + ".git".
	Name string
	// Bare is the bare repository's directory on disk.
	Bare string
	// Dir is the working clone.
	Dir string

	server *GitServer
}

// Commit author and committer, fixed so that tests can assert on them.
const (
	GitAuthorName  = "Sailplan Test"
	GitAuthorEmail = "test@sailplan.invalid"
	gitBranch      = "main"
)

// NewGitServer starts a Git server that serves (and accepts pushes to) the
// repositories made with NewRepo. It is closed when the test ends.
func NewGitServer(t testing.TB) *GitServer {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git server: git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git server: %v", err)
	}
	s := &GitServer{root: t.TempDir()}
	s.handler = &cgi.Handler{
		Path: backend,
		Dir:  s.root,
		Env: append(gitEnv(),
			"GIT_PROJECT_ROOT="+s.root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("git server: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Close)
	return s
}

func (s *GitServer) serve(ln net.Listener) {
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) // returns http.ErrServerClosed on Stop
}

// URL returns the server's base URL, e.g. "http://127.0.0.1:41234".
func (s *GitServer) URL() string {
	return "http://" + s.addr
}

// Stop takes the server down: the port refuses connections and open
// connections are closed. The repositories are kept for Start.
func (s *GitServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Close stops the server for good; NewGitServer arranges it at test end.
func (s *GitServer) Close() { s.Stop() }

// Start serves again on the same address after Stop.
func (s *GitServer) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", s.addr)
	if err != nil {
		t.Fatalf("git server: restart on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// NewRepo creates an empty bare repository name (default branch "main") and a
// working clone of it.
func (s *GitServer) NewRepo(t testing.TB, name string) *Repo {
	t.Helper()
	r := &Repo{Name: name, Bare: filepath.Join(s.root, name+".git"), Dir: filepath.Join(t.TempDir(), name), server: s}
	ctx := t.Context()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", gitBranch, r.Bare},
		// Lets tests push over HTTP too; http-backend refuses anonymous pushes otherwise.
		{"-C", r.Bare, "config", "http.receivepack", "true"},
		// Init plus remote rather than clone: cloning an empty repository leaves the branch name to git's defaults.
		{"init", "-q", "-b", gitBranch, r.Dir},
		{"-C", r.Dir, "remote", "add", "origin", r.Bare},
	} {
		if _, err := runGit(ctx, "", args...); err != nil {
			t.Fatalf("git repo %s: %v", name, err)
		}
	}
	return r
}

// URL returns the repository's clone URL on the server.
func (r *Repo) URL() string {
	return r.server.URL() + "/" + r.Name + ".git"
}

// Commit writes files (path relative to the repository root -> content; an
// empty content deletes the file), commits them on main as GitAuthorName
// and pushes to the bare repository directly, so it works while the server
// is stopped. It returns the new commit's hash.
func (r *Repo) Commit(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	for path, content := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(path))
		if content == "" {
			if err := os.Remove(full); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("git repo %s: %v", r.Name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatalf("git repo %s: %v", r.Name, err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatalf("git repo %s: %v", r.Name, err)
		}
	}
	ctx := t.Context()
	for _, args := range [][]string{
		{"add", "-A"},
		{"commit", "-q", "--allow-empty", "-m", msg},
		{"push", "-q", "origin", "HEAD:refs/heads/" + gitBranch},
	} {
		if _, err := runGit(ctx, r.Dir, args...); err != nil {
			t.Fatalf("git repo %s: %v", r.Name, err)
		}
	}
	sha, err := runGit(ctx, r.Dir, "rev-parse", "HEAD")
	if err != nil {
		t.Fatalf("git repo %s: %v", r.Name, err)
	}
	return sha
}

// gitEnv isolates git from the machine's and user's configuration and fixes
// the identity, so that commits do not depend on who runs the tests.
func gitEnv() []string {
	return []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=" + GitAuthorName,
		"GIT_AUTHOR_EMAIL=" + GitAuthorEmail,
		"GIT_COMMITTER_NAME=" + GitAuthorName,
		"GIT_COMMITTER_EMAIL=" + GitAuthorEmail,
	}
}

func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
