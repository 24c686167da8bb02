package compare

import (
	"fmt"
	"strings"
)

// Unified writes the report as unified diffs, cluster by cluster, each
// file named base/CLUSTER/Kind/namespace/name (head/... on the other
// side), so that diff viewers show one file per object and cluster. Lines
// starting with # say which cluster and what else changes (fleet, canary
// plans); a head that does not validate writes nothing: its errors are
// the caller's to print.
func Unified(r *Report) string {
	if r.HeadErrors != nil {
		return ""
	}
	var b strings.Builder
	if r.BaseErrors != nil {
		fmt.Fprintf(&b, "# the base %s has no intents sailplan can load: every object is added\n", commitCode(r.Base))
		for _, e := range r.BaseErrors {
			b.WriteString(comment(e))
		}
	}
	for _, c := range r.Clusters {
		if len(c.Objects)+len(c.Fleet)+len(c.Canaries) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# cluster %s (wave %d)\n", clusterName(c.Name), c.Wave)
		for _, n := range append(append([]Note(nil), c.Fleet...), c.Canaries...) {
			b.WriteString(comment(plain(n.Subject) + ": " + plain(n.Text)))
		}
		for _, o := range c.Objects {
			b.WriteString(inCluster(o.Diff, c.Name))
		}
	}
	liveUnified(&b, r)
	return b.String()
}

// comment writes text as # lines.
func comment(text string) string {
	return "# " + strings.ReplaceAll(text, "\n", "\n# ") + "\n"
}

// plain drops the Markdown of a note: emphasis and code spans.
func plain(s string) string {
	return strings.NewReplacer("**", "", "`", "").Replace(s)
}

// inCluster puts the cluster into a diff's file names: base/KEY becomes
// base/CLUSTER/KEY; /dev/null stays.
func inCluster(diff, cluster string) string {
	if cluster == "" {
		return diff
	}
	for _, side := range []string{"--- base/", "+++ head/"} {
		if i := strings.Index(diff, side); i >= 0 && (i == 0 || diff[i-1] == '\n') {
			diff = diff[:i+len(side)] + cluster + "/" + diff[i+len(side):]
		}
	}
	return diff
}
