package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "Check the intents in DIR; exit 0 when valid, 1 with every error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := loadDir(cmd.Context(), args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: %d services, %d clusters\n", args[0], len(in.Services), len(in.Fleet.Clusters))
			return nil
		},
	}
}
