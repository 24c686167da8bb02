package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	binenc "encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHGitServer serves the bare repositories of a GitServer over SSH with the
// real `git upload-pack`, on a loopback address. It accepts one client key
// (ClientKeyPEM) and presents one host key (HostKey), so tests can check both
// sides of SSH authentication: a client that does not know HostKey must
// refuse to talk to it.
type SSHGitServer struct {
	root    string
	ln      net.Listener
	hostKey ssh.Signer
	client  ed25519.PrivateKey
	config  *ssh.ServerConfig

	wg sync.WaitGroup
}

// NewSSHGitServer serves git's repositories over SSH until the test ends:
// fetches (git-upload-pack) and pushes (git-receive-pack), which run the
// bare repository's hooks as a real server's would.
func NewSSHGitServer(t testing.TB, git *GitServer) *SSHGitServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ssh git server: %v", err)
	}
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatalf("ssh git server: %v", err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ssh git server: %v", err)
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatalf("ssh git server: %v", err)
	}
	s := &SSHGitServer{root: git.root, hostKey: hostKey, client: clientPriv}
	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown client key")
		},
	}
	s.config.AddHostKey(hostKey)
	var lc net.ListenConfig
	s.ln, err = lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ssh git server: %v", err)
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *SSHGitServer) Addr() string { return s.ln.Addr().String() }

// URL is the ssh:// clone URL of repo on this server.
func (s *SSHGitServer) URL(repo *Repo) string {
	return "ssh://git@" + s.Addr() + "/" + repo.Name + ".git"
}

// HostKey is the public key the server presents.
func (s *SSHGitServer) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// KnownHostsLine is the known_hosts line that trusts this server.
func (s *SSHGitServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey())
}

// ClientKeyPEM is the private key (OpenSSH PEM, no passphrase) the server
// accepts.
func (s *SSHGitServer) ClientKeyPEM() []byte {
	block, err := ssh.MarshalPrivateKey(s.client, "sailplan test client")
	if err != nil {
		panic(fmt.Sprintf("ssh git server: marshalling an ed25519 key: %v", err)) // cannot fail for ed25519
	}
	return pem.EncodeToMemory(block)
}

// Close stops accepting connections and waits for open sessions to end.
func (s *SSHGitServer) Close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *SSHGitServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(conn)
		}()
	}
}

func (s *SSHGitServer) serveConn(conn net.Conn) {
	defer conn.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return // handshake or authentication failed: the client sees why
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveSession(ch, chReqs)
		}()
	}
}

// serveSession runs the one exec request of a git client's session.
func (s *SSHGitServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		service, dir, err := s.repoDir(payload.Command)
		if err != nil {
			_ = req.Reply(true, nil)
			fmt.Fprintf(ch.Stderr(), "%v\n", err)
			exit(ch, 128)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", service, dir)
		cmd.Env = append(os.Environ(), gitEnv()...)
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		// A pipe rather than cmd.Stdin = ch: Wait would otherwise wait for
		// the client to close its side, and clients wait for exit-status.
		stdin, err := cmd.StdinPipe()
		if err != nil {
			exit(ch, 128)
			return
		}
		go func() {
			_, _ = io.Copy(stdin, ch)
			_ = stdin.Close()
		}()
		code := 0
		if err := cmd.Run(); err != nil {
			code = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		}
		exit(ch, code)
		return
	}
}

// repoDir maps "git-upload-pack '/name.git'" (or git-receive-pack) to the
// git subcommand and the bare repository on disk, refusing anything
// outside the server's root.
func (s *SSHGitServer) repoDir(command string) (service, dir string, err error) {
	program, arg, _ := strings.Cut(command, " ")
	switch program {
	case "git-upload-pack", "git-receive-pack":
		service = strings.TrimPrefix(program, "git-")
	default:
		return "", "", fmt.Errorf("ssh git server: only git-upload-pack and git-receive-pack are served, not %q", command)
	}
	arg = strings.Trim(strings.TrimSpace(arg), "'")
	rel := strings.TrimPrefix(path.Clean("/"+arg), "/")
	if rel == "" || strings.Contains(rel, "..") {
		return "", "", fmt.Errorf("ssh git server: bad repository path %q", arg)
	}
	dir = filepath.Join(s.root, filepath.FromSlash(rel))
	if _, err := os.Stat(dir); err != nil {
		return "", "", fmt.Errorf("ssh git server: repository %q: %w", arg, err)
	}
	return service, dir, nil
}

func exit(ch ssh.Channel, code int) {
	var b [4]byte
	binenc.BigEndian.PutUint32(b[:], uint32(code))
	_, _ = ch.SendRequest("exit-status", false, b[:])
}
