package main

import (
	"fmt"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/sync"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	var (
		src        sync.GitSource
		interval   time.Duration
		kubeconfig string
		once       bool
		opts       sync.Options
	)
	cmd := &cobra.Command{
		Use:   "run --repo URL [--branch main] [--path DIR]",
		Short: "Follow a Git branch and keep every cluster of the fleet at what it declares",
		Long: `run polls a Git branch, loads the CUE intents under --path, renders them for every
cluster of the fleet they declare and server-side-applies the result, wave by wave.

Credentials for each cluster come from the kubeconfig context named after it.
For HTTPS repositories that need them, set SAILPLAN_GIT_USERNAME and
SAILPLAN_GIT_PASSWORD (a token works as the password); they are never logged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if src.URL == "" {
				return fmt.Errorf("--repo is required")
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %s: must be positive", interval)
			}
			src.Auth = authFromEnv()
			r := &sync.Reconciler{Source: &src, Kubeconfig: kubeconfig, Log: log, Options: opts}
			if once {
				defer r.Close()
				return r.Sync(cmd.Context())
			}
			log.Info("sailplan running", "repo", src.URL, "branch", src.Branch, "path", src.Path, "interval", interval)
			return r.Run(cmd.Context(), interval)
		},
	}
	f := cmd.Flags()
	f.StringVar(&src.URL, "repo", "", "Git repository URL (https://, ssh:// or a local path)")
	f.StringVar(&src.Branch, "branch", "main", "branch to follow")
	f.StringVar(&src.Path, "path", "", "directory of the intents inside the repository")
	f.DurationVar(&interval, "interval", 30*time.Second, "how often to poll the branch")
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with one context per fleet cluster")
	f.BoolVar(&once, "once", false, "sync once and exit")
	addApplyFlags(f, &opts)
	return cmd
}

func authFromEnv() transport.AuthMethod {
	user, pass := os.Getenv("SAILPLAN_GIT_USERNAME"), os.Getenv("SAILPLAN_GIT_PASSWORD")
	if pass == "" {
		return nil
	}
	if user == "" {
		user = "sailplan" // token auth: most servers ignore the user name
	}
	return &githttp.BasicAuth{Username: user, Password: pass}
}
