package source

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// DefaultHTTPUser is the user name sent with a token when none is given:
// GitHub, GitLab (personal, project and group access tokens) and Gitea
// accept any non-empty name with a token as the password.
const DefaultHTTPUser = "sailplan"

// HTTPAuth is basic authentication for an http(s) remote; a token goes in
// password. It returns nil (anonymous) when password is empty. go-git
// prints the password masked if the method is ever formatted.
func HTTPAuth(username, password string) transport.AuthMethod {
	if password == "" {
		return nil
	}
	if username == "" {
		username = DefaultHTTPUser
	}
	return &githttp.BasicAuth{Username: username, Password: password}
}

// SSHDialTimeout bounds the SSH connection and handshake: go-git's SSH
// transport dials without the caller's context.
const SSHDialTimeout = 30 * time.Second

// SSHAuth is public key authentication for an ssh:// or user@host:path
// remote, with strict host key checking against the known_hosts file: a
// host that is not in it, or that presents another key than the one
// recorded, is refused with an error naming the host, and there is no
// fallback to trusting on first use. The user is the URL's ("git" when the
// URL has none); passphrase may be empty.
func SSHAuth(repoURL string, privateKeyPEM, passphrase []byte, knownHostsFile string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(repoURL)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", RedactURL(repoURL), err)
	}
	if ep.Protocol != "ssh" {
		return nil, fmt.Errorf("git %s: an SSH key needs an ssh:// or user@host:path URL", RedactURL(repoURL))
	}
	if knownHostsFile == "" {
		return nil, fmt.Errorf("git %s: SSH needs a known_hosts file: host keys are always checked", RedactURL(repoURL))
	}
	db, err := knownhosts.NewDB(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("known_hosts %s: %w", knownHostsFile, err)
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, privateKeyPEM, string(passphrase))
	if err != nil {
		// The error of a wrong passphrase or a malformed key never quotes the key.
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	port := ep.Port
	if port <= 0 {
		port = 22
	}
	hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	keys.HostKeyCallback = strictHostKey(db.HostKeyCallback(), knownHostsFile)
	// Offer only the key types known_hosts has for this host; otherwise the
	// server may present a key of another type, which looks like a
	// mismatch. An unknown host gets the defaults and is refused anyway.
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(hostPort)
	return &sshAuth{PublicKeys: keys}, nil
}

// sshAuth adds a dial timeout to go-git's public key method.
type sshAuth struct{ *gitssh.PublicKeys }

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = SSHDialTimeout
	return cfg, nil
}

// strictHostKey turns known_hosts' errors into ones an operator can act
// on: which host, which key it presented, and which file was consulted.
func strictHostKey(cb ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *xknownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("host %s: unknown host key %s %s: not in %s (check the fingerprint, then add the host's line)",
				host, key.Type(), ssh.FingerprintSHA256(key), file)
		case errors.As(err, &ke):
			return fmt.Errorf("host %s: host key mismatch: presented %s %s, %s line %d has another key (the host changed keys, or someone is in the middle)",
				host, key.Type(), ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line)
		}
		return fmt.Errorf("host %s: checking the host key: %w", host, err)
	}
}
