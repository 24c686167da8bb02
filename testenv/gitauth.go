package testenv

import (
	"crypto/subtle"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// RequireAuth makes the server take only requests with HTTP basic
// authentication as user and password, fetches and pushes alike, as a
// hosted Git server does with a token; others get 401.
func (s *GitServer) RequireAuth(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.password = user, password
}

func (s *GitServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	wantUser, wantPassword := s.user, s.password
	s.mu.Unlock()
	if wantUser != "" {
		user, password, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(wantUser)) != 1 ||
			subtle.ConstantTimeCompare([]byte(password), []byte(wantPassword)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	s.handler.ServeHTTP(w, r)
}

// Hook installs an executable hook (pre-receive, update...) in the bare
// repository, so that pushes over HTTP and SSH meet it as they would a
// server's branch protection. Repo.Commit pushes through it too.
func (r *Repo) Hook(t testing.TB, name, script string) {
	t.Helper()
	dir := filepath.Join(r.Bare, "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("git repo %s: %v", r.Name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatalf("git repo %s: %v", r.Name, err)
	}
}

// Git runs git in the bare repository, as the server holds it (rev-parse,
// show, log), and returns its output without the final newline.
func (r *Repo) Git(t testing.TB, args ...string) string {
	t.Helper()
	out, err := runGit(t.Context(), r.Bare, args...)
	if err != nil {
		t.Fatalf("git repo %s: %v", r.Name, err)
	}
	return out
}
