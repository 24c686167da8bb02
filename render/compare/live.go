package compare

import (
	"fmt"
	"html"
	"strings"
)

// Live is what applying the head would change in one cluster as it is
// now, as the cluster answered a server-side dry run: its objects may hold
// another commit, a running promotion's weights, or edits. compare reaches
// no cluster; the caller (sailplan diff --live) fills Report.Live.
type Live struct {
	Cluster string `json:"cluster"`
	// Err is why the cluster could not be compared, such as that it did
	// not answer.
	Err string `json:"error,omitempty"`
	// Objects are the objects the head would create, configure or prune.
	Objects []LiveChange `json:"objects,omitempty"`
}

// LiveChange is one object that applying the head would change.
type LiveChange struct {
	// Object is Kind/namespace/name.
	Object string `json:"object"`
	// Action is created, configured or pruned, in sync's words.
	Action string `json:"action"`
	// Diff is a unified diff of the live object against the dry run's.
	Diff string `json:"diff"`
}

// LiveChanges counts the objects that applying the head would change in
// the clusters now.
func (r *Report) LiveChanges() int {
	n := 0
	for _, l := range r.Live {
		n += len(l.Objects)
	}
	return n
}

// LiveErrors counts the clusters that could not be compared.
func (r *Report) LiveErrors() int {
	n := 0
	for _, l := range r.Live {
		if l.Err != "" {
			n++
		}
	}
	return n
}

// liveActions are the actions of a live change, in the table's order.
var liveActions = []string{"created", "configured", "pruned"}

// liveSection writes what applying the head would change in each cluster
// now: a table, the clusters that did not answer, and the diffs
// collapsed, as many as fit.
func liveSection(p *page, r *Report) {
	if len(r.Live) == 0 {
		return
	}
	p.must("\n#### Against the clusters now\n\nWhat applying the head would change in each cluster as it is now (a server-side dry run): its objects may hold another commit or a running promotion's weights.\n\n")
	var rows []string
	for _, l := range r.Live {
		if l.Err != "" {
			rows = append(rows, fmt.Sprintf("| %s | not compared: %s | | |\n", escape(l.Cluster), escape(strings.ReplaceAll(l.Err, "\n", " "))))
			continue
		}
		n := map[string]int{}
		for _, o := range l.Objects {
			n[o.Action]++
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %d |\n", escape(l.Cluster), n["created"], n["configured"], n["pruned"]))
	}
	p.section("| cluster | created | configured | pruned |\n| --- | ---: | ---: | ---: |\n", rows, "live cluster rows")
	total, shown := 0, 0
	for _, l := range r.Live {
		if len(l.Objects) == 0 {
			continue
		}
		total += len(l.Objects)
		var all strings.Builder
		for _, o := range l.Objects {
			all.WriteString(o.Diff)
		}
		fence := fenceFor(all.String())
		open := fmt.Sprintf("\n<details><summary>Diff of %s now</summary>\n\n%sdiff\n", html.EscapeString(l.Cluster), fence)
		closing := fence + "\n\n</details>\n"
		var body strings.Builder
		for _, o := range l.Objects {
			text := fmt.Sprintf("# %s %s\n%s", o.Object, o.Action, o.Diff)
			if p.fits(open + body.String() + text + closing) {
				body.WriteString(text)
				shown++
			}
		}
		if body.Len() > 0 {
			p.write(open + body.String() + closing)
		}
	}
	if shown < total {
		p.cut = append(p.cut, fmt.Sprintf("%d of %d live object diffs", total-shown, total))
	}
}

// liveUnified writes the live changes of every cluster as # lines and
// diffs, as the live `sailplan diff DIR --context` prints them.
func liveUnified(b *strings.Builder, r *Report) {
	for _, l := range r.Live {
		switch {
		case l.Err != "":
			fmt.Fprintf(b, "# cluster %s now: not compared: %s\n", l.Cluster, strings.ReplaceAll(l.Err, "\n", "\n# "))
		case len(l.Objects) > 0:
			fmt.Fprintf(b, "# cluster %s now: applying the head would change %s\n", l.Cluster, count(len(l.Objects), "object"))
			for _, o := range l.Objects {
				fmt.Fprintf(b, "# %s %s\n%s", o.Object, o.Action, o.Diff)
			}
		}
	}
}
