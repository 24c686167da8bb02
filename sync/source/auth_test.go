package source

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

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
