package page

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// view is what the templates show: the model, arranged for people.
type view struct {
	Source   notify.Source
	Healthy  bool
	Waves    []waveView
	Clusters []clusterView
	Services []serviceRow
	Commits  []commitView
	// Promotions are by service name.
	Promotions []promotionView
	// Decide is whether the page takes decisions.
	Decide bool
}

type waveView struct {
	Wave     int
	Clusters int
}

type clusterView struct {
	Name   string
	Wave   int
	State  string
	Since  time.Time
	Commit string
	Target string
	Error  string
	Drift  string
}

type serviceRow struct {
	Name      string
	Namespace string
	Cells     []string
}

type commitView struct {
	notify.CommitStatus
	// Fates are per cluster: when it got the commit, or why not.
	Fates []string
}

type promotionView struct {
	notify.Promotion
	// Hold says, in words, why it does not move now; empty when it does.
	Hold     string
	Analysis *notify.AnalysisResult
	Waiting  int
	Timeline []waveTimeline
	History  []entry
	Actions  []action
}

type waveTimeline struct {
	Wave  int
	Steps []entry
}

type action struct {
	Decision, Label string
	Weight          int
}

// build arranges a snapshot for the templates.
func (p *Page) build(s notify.Snapshot, timelines map[string][]entry, intents []commitIntents) view {
	st := s.Status
	v := view{Source: st.Source, Healthy: st.Healthy(), Decide: p.decides()}
	names := slices.Sorted(maps.Keys(st.Clusters))
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(st.Clusters[a].Wave, st.Clusters[b].Wave) })
	for _, name := range names {
		c := st.Clusters[name]
		cv := clusterView{Name: name, Wave: c.Wave, State: c.State, Since: c.Since, Commit: notify.Short(c.Commit), Error: c.Error}
		if c.Target != "" && c.Target != c.Commit {
			cv.Target = notify.Short(c.Target)
		}
		if d, ok := s.Drift[name]; ok {
			cv.Drift = fmt.Sprintf("%s %s, put back at %s", d.Object, d.Drift, clock(d.Time))
			if d.Err != "" {
				cv.Drift = fmt.Sprintf("%s %s, not put back: %s", d.Object, d.Drift, d.Err)
			}
		}
		v.Clusters = append(v.Clusters, cv)
		if n := len(v.Waves); n == 0 || v.Waves[n-1].Wave != c.Wave {
			v.Waves = append(v.Waves, waveView{Wave: c.Wave})
		}
		v.Waves[len(v.Waves)-1].Clusters++
	}
	v.Services = services(st, s.Promotions, intents, names)
	for _, c := range st.Commits {
		cv := commitView{CommitStatus: c}
		for _, name := range names {
			if at, ok := c.Clusters[name]; ok {
				cv.Fates = append(cv.Fates, fmt.Sprintf("%s applied %s", name, clock(at)))
			} else if cl := st.Clusters[name]; cl.Target == c.Commit.Hash && cl.State != notify.StateSynced {
				cv.Fates = append(cv.Fates, fmt.Sprintf("%s %s", name, cl.State))
			}
		}
		v.Commits = append(v.Commits, cv)
	}
	for _, svc := range slices.Sorted(maps.Keys(s.Promotions)) {
		pr := s.Promotions[svc]
		pv := promotionView{Promotion: pr, Waiting: pr.WaitingFor(), History: timelines[svc]}
		if a, ok := s.Analyses[svc]; ok && a.Candidate == pr.Candidate {
			pv.Analysis = &a
		}
		pv.Hold = hold(pr, pv.Analysis)
		pv.Timeline = timeline(pr, timelines[svc])
		if v.Decide {
			pv.Actions = actions(pr)
		}
		v.Promotions = append(v.Promotions, pv)
	}
	return v
}

// decides is whether the page takes decisions.
func (p *Page) decides() bool { return p.Store != nil && p.Auth != nil }

// hold says why a promotion does not move now, in words.
func hold(p notify.Promotion, a *notify.AnalysisResult) string {
	switch p.Phase {
	case "WaitingForApproval":
		who := "an approver"
		if len(p.Approvers) > 0 {
			who = strings.Join(p.Approvers, ", ")
		}
		return fmt.Sprintf("waiting for approval of the step to %d%% by %s", p.WaitingFor(), who)
	case "Progressing":
		if p.Reason != "" {
			return p.Reason
		}
		if a != nil && a.Verdict != notify.Pass {
			return "analysis " + a.Verdict + ": " + a.Summary
		}
		return ""
	}
	return p.Reason
}

// timeline is each wave's steps over time: where it started, then each
// step it took.
func timeline(p notify.Promotion, entries []entry) []waveTimeline {
	var out []waveTimeline
	for _, w := range p.Waves {
		wt := waveTimeline{Wave: w.Wave}
		for _, e := range entries {
			if e.Kind == "stepped" && e.Wave == w.Wave {
				wt.Steps = append(wt.Steps, e)
			}
		}
		if n := len(wt.Steps); n == 0 || wt.Steps[n-1].Weight != w.Weight {
			// Steps taken before this daemon started: where it stands.
			wt.Steps = append(wt.Steps, entry{Kind: "stepped", Wave: w.Wave, Weight: w.Weight, At: w.Since})
		}
		out = append(out, wt)
	}
	return out
}

// actions are the decisions that apply to the promotion as it stands.
func actions(p notify.Promotion) []action {
	switch p.Phase {
	case "WaitingForApproval":
		w := p.WaitingFor()
		return []action{
			{notify.DecisionApprove, fmt.Sprintf("Approve %d%%", w), w},
			{notify.DecisionReject, fmt.Sprintf("Reject %d%%", w), w},
			{notify.DecisionPause, "Pause", 0},
		}
	case "Progressing":
		return []action{{notify.DecisionPause, "Pause", 0}}
	case "Paused":
		return []action{{notify.DecisionResume, "Resume", 0}}
	}
	return nil
}

// services are the rows of the fleet grid: every service the newest
// commit declares and every promotion, with what each cluster serves.
func services(st notify.Status, promos map[string]notify.Promotion, intents []commitIntents, clusters []string) []serviceRow {
	rows := map[string]*serviceRow{}
	row := func(name, ns string) *serviceRow {
		if r, ok := rows[name]; ok {
			return r
		}
		r := &serviceRow{Name: name, Namespace: ns}
		rows[name] = r
		return r
	}
	if len(intents) > 0 {
		for name, s := range intents[0].intents.Services {
			row(name, s.Namespace)
		}
	}
	for name, pr := range promos {
		row(name, pr.Namespace)
	}
	var out []serviceRow
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		r := rows[name]
		for _, cl := range clusters {
			r.Cells = append(r.Cells, serves(name, st.Clusters[cl], cl, promos, intents))
		}
		out = append(out, *r)
	}
	return out
}

// serves is what a cluster serves of a service: the canary's split in
// its wave, or the default route's weights of the commit it holds.
func serves(svc string, c notify.ClusterStatus, cluster string, promos map[string]notify.Promotion, intents []commitIntents) string {
	if c.Commit == "" {
		return "—"
	}
	var in *schema.Intents
	for _, ci := range intents {
		if ci.hash == c.Commit {
			in = ci.intents
			if view, ok := in.ClusterViews()[cluster]; ok && view != nil {
				in = view
			}
		}
	}
	s, declared := (*schema.Service)(nil), false
	if in != nil {
		s, declared = in.Services[svc]
	}
	if pr, ok := promos[svc]; ok && (declared && s.Canary != nil || in == nil) {
		w := pr.WeightIn(c.Wave)
		return fmt.Sprintf("%s %d · %s %d", pr.Stable, 100-w, pr.Candidate, w)
	}
	if in == nil {
		return "?"
	}
	if !declared {
		return "—"
	}
	for i := len(s.Routes) - 1; i >= 0; i-- {
		r := s.Routes[i]
		if len(r.Match) > 0 {
			continue
		}
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(r.To)) {
			parts = append(parts, fmt.Sprintf("%s %d", v, r.To[v]))
		}
		for _, d := range r.Destinations {
			parts = append(parts, fmt.Sprintf("%s %d", cmp.Or(d.Version, d.Host), d.Weight))
		}
		if len(parts) > 0 {
			return strings.Join(parts, " · ")
		}
	}
	return "routes only"
}

// clock is how the page prints a time: UTC, to the second.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"clock": clock,
	"date":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": notify.Short,
	"lower": strings.ToLower,
	"num":   num,
}).ParseFS(assets, "assets/*.html"))

// frame is the page rendered: its sections as HTML, and a sentence for
// screen readers about what just happened.
type frame struct {
	Fleet      string `json:"fleet"`
	Commits    string `json:"commits"`
	Promotions string `json:"promotions"`
	Summary    string `json:"summary,omitempty"`
	seq        uint64
}

// render renders the page as it stands, once per change.
func (p *Page) render() (frame, error) {
	p.mu.Lock()
	p.init()
	if p.cached != nil && p.cached.seq == p.seq {
		f := *p.cached
		p.mu.Unlock()
		return f, nil
	}
	seq, summary := p.seq, p.summary
	timelines := maps.Clone(p.timelines)
	for k, v := range timelines {
		timelines[k] = slices.Clone(v)
	}
	intents := slices.Clone(p.intents)
	p.mu.Unlock()

	v := p.build(p.Model.Snapshot(), timelines, intents)
	f := frame{Summary: summary, seq: seq}
	for name, dst := range map[string]*string{"fleet": &f.Fleet, "commits": &f.Commits, "promotions": &f.Promotions} {
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, name, v); err != nil {
			return frame{}, fmt.Errorf("page: section %s: %w", name, err)
		}
		*dst = b.String()
	}
	p.mu.Lock()
	if p.cached == nil || p.cached.seq < seq {
		p.cached = &f
	}
	p.mu.Unlock()
	return f, nil
}

// describe is one sentence about an event, for the page's live region;
// empty for events nobody needs to hear about.
func describe(e notify.Event) string {
	switch e := e.(type) {
	case notify.CommitRejected:
		return fmt.Sprintf("Commit %s rejected: %s.", e.Commit.Short(), e.Reason)
	case notify.CommitApplied:
		return fmt.Sprintf("Commit %s applied to every cluster.", e.Commit.Short())
	case notify.ClusterFailed:
		return fmt.Sprintf("Cluster %s failed.", e.Cluster)
	case notify.ClusterUnreachable:
		return fmt.Sprintf("Cluster %s does not answer.", e.Cluster)
	case notify.SourceFailed:
		return "The Git source fails: " + e.Err
	case notify.PromotionStepped:
		return fmt.Sprintf("%s: wave %d now at %d%%.", e.Promotion.Service, e.Wave, e.Weight)
	case notify.ApprovalWaiting:
		return fmt.Sprintf("%s waits for approval of %d%%.", e.Promotion.Service, e.Weight)
	case notify.PromotionDecided:
		return fmt.Sprintf("%s: %s.", e.Promotion.Service, e.Message)
	case notify.PromotionRolledBack:
		return fmt.Sprintf("%s rolled back: %s.", e.Promotion.Service, e.Reason)
	case notify.PromotionPromoted:
		return fmt.Sprintf("%s promoted.", e.Promotion.Service)
	}
	return ""
}

// num prints a measurement or a bound: four significant digits at most.
func num(v any) string {
	switch v := v.(type) {
	case *float64:
		if v == nil {
			return ""
		}
		return num(*v)
	case float64:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return fmt.Sprint(v)
}
