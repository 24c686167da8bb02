package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
)

// statusTimeout bounds the read of each cluster's copy, so that a cluster
// that does not answer costs `sailplan status` no more than that.
const statusTimeout = 1500 * time.Millisecond

// statusOutput is what `sailplan status -o json` prints.
type statusOutput struct {
	status.Record
	// Healthy is the exit status's verdict: the source answers, the newest
	// commit is applied, every cluster is synced.
	Healthy bool `json:"healthy"`
	// ReadFrom is the cluster whose copy is shown (the newest).
	ReadFrom string `json:"readFrom"`
	// Unread are the clusters whose copy could not be read from here, with why.
	Unread map[string]string `json:"unread,omitempty"`
}

func newStatusCmd() *cobra.Command {
	var (
		kubeconfig, output string
		contexts           []string
		opts               apply.Options
		timeout            time.Duration
		watching           bool
	)
	cmd := &cobra.Command{
		Use:   "status [--context NAME]... [-o text|json] [--watch]",
		Short: "Show what the fleet is doing: the source, the latest commits and their fate, every cluster",
		Long: `status reads the status that sailplan keeps in every cluster (ConfigMap
sailplan-system/sailplan-status, next to the ApplySet parent; see --applyset-namespace
and --applyset-name) from every context of the kubeconfig at once, unless --context
names some, and shows the newest: whether the Git source answers, the latest commits
and their fate (applied, rejected with every error, held by a guard), and per cluster
the commit it holds, since when, what its last sync wrote and its own last error. A
cluster that does not answer costs at most --timeout; the others' copies say what the
daemon knows of it. Exit status: 0 when the source answers, the newest commit is
applied and every cluster is synced; 1 otherwise, or when no copy could be read.
With --watch it keeps reading and redraws whenever the status changes, until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			if len(contexts) == 0 {
				var err error
				if contexts, err = kube.Contexts(ctx, kubeconfig); err != nil {
					return fmt.Errorf("kubeconfig: %w", err)
				}
			}
			opts = opts.WithDefaults()
			place := &status.Place{Kubeconfig: kubeconfig, Namespace: opts.ParentNamespace, Name: status.NamePlace(opts.ParentName), Timeout: timeout}
			if watching {
				return watch(ctx, cmd.OutOrStdout(), watchEvery, func(ctx context.Context, w io.Writer) error {
					_, err := showStatus(ctx, w, w, place, contexts, output)
					return err
				})
			}
			healthy, err := showStatus(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), place, contexts, output)
			if err != nil {
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
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&timeout, "timeout", statusTimeout, "how long to wait for each cluster")
	f.BoolVarP(&watching, "watch", "w", false, "keep showing the status, redrawn whenever it changes (read every "+watchEvery.String()+"), until Ctrl-C")
	addParentFlags(f, &opts)
	return cmd
}

// showStatus reads the copies of the status and writes the newest; it
// reports whether the fleet is healthy.
func showStatus(ctx context.Context, w, errw io.Writer, place *status.Place, contexts []string, output string) (bool, error) {
	copies := place.Read(ctx, contexts)
	newest, found := status.Newest(copies)
	unread := map[string]string{}
	for _, c := range copies {
		if c.Err != nil {
			unread[c.Cluster] = strings.TrimPrefix(c.Err.Error(), "cluster "+c.Cluster+": ")
		}
	}
	if !found {
		for _, name := range slices.Sorted(maps.Keys(unread)) {
			fmt.Fprintf(errw, "cluster %s: %s\n", name, unread[name])
		}
		return false, &exitError{code: 1, err: fmt.Errorf("no sailplan status in %s: has sailplan run or apply synced these clusters?", strings.Join(contexts, ", "))}
	}
	out := statusOutput{Record: newest.Record, Healthy: newest.Record.Status.Healthy(), ReadFrom: newest.Cluster, Unread: unread}
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return out.Healthy, enc.Encode(out)
	}
	return out.Healthy, printStatus(w, out)
}

// when is how status prints a time: local, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// commitLine names a commit for people: hash, subject, author.
func commitLine(c notify.Commit) string {
	s := c.Short()
	if subj := c.Subject(); subj != "" {
		s += fmt.Sprintf(" %q", subj)
	}
	if c.Author != "" {
		s += " by " + c.Author
	}
	return s
}

// printStatus writes the status for people: the source and the latest
// commits first, then a table of clusters, then every error in full.
func printStatus(w io.Writer, out statusOutput) error {
	st := out.Status
	src := st.Source.Name
	if src == "" {
		src = "-"
	}
	if st.Source.Error != "" {
		src += fmt.Sprintf(": failing since %s: %s", when(st.Source.ErrorSince), st.Source.Error)
	}
	fmt.Fprintf(w, "SOURCE   %s\n", src)
	if head, ok := st.Commit(st.Head); ok {
		fmt.Fprintf(w, "HEAD     %s: %s", commitLine(head.Commit), head.Fate)
		if head.Reason != "" {
			fmt.Fprintf(w, " (%s)", head.Reason)
		}
		fmt.Fprintln(w)
		for _, e := range head.Errors {
			fmt.Fprintf(w, "           %s\n", e)
		}
		for _, e := range head.Warnings {
			fmt.Fprintf(w, "           warning: %s\n", strings.Replace(e, ": warning: ", ": ", 1))
		}
	}
	if applied, ok := st.Applied(); ok && applied.Commit.Hash != st.Head {
		fmt.Fprintf(w, "APPLIED  %s: everywhere since %s\n", commitLine(applied.Commit), when(applied.Done))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tWAVE\tSTATE\tSINCE\tCOMMIT\tAPPLIED\tCREATED\tCONFIGURED\tUNCHANGED\tPRUNED")
	names := slices.Sorted(maps.Keys(st.Clusters))
	slices.SortStableFunc(names, func(a, b string) int { return st.Clusters[a].Wave - st.Clusters[b].Wave })
	for _, name := range names {
		c := st.Clusters[name]
		commit := notify.Short(c.Commit)
		if commit == "" {
			commit = "-"
		}
		if c.Target != "" && c.Target != c.Commit {
			commit += " (target " + notify.Short(c.Target) + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", name, c.Wave, c.State, when(c.Since), commit, when(c.Applied),
			c.Counts.Created, c.Counts.Configured, c.Counts.Unchanged, c.Counts.Pruned)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, name := range names {
		if c := st.Clusters[name]; c.Error != "" {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "%s: %s since %s: %s\n", name, c.State, when(c.Since), c.Error)
		}
	}
	fmt.Fprintf(w, "\nrecorded %s by %s; read from %s", when(out.Written), out.WrittenBy, out.ReadFrom)
	for _, name := range slices.Sorted(maps.Keys(out.Unread)) {
		fmt.Fprintf(w, "; %s not read from here: %s", name, out.Unread[name])
	}
	fmt.Fprintln(w)
	return nil
}
