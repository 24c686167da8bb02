package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
)

func newValidateCmd() *cobra.Command {
	var limits bounded.Limits
	var strict bool
	cmd := &cobra.Command{
		Use:         "validate DIR",
		Annotations: oneShot(),
		Short:       "Check the intents in DIR; exit 0 when valid, 1 with every error (and with every warning under --strict)",
		Args:        cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := loadDir(cmd.Context(), args[0], limits)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if strict && len(in.Warnings) > 0 {
				return &exitError{code: 1, err: strictError(in.Warnings)}
			}
			for _, w := range in.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w.Error())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %d services, %d clusters%s\n", args[0], len(in.Services), len(in.Fleet.Clusters), warningCount(in.Warnings))
			return nil
		},
	}
	bounded.AddFlags(cmd.Flags(), &limits)
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors (exit 1), for CI")
	return cmd
}

// strictError is the warnings, as the errors --strict makes them.
func strictError(ws schema.Errors) error {
	if len(ws) == 1 {
		return fmt.Errorf("--strict: %w", ws)
	}
	return fmt.Errorf("--strict: %d warnings:\n  %s", len(ws), strings.Join(ws.Strings(), "\n  "))
}

func warningCount(ws schema.Errors) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ", 1 warning"
	}
	return fmt.Sprintf(", %d warnings", len(ws))
}
