package compare

import (
	"fmt"
	"html"
	"slices"
	"strings"
)

// MarkdownLimit is the largest Markdown written by default, in bytes:
// GitHub refuses a comment over 65,536 characters (GitLab's notes allow
// 1,000,000), and this leaves room for what a CI job adds around it, such
// as a marker to find its own comment again.
const MarkdownLimit = 60000

// closingRoom is kept free for the line that says what was cut.
const closingRoom = 600

// maxClustersNamed is how many clusters a note names before it counts.
const maxClustersNamed = 5

// Markdown writes the report for a pull request's comment: a verdict
// line; the notes by topic (security first, and in it what lets more
// through first), each with the clusters it holds for; a table of the
// clusters; the unified diffs collapsed (<details>), one block per set of
// clusters whose diffs are the same. It keeps to CommonMark and
// <details>, which GitHub and GitLab both render, and to limit bytes
// (MarkdownLimit when 0): what does not fit is left out, and the last
// line says what.
func Markdown(r *Report, limit int) string {
	if limit <= 0 {
		limit = MarkdownLimit
	}
	p := &page{limit: max(limit-closingRoom, 0)}
	p.must(fmt.Sprintf("### sailplan: %s → %s\n\n", commitCode(r.Base), commitCode(r.Head)))
	if r.HeadErrors != nil {
		p.must(fmt.Sprintf("❌ **The head does not validate** (%s): sailplan would reject it and apply nothing; the clusters keep the last commit that does.\n\n", count(len(r.HeadErrors), "error")))
		p.block("text", r.HeadErrors, "errors")
		return p.finish(limit)
	}
	p.must(verdict(r) + "\n")
	if r.BaseErrors != nil {
		p.must(fmt.Sprintf("\n> The base %s has no intents sailplan can load, so it was never applied: the head is compared with nothing, every object added.\n\n", commitCode(r.Base)))
		p.block("text", r.BaseErrors, "base errors")
	}
	if r.Canaries {
		p.must("\n> Canary routes are rendered before any promotion, the candidate at 0 %: while a promotion runs, the clusters hold its weights instead.\n")
	}
	notes := mergeNotes(r)
	for _, t := range []struct {
		topic Topic
		title string
	}{
		{Security, "Security"},
		{Fleet, "Fleet"},
		{Routing, "Routing"},
		{Canary, "Canary plans"},
		{Other, "Other changes"},
	} {
		var items []string
		for _, n := range notes {
			if n.Topic == t.topic {
				items = append(items, n.line(r))
			}
		}
		p.section("\n#### "+t.title+"\n\n", items, strings.ToLower(t.title)+" notes")
	}
	p.section("\n#### Clusters\n\n| cluster | wave | added | changed | removed |\n| --- | ---: | ---: | ---: | ---: |\n", clusterRows(r), "cluster rows")
	diffBlocks(p, r)
	liveSection(p, r)
	return p.finish(limit)
}

// page is Markdown written within a size, counting what it leaves out.
type page struct {
	b     strings.Builder
	limit int
	cut   []string
}

func (p *page) fits(s string) bool { return p.b.Len()+len(s) <= p.limit }

// must writes what every preview has (the title, the verdict), whatever
// its size: they are short.
func (p *page) must(s string) { p.b.WriteString(s) }

func (p *page) write(s string) bool {
	if !p.fits(s) {
		return false
	}
	p.b.WriteString(s)
	return true
}

// section writes a heading and its items while they fit; the first item
// that does not fit ends it, so what is shown is what comes first.
func (p *page) section(heading string, items []string, what string) {
	if len(items) == 0 {
		return
	}
	if !p.write(heading + items[0]) {
		p.cut = append(p.cut, fmt.Sprintf("all %d %s", len(items), what))
		return
	}
	for i, it := range items[1:] {
		if !p.write(it) {
			p.cut = append(p.cut, fmt.Sprintf("%d of %d %s", len(items)-1-i, len(items), what))
			return
		}
	}
}

// block writes lines in a fenced code block, as many as fit.
func (p *page) block(info string, lines []string, what string) {
	fence := fenceFor(strings.Join(lines, "\n"))
	open, closing := fence+info+"\n", fence+"\n"
	p.must(open)
	for i, l := range lines {
		if !p.fits(l + "\n" + closing) {
			p.cut = append(p.cut, fmt.Sprintf("%d of %d %s", len(lines)-i, len(lines), what))
			break
		}
		p.b.WriteString(l + "\n")
	}
	p.must(closing)
}

// finish writes what was cut, if anything, within the room kept for it.
func (p *page) finish(limit int) string {
	if len(p.cut) > 0 {
		note := fmt.Sprintf("\n_Cut to stay under %d bytes: %s. `sailplan diff -o diff` prints every change._\n", limit, strings.Join(p.cut, ", "))
		if len(note) > closingRoom {
			note = fmt.Sprintf("\n_Cut to stay under %d bytes. `sailplan diff -o diff` prints every change._\n", limit)
		}
		p.b.WriteString(note)
	}
	return p.b.String()
}

// fenceFor is a code fence longer than any run of backticks in s, so that
// an object's YAML cannot end the block.
func fenceFor(s string) string {
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	return fence
}

func commitCode(c string) string {
	if c == "" {
		return "nothing"
	}
	if len(c) > 7 {
		c = c[:7] // as sailplan's log abbreviates commits
	}
	return code(c)
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// verdict is the short line that says what the head does.
func verdict(r *Report) string {
	if r.Changes() == 0 {
		return "✅ **No change**: the head renders what the base renders, in every cluster."
	}
	var parts []string
	warns, objects, canaries, fleet := 0, map[string]Action{}, map[Note]bool{}, 0
	seen := map[Note]bool{}
	changed := 0
	for _, c := range r.Clusters {
		if len(c.Objects) > 0 {
			changed++
		}
		fleet += len(c.Fleet)
		for _, o := range c.Objects {
			objects[o.Object] = o.Action
			for _, n := range o.Notes {
				if n.Warn && !seen[n] {
					seen[n] = true
					warns++
				}
			}
		}
		for _, n := range c.Canaries {
			canaries[n] = true
		}
	}
	if warns > 0 {
		parts = append(parts, "⚠️ **"+count(warns, "security change")+" to review**")
	}
	if len(objects) > 0 {
		verb := "change"
		if len(objects) == 1 {
			verb = "changes"
		}
		// An object added in one cluster and changed in another counts
		// as the last cluster has it.
		n := map[Action]int{}
		for _, a := range objects {
			n[a]++
		}
		parts = append(parts, fmt.Sprintf("**%s %s** (%s) in %d of %s", count(len(objects), "object"), verb, actionText(n), changed, count(len(r.Clusters), "cluster")))
	}
	if len(canaries) > 0 {
		parts = append(parts, canaryCounts(canaries))
	}
	if fleet > 0 {
		parts = append(parts, count(fleet, "fleet change"))
	}
	return strings.Join(parts, " · ")
}

// tally counts the objects added, changed and removed.
func tally(objects []Change) map[Action]int {
	n := map[Action]int{}
	for _, o := range objects {
		n[o.Action]++
	}
	return n
}

// actionText says how many objects are added, changed and removed:
// "1 added, 2 changed".
func actionText(n map[Action]int) string {
	var parts []string
	for _, a := range []Action{Added, Changed, Removed} {
		if n[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[a], a))
		}
	}
	return strings.Join(parts, ", ")
}

// canaryCounts says how many plans are started, restarted, amended and
// removed: "canary plans: 1 started, 1 amended".
func canaryCounts(notes map[Note]bool) string {
	n := map[string]int{}
	for note := range notes {
		for _, v := range canaryVerbs {
			if strings.HasPrefix(note.Text, v.prefix) {
				n[v.verb]++
			}
		}
	}
	var parts []string
	total := 0
	for _, v := range canaryVerbs {
		if n[v.verb] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[v.verb], v.verb))
			total += n[v.verb]
		}
	}
	word := "canary plans: "
	if total == 1 {
		word = "canary plan: "
	}
	return word + strings.Join(parts, ", ")
}

// merged is a note with the clusters it holds for.
type merged struct {
	Note
	clusters []string
}

// mergeNotes gathers every note of every cluster, each once with the
// clusters it holds for, in the order first seen; within a topic the
// warnings come first.
func mergeNotes(r *Report) []*merged {
	var out []*merged
	index := map[Note]*merged{}
	add := func(cluster string, n Note) {
		m, ok := index[n]
		if !ok {
			m = &merged{Note: n}
			index[n] = m
			out = append(out, m)
		}
		if !slices.Contains(m.clusters, cluster) {
			m.clusters = append(m.clusters, cluster)
		}
	}
	r.eachNote(add)
	slices.SortStableFunc(out, func(a, b *merged) int { return boolOrder(a.Warn, b.Warn) })
	return out
}

// line is the note as a list item, with the clusters it holds for when
// the report has more than one.
func (m *merged) line(r *Report) string {
	mark := ""
	if m.Warn {
		mark = "⚠️ "
	}
	s := "- " + mark + m.Subject + ": " + m.Text
	if w := where(r, m.clusters); w != "" {
		s += " — " + w
	}
	return s + "\n"
}

// where says which clusters a note holds for: every one, or their names.
func where(r *Report, clusters []string) string {
	var members []string
	for _, c := range r.Clusters {
		if !c.Leaves {
			members = append(members, c.Name)
		}
	}
	if len(r.Clusters) <= 1 {
		return ""
	}
	if len(members) > 1 && len(clusters) == len(members) && !slices.ContainsFunc(clusters, func(c string) bool { return !slices.Contains(members, c) }) {
		return "_every cluster_"
	}
	names := make([]string, 0, maxClustersNamed)
	for i, c := range clusters {
		if i == maxClustersNamed {
			return fmt.Sprintf("_%s and %d more_", strings.Join(names, ", "), len(clusters)-i)
		}
		names = append(names, escape(c))
	}
	return "_" + strings.Join(names, ", ") + "_"
}

// escape keeps a name from being read as Markdown.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|~", r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func clusterName(name string) string {
	if name == "" {
		return "every cluster (the fleet declares none)"
	}
	return name
}

func clusterRows(r *Report) []string {
	var out []string
	for _, c := range r.Clusters {
		n := tally(c.Objects)
		name := escape(clusterName(c.Name))
		if c.Leaves {
			name += " (leaves the fleet)"
		}
		out = append(out, fmt.Sprintf("| %s | %d | %d | %d | %d |\n", name, c.Wave, n[Added], n[Changed], n[Removed]))
	}
	return out
}

// diffBlocks writes the unified diffs collapsed, one block per set of
// clusters whose diffs are the same, objects that do not fit left out.
func diffBlocks(p *page, r *Report) {
	type group struct {
		clusters []string
		objects  []Change
	}
	var groups []*group
	byDiff := map[string]*group{}
	for _, c := range r.Clusters {
		if len(c.Objects) == 0 {
			continue
		}
		var key strings.Builder
		for _, o := range c.Objects {
			key.WriteString(o.Diff)
		}
		g, ok := byDiff[key.String()]
		if !ok {
			g = &group{objects: c.Objects}
			byDiff[key.String()] = g
			groups = append(groups, g)
		}
		g.clusters = append(g.clusters, clusterName(c.Name))
	}
	total, shown := 0, 0
	for _, g := range groups {
		total += len(g.objects)
		var all strings.Builder
		for _, o := range g.objects {
			all.WriteString(o.Diff)
		}
		fence := fenceFor(all.String())
		open := fmt.Sprintf("\n<details><summary>Diff of %s: %s</summary>\n\n%sdiff\n", html.EscapeString(strings.Join(g.clusters, ", ")), actionText(tally(g.objects)), fence)
		closing := fence + "\n\n</details>\n"
		var body strings.Builder
		for _, o := range g.objects {
			if p.fits(open + body.String() + o.Diff + closing) {
				body.WriteString(o.Diff)
				shown++
			}
		}
		if body.Len() > 0 {
			p.write(open + body.String() + closing)
		}
	}
	if shown < total {
		p.cut = append(p.cut, fmt.Sprintf("%d of %d object diffs", total-shown, total))
	}
}
