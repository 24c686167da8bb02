package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify/slack"
	"github.com/sailplan/sailplan/promote"
)

// slackFlags configure notifications and approvals in Slack. Tokens and
// the signing secret come from files or the environment, never flags.
type slackFlags struct {
	tokenFile, signingSecretFile, appTokenFile string
	channel                                    string
}

const (
	envSlackToken         = "SAILPLAN_SLACK_TOKEN"
	envSlackSigningSecret = "SAILPLAN_SLACK_SIGNING_SECRET"
	envSlackAppToken      = "SAILPLAN_SLACK_APP_TOKEN"
)

func (s *slackFlags) register(f *pflag.FlagSet) {
	f.StringVar(&s.tokenFile, "slack-token-file", "", "file holding the Slack bot token, xoxb-... (default $"+envSlackToken+"); without one, messages are only logged")
	f.StringVar(&s.signingSecretFile, "slack-signing-secret-file", "", "file holding the Slack app's signing secret (default $"+envSlackSigningSecret+"); enables POST /slack/interactions for approvals")
	f.StringVar(&s.appTokenFile, "slack-app-token-file", "", "file holding an app-level token, xapp-... (default $"+envSlackAppToken+"); takes approvals over Socket Mode instead, for daemons Slack cannot reach")
	f.StringVar(&s.channel, "slack-channel", "", "default Slack channel for commits, and for promotions whose intent names none")
}

// slackSide is what the daemon runs for Slack.
type slackSide struct {
	// notifier hears the event stream: it posts to Slack, or without a
	// token logs what it would post.
	notifier *slack.Notifier
	// posting says whether it posts (a token was given).
	posting bool
	// interactions is nil unless approvals are on.
	interactions *slack.Interactions
	socket       *socketmode.Client
	httpRoute    bool
}

// build reads the secrets and makes the notifier. home is the home
// cluster's client (nil without promotions) for keeping root messages.
func (s *slackFlags) build(home kubernetes.Interface, namespace string, log *slog.Logger) (*slackSide, error) {
	token, err := secret("--slack-token-file", s.tokenFile, envSlackToken)
	if err != nil {
		return nil, err
	}
	signing, err := secret("--slack-signing-secret-file", s.signingSecretFile, envSlackSigningSecret)
	if err != nil {
		return nil, err
	}
	appToken, err := secret("--slack-app-token-file", s.appTokenFile, envSlackAppToken)
	if err != nil {
		return nil, err
	}
	if token == "" {
		if signing != "" || appToken != "" {
			return nil, errors.New("slack: a signing secret or app token needs the bot token too (--slack-token-file or $" + envSlackToken + ")")
		}
		return &slackSide{notifier: slack.New(slack.Config{Channel: s.channel, Log: log})}, nil
	}
	if s.channel == "" {
		return nil, errors.New("--slack-channel is required with a Slack token: commits go there")
	}
	opts := []slackapi.Option{}
	if appToken != "" {
		opts = append(opts, slackapi.OptionAppLevelToken(appToken))
	}
	api := slackapi.New(token, opts...)
	var refs slack.RefStore
	if home != nil {
		refs = slack.NewConfigMapRefs(home.CoreV1(), namespace)
	}
	n := slack.New(slack.Config{Client: api, Channel: s.channel, Refs: refs, Log: log})
	side := &slackSide{notifier: n, posting: true}
	if signing == "" && appToken == "" {
		return side, nil
	}
	side.interactions = &slack.Interactions{SigningSecret: signing, Approvers: slack.NewApprovers(api), Slack: n, Log: log}
	side.httpRoute = signing != ""
	if appToken != "" {
		side.socket = socketmode.New(api)
	}
	return side, nil
}

// wire registers the interactions route, when approvals come over HTTP:
// clicks decide through the promotion store, whichever replica leads.
// What becomes of each interaction goes to events.
func (s *slackSide) wire(mux *http.ServeMux, store *promote.Store, events slack.Publisher) {
	if s.interactions == nil {
		return
	}
	s.interactions.Store = store
	s.interactions.Events = events
	if s.httpRoute {
		mux.Handle("POST /slack/interactions", s.interactions)
	}
}

// run delivers messages and, with an app token, takes interactions over
// Socket Mode, until ctx ends.
func (s *slackSide) run(ctx context.Context, log *slog.Logger) {
	go s.notifier.Run(ctx)
	if s.socket != nil && s.interactions != nil && s.interactions.Store != nil {
		go func() {
			if err := s.interactions.RunSocketMode(ctx, s.socket); err != nil {
				log.Error("slack socket mode stopped", "err", err)
			}
		}()
	}
}
