package main

import (
	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema/bounded"
)

func newRenderCmd() *cobra.Command {
	var cluster, output, commit string
	var limits bounded.Limits
	cmd := &cobra.Command{
		Use:         "render DIR",
		Annotations: oneShot(),
		Short:       "Print the Istio objects that the intents in DIR render to",
		Args:        cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := loadDirFor(cmd.Context(), args[0], cluster, limits)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: commit})
			if err != nil {
				return err
			}
			b, err := render.Encode(objs, output)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "render for this fleet cluster, evaluating its overrides alone (validate checks every cluster's)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().StringVar(&commit, "commit", "", "commit to record in the objects' annotations")
	bounded.AddFlags(cmd.Flags(), &limits)
	return cmd
}
