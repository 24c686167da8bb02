package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/sync/webhook"
)

// gitFlags are the flags of the Git source and of the push webhook.
// Secrets are read from files (or the environment), never from flags,
// which other users of the machine can read in the process list.
type gitFlags struct {
	repo, path          string
	branch, tag, commit string

	username, passwordFile, tokenFile string
	sshKeyFile, sshPassphraseFile     string
	knownHostsFile                    string
	verifyKeysFile                    string

	webhookProvider, webhookSecretFile string
}

// Environment variables read for credentials when no file is given.
const (
	envToken         = "SAILPLAN_GIT_TOKEN"
	envUsername      = "SAILPLAN_GIT_USERNAME"
	envPassword      = "SAILPLAN_GIT_PASSWORD"
	envSSHPassphrase = "SAILPLAN_SSH_KEY_PASSPHRASE"
)

func (g *gitFlags) register(f *pflag.FlagSet) {
	f.StringVar(&g.repo, "repo", "", "Git repository URL (https://, ssh://, user@host:path or a local path)")
	f.StringVar(&g.path, "path", "", "directory of the intents inside the repository")
	f.StringVar(&g.branch, "branch", "", `branch to follow ("main" when no --tag or --commit); with --commit, the branch that must contain it`)
	f.StringVar(&g.tag, "tag", "", "tag to follow instead of a branch (annotated tags stand for their commit)")
	f.StringVar(&g.commit, "commit", "", "pin one commit (full 40-digit hash) instead of following a branch")
	g.registerAuth(f)
	f.StringVar(&g.verifyKeysFile, "verify-keys-file", "", "armored OpenPGP public keys: apply only commits signed by one of them")
	f.StringVar(&g.webhookProvider, "webhook-provider", "github", "push webhook format: github, gitlab, gitea or generic")
	f.StringVar(&g.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret; enables the push webhook")
}

// registerAuth registers the flags of the credentials for --repo, which
// diff needs too.
func (g *gitFlags) registerAuth(f *pflag.FlagSet) {
	f.StringVar(&g.username, "git-username", "", "user name for HTTPS (default $"+envUsername+", else \""+source.DefaultHTTPUser+"\")")
	f.StringVar(&g.passwordFile, "git-password-file", "", "file holding the HTTPS password (default $"+envPassword+")")
	f.StringVar(&g.tokenFile, "git-token-file", "", "file holding an HTTPS access token (default $"+envToken+")")
	f.StringVar(&g.sshKeyFile, "ssh-key-file", "", "private key for ssh:// repositories")
	f.StringVar(&g.sshPassphraseFile, "ssh-key-passphrase-file", "", "file holding the SSH key's passphrase (default $"+envSSHPassphrase+")")
	f.StringVar(&g.knownHostsFile, "known-hosts-file", "", "known_hosts file with the Git server's host key (required for SSH; unknown hosts are refused)")
}

// source builds the Git source from the flags, reading credentials from
// their files or the environment. Its errors name flags and files, never
// what is in them.
func (g *gitFlags) source(ctx context.Context) (*source.GitSource, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.repo == "" {
		return nil, errors.New("--repo is required")
	}
	src := &source.GitSource{URL: g.repo, Path: g.path, Branch: g.branch, Tag: g.tag, Commit: g.commit}
	if g.verifyKeysFile != "" {
		keys, err := os.ReadFile(g.verifyKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--verify-keys-file: %w", err)
		}
		src.VerifyKeys = string(keys)
	}
	if err := src.Validate(); err != nil {
		return nil, err
	}
	auth, err := g.auth()
	if err != nil {
		return nil, err
	}
	src.Auth = auth
	return src, nil
}

func (g *gitFlags) auth() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(g.repo)
	if err != nil {
		return nil, fmt.Errorf("--repo: %w", err)
	}
	password, err := secret("--git-password-file", g.passwordFile, envPassword)
	if err != nil {
		return nil, err
	}
	token, err := secret("--git-token-file", g.tokenFile, envToken)
	if err != nil {
		return nil, err
	}
	if password != "" && token != "" {
		return nil, errors.New("git credentials: give a password or a token, not both")
	}
	switch ep.Protocol {
	case "ssh":
		if password != "" || token != "" {
			return nil, fmt.Errorf("git credentials: %s is an SSH URL: use --ssh-key-file, not a password or token", ep.Host)
		}
		if g.sshKeyFile == "" {
			// go-git would otherwise fall back to an SSH agent and a
			// known_hosts of its choosing.
			return nil, errors.New("--ssh-key-file is required for an SSH repository")
		}
		key, err := os.ReadFile(g.sshKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key-file: %w", err)
		}
		pass, err := secret("--ssh-key-passphrase-file", g.sshPassphraseFile, envSSHPassphrase)
		if err != nil {
			return nil, err
		}
		return source.SSHAuth(g.repo, key, []byte(pass), g.knownHostsFile)
	case "http", "https":
		if g.sshKeyFile != "" {
			return nil, errors.New("--ssh-key-file: the repository URL is not an SSH one")
		}
		if password == "" {
			password = token
		}
		if password != "" && ep.Protocol == "http" && !loopback(ep.Host) {
			return nil, fmt.Errorf("git credentials: refusing to send them in clear text over http:// to %s; use https://", ep.Host)
		}
		user := g.username
		if user == "" {
			user = os.Getenv(envUsername)
		}
		return source.HTTPAuth(user, password), nil
	}
	if password != "" || token != "" || g.sshKeyFile != "" {
		return nil, fmt.Errorf("git credentials: %s repositories take none", ep.Protocol)
	}
	return nil, nil
}

// secret reads a credential from file, else from the environment
// variable; surrounding white space (a file's final newline) is dropped.
func secret(flag, file, env string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", flag, file)
	}
	return s, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// webhook builds the push webhook handler, which calls trigger for each
// authenticated push to the followed branch or tag; nil when no
// --webhook-secret-file is given.
func (g *gitFlags) webhook(trigger func(), log *slog.Logger) (http.Handler, error) {
	if g.webhookSecretFile == "" {
		return nil, nil
	}
	key, err := os.ReadFile(g.webhookSecretFile)
	if err != nil {
		return nil, fmt.Errorf("--webhook-secret-file: %w", err)
	}
	// A secret pasted into a file usually ends with a newline the provider
	// never saw.
	key = []byte(strings.TrimSpace(string(key)))
	ref := ""
	switch {
	case g.tag != "":
		ref = "refs/tags/" + g.tag
	case g.commit != "":
		// A pinned commit never moves: no push can change what is applied.
		return nil, errors.New("--webhook-secret-file: a pinned --commit does not follow pushes")
	default:
		branch := g.branch
		if branch == "" {
			branch = "main"
		}
		ref = "refs/heads/" + branch
	}
	h, err := webhook.New(webhook.Config{
		Provider: webhook.Provider(g.webhookProvider),
		Secret:   key,
		Ref:      ref,
		Trigger:  trigger,
		Log:      log,
	})
	if err != nil {
		return nil, err // names the provider or the empty secret already
	}
	return h, nil
}
