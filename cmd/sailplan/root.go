package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/schema/bounded"
)

// exitError asks for a given exit code; its message, if any, is printed once.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// annotationOneShot marks a command that loads and renders intents once
// and exits: its process collects garbage late (bounded.CollectLate).
const annotationOneShot = "sailplan.dev/one-shot"

func oneShot() map[string]string { return map[string]string{annotationOneShot: "true"} }

type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "sailplan",
		Short:         "GitOps for Istio traffic: CUE intents from Git, applied to a fleet of clusters",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Annotations[annotationOneShot] != "" {
			bounded.CollectLate(math.MaxInt64)
		}
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newRunCmd(g),
		newApplyCmd(g),
		newDiffCmd(),
		newStatusCmd(),
		newPromoteCmd(),
		newRenderCmd(),
		newExplainCmd(),
		newValidateCmd(),
		newVersionCmd(),
	)
	return root
}

// execute runs the command line and prints an error once, here.
func execute(ctx context.Context, args []string) int {
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "sailplan:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "sailplan:", err)
	return 2
}

func (g *globalFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
}
