package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/sync/source"
)

func newStatusCmd() *cobra.Command {
	var (
		kubeconfig string
		contexts   []string
		opts       apply.Options
	)
	cmd := &cobra.Command{
		Use:   "status [--context NAME]...",
		Short: "Show per cluster the commit sailplan applied, object counts and the last error",
		Long: `status reads what sailplan recorded in each cluster: the sailplan.dev/status
annotation of the ApplySet parent ConfigMap (sailplan-system/sailplan unless
--applyset-namespace/--applyset-name say otherwise). Every context of the
kubeconfig is read unless --context names some. Exit status: 0 when every
cluster read is synced, 1 when one failed, waits or cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(contexts) == 0 {
				var err error
				if contexts, err = kube.Contexts(cmd.Context(), kubeconfig); err != nil {
					return fmt.Errorf("kubeconfig: %w", err)
				}
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CLUSTER\tWAVE\tSTATE\tCOMMIT\tCREATED\tCONFIGURED\tUNCHANGED\tPRUNED\tSINCE\tLAST ERROR")
			healthy := true
			for _, name := range contexts {
				st, ok, err := readStatus(cmd, kubeconfig, name, opts)
				switch {
				case err != nil:
					healthy = false
					fmt.Fprintf(w, "%s\t-\tunreadable\t-\t-\t-\t-\t-\t-\t%s\n", name, oneLine(err.Error()))
				case !ok:
					fmt.Fprintf(w, "%s\t-\tnot synced by sailplan\t-\t-\t-\t-\t-\t-\t\n", name)
				default:
					if st.State != apply.StateSynced {
						healthy = false
					}
					commit := source.Short(st.Commit)
					if st.Target != "" && st.Target != st.Commit {
						commit += " (target " + source.Short(st.Target) + ")"
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", name, st.Wave, st.State, commit,
						st.Counts[apply.Created], st.Counts[apply.Configured], st.Counts[apply.Unchanged], st.Counts[apply.Pruned],
						st.Time.Local().Format(time.DateTime), oneLine(st.Error))
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if !healthy {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with the clusters' contexts")
	f.StringArrayVar(&contexts, "context", nil, "context to read (repeatable; default: every context)")
	addParentFlags(f, &opts)
	return cmd
}

func readStatus(cmd *cobra.Command, kubeconfig, context string, opts apply.Options) (apply.ClusterStatus, bool, error) {
	c, err := clusterForContext(cmd.Context(), kubeconfig, context, opts)
	if err != nil {
		return apply.ClusterStatus{}, false, err
	}
	defer c.Close()
	return c.ReadStatus(cmd.Context())
}

// oneLine keeps a table row on one line; the full error is in the
// annotation and the daemon's log.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
