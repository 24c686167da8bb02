package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/kube"
)

type promoteFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

// store connects to the home cluster's promotion states and finds out who
// the caller is: decisions are recorded under that name, and Kubernetes
// RBAC on the state ConfigMaps decides who may make them.
func (f *promoteFlags) store(ctx context.Context) (*promote.Store, string, error) {
	client, err := kube.Clientset(ctx, f.kubeconfig, f.context, 0)
	if err != nil {
		return nil, "", fmt.Errorf("home cluster %q: %w", f.context, err)
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("home cluster %q: who am I: %w", f.context, err)
	}
	return promote.NewStore(client, f.namespace), review.Status.UserInfo.Username, nil
}

func newPromoteCmd() *cobra.Command {
	f := &promoteFlags{}
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "See and steer canary promotions: status, approve, reject, pause, resume, abort, retry",
		Long: `promote reads and changes the promotion states in the home cluster. Every decision is
recorded with the caller's Kubernetes user name; RBAC on the state ConfigMaps decides who may decide.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the home cluster")
	pf.StringVar(&f.context, "context", "", "kubeconfig context of the home cluster (default: the current context)")
	pf.StringVar(&f.namespace, "namespace", promote.DefaultNamespace, "namespace of the promotion states")

	var watching bool
	statusCmd := &cobra.Command{
		Use:   "status [SERVICE] [--watch]",
		Short: "Show promotions: phase, weights per wave, why they hold, recent history",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, _, err := f.store(cmd.Context())
			if err != nil {
				return err
			}
			show := func(ctx context.Context, w io.Writer) error {
				states, err := store.List(ctx)
				if err != nil {
					return err
				}
				return printPromotions(w, states, args)
			}
			if watching {
				return watch(cmd.Context(), cmd.OutOrStdout(), watchEvery, show)
			}
			return show(cmd.Context(), cmd.OutOrStdout())
		},
	}
	statusCmd.Flags().BoolVarP(&watching, "watch", "w", false, "keep showing the promotions, redrawn whenever they change (read every "+watchEvery.String()+"), until Ctrl-C")
	cmd.AddCommand(statusCmd)
	decisions := []struct{ what, short string }{
		{notify.DecisionApprove, "Approve the step the promotion waits for"},
		{notify.DecisionReject, "Reject the step the promotion waits for: roll back"},
		{notify.DecisionPause, "Hold the promotion where it is"},
		{notify.DecisionResume, "Continue a paused promotion"},
		{notify.DecisionAbort, "End the promotion and send all traffic to stable"},
		{notify.DecisionRetry, "Start a rolled-back or aborted promotion again"},
	}
	for _, d := range decisions {
		var weight int
		c := &cobra.Command{
			Use:   d.what + " SERVICE",
			Short: d.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				store, user, err := f.store(cmd.Context())
				if err != nil {
					return err
				}
				// The daemon's leader publishes the decision from the
				// state's history: Slack and the log hear it as they hear
				// one taken in Slack.
				_, event, err := promote.Decide(cmd.Context(), store, args[0],
					promote.Decision{What: d.what, Weight: weight, By: user, Via: "cli"}, time.Now())
				if errors.Is(err, promote.ErrStale) {
					// Refused, in the decision's own words; not a failure.
					return &exitError{code: 1, err: errors.New(promote.Refusal(err))}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], event.Message)
				return nil
			},
		}
		if d.what == notify.DecisionApprove || d.what == notify.DecisionReject {
			c.Flags().IntVar(&weight, "weight", 0, "the step's weight you mean, so that a step that moved meanwhile is not decided (default: the one it waits for)")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

func printPromotions(w io.Writer, states []*promote.Stored, only []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCANDIDATE\tPHASE\tWEIGHTS BY WAVE\tREASON")
	found := false
	for _, st := range states {
		if len(only) > 0 && st.Service != only[0] {
			continue
		}
		found = true
		var waves []string
		for _, wv := range st.Waves {
			waves = append(waves, fmt.Sprintf("%d:%d%%", wv.Wave, wv.Weight))
		}
		fmt.Fprintf(tw, "%s\t%s (from %s)\t%s\t%s\t%s\n", st.Service, st.Candidate, st.Stable, st.Phase, strings.Join(waves, " "), st.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(only) > 0 && !found {
		return fmt.Errorf("%s: no promotion", only[0])
	}
	if len(only) > 0 {
		for _, st := range states {
			if st.Service != only[0] {
				continue
			}
			fmt.Fprintln(w, "\nHISTORY")
			for _, e := range st.History {
				by := ""
				if e.By != "" {
					by = " (" + e.By
					if e.Via != "" {
						by += " via " + e.Via
					}
					by += ")"
				}
				fmt.Fprintf(w, "%s  %-18s %s%s\n", e.At.Format(time.RFC3339), e.Phase, e.Message, by)
			}
		}
	}
	return nil
}
