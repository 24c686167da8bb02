package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/schema/bounded"
)

func newValidateCmd() *cobra.Command {
	var limits bounded.Limits
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check the intents in DIR; exit 0 when valid, 1 with every error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := loadDir(cmd.Context(), args[0], limits)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %d services, %d clusters\n", args[0], len(in.Services), len(in.Fleet.Clusters))
			return nil
		},
	}
	bounded.AddFlags(cmd.Flags(), &limits)
	return cmd
}
