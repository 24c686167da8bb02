package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
)

// message is one Slack message, whether it is posted, used as an update
// or only logged. Text is the fallback that phones show in notifications
// and that the log notifier writes; Blocks are what Slack renders.
type message struct {
	Kind   string
	Text   string
	Blocks []slack.Block
}

// Message kinds, as logged.
const (
	kindCommitApplied  = "commit-applied"
	kindCommitRejected = "commit-rejected"
	kindCommitErrors   = "commit-errors"
	kindPromotion      = "promotion"
	kindPromotionEvent = "promotion-event"
	kindAnalysis       = "analysis"
	kindEphemeral      = "ephemeral"
)

// Action IDs of the approval buttons.
const (
	actionApprove = "sailplan_approve"
	actionReject  = "sailplan_reject"
)

// Slack's limits: a section's text holds 3000 characters; a few less
// leaves room for the code fences.
const (
	sectionLimit  = 2900
	errorLines    = 5   // validation errors shown in the channel message
	errorLineLen  = 160 // characters of each, so that a phone shows them whole
	errorChunks   = 5   // thread replies holding the full text
	maxWaveFields = 10  // a section holds 10 fields
)

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func section(s string) *slack.SectionBlock { return slack.NewSectionBlock(mrkdwn(s), nil, nil) }

func note(parts ...string) *slack.ContextBlock {
	els := make([]slack.MixedElement, 0, len(parts))
	for _, p := range parts {
		els = append(els, mrkdwn(p))
	}
	return slack.NewContextBlock("", els...)
}

// esc escapes the three characters Slack's mrkdwn treats as markup, so
// that text from commits and errors cannot mention @channel or fake links.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// trim shortens s to n characters, on a rune boundary.
func trim(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// slackDate renders t in the reader's own time zone; the fallback is UTC.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// ByPrefix marks decisions taken in Slack in the promotion state, where
// the CLI shows them: "slack:U024BE7LH:alice".
const ByPrefix = "slack:"

// slackBy is how a Slack user is recorded as a decision's author.
func slackBy(u slack.User) string {
	name := u.Name
	if name == "" {
		name = u.Username
	}
	return ByPrefix + u.ID + ":" + name
}

var slackByRE = regexp.MustCompile(`^slack:([UW][A-Z0-9]+):`)

// who renders a decision's author: a mention for Slack users (Slack shows
// their current name), the recorded name for everyone else.
func who(by string) string {
	if m := slackByRE.FindStringSubmatch(by); m != nil {
		return "<@" + m[1] + ">"
	}
	return esc(by)
}

// approverRef renders an approver ID as a mention of the user or group.
func approverRef(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}

// counts renders a cluster's object counts by action: "2 created, 1 configured".
func counts(c map[apply.Action]int) string {
	var parts []string
	for _, a := range []apply.Action{apply.Created, apply.Configured, apply.Pruned} {
		if n := c[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// wrote reports whether any cluster had an object written.
func wrote(clusters map[string]apply.ClusterStatus) bool {
	for _, c := range clusters {
		if c.Counts[apply.Created]+c.Counts[apply.Configured]+c.Counts[apply.Pruned] > 0 {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// commitApplied is the message for a commit applied to the fleet.
func commitApplied(rev *source.Revision, clusters map[string]apply.ClusterStatus) message {
	names := make([]string, 0, len(clusters))
	for name := range clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	var lines, text []string
	for _, name := range names {
		c := clusters[name]
		state := ""
		if c.State != apply.StateSynced {
			state = " (" + c.State + ")"
		}
		lines = append(lines, fmt.Sprintf("• *%s* wave %d: %s%s", esc(name), c.Wave, counts(c.Counts), esc(state)))
		text = append(text, fmt.Sprintf("%s: %s%s", name, counts(c.Counts), state))
	}
	subject := trim(firstLine(rev.Message), 150)
	head := fmt.Sprintf("✅ Applied `%s` by %s", rev.Short(), esc(rev.Author))
	return message{
		Kind: kindCommitApplied,
		Text: fmt.Sprintf("Applied %s by %s: %s (%s)", rev.Short(), rev.Author, subject, strings.Join(text, "; ")),
		Blocks: []slack.Block{
			section(head + "\n>" + esc(subject)),
			section(trim(strings.Join(lines, "\n"), sectionLimit)),
		},
	}
}

// commitRejected is the message for a refused commit, with the first
// errors, and the thread replies that hold the full text.
func commitRejected(commit string, rev *source.Revision, err error) (message, []message) {
	short, who, subject := source.Short(commit), "", ""
	if rev != nil {
		who, subject = " by "+rev.Author, trim(firstLine(rev.Message), 150)
	}
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			errs = append(errs, l)
		}
	}
	shown := make([]string, 0, errorLines)
	for _, l := range errs[:min(len(errs), errorLines)] {
		shown = append(shown, trim(l, errorLineLen))
	}
	body := "```" + esc(strings.Join(shown, "\n")) + "```"
	more := "Nothing was applied; the last good commit stays. The full text is in the thread; `sailplan validate` at " + short + " shows it too."
	if n := len(errs) - len(shown); n > 0 {
		more = fmt.Sprintf("…and %d more. ", n) + more
	}
	head := fmt.Sprintf("❌ Rejected `%s`%s", short, esc(who))
	if subject != "" {
		head += "\n>" + esc(subject)
	}
	root := message{
		Kind:   kindCommitRejected,
		Text:   fmt.Sprintf("Rejected %s%s: %s", short, who, strings.Join(shown, "; ")),
		Blocks: []slack.Block{section(head), section(body), note(more)},
	}
	// The full text, in chunks that fit a section, cut at line ends.
	var replies []message
	var chunk strings.Builder
	flush := func() {
		if chunk.Len() > 0 && len(replies) < errorChunks {
			t := chunk.String()
			replies = append(replies, message{Kind: kindCommitErrors, Text: t, Blocks: []slack.Block{section("```" + esc(t) + "```")}})
		}
		chunk.Reset()
	}
	for _, l := range errs {
		l = trim(l, sectionLimit/2)
		if chunk.Len()+len(esc(l))+1 > sectionLimit-200 {
			flush()
		}
		chunk.WriteString(l + "\n")
	}
	flush()
	return root, replies
}

// buttonValue is what an approval button carries: enough to find the
// promotion and to tell a click on a step that has moved from a current one.
type buttonValue struct {
	Service   string `json:"s"`
	Candidate string `json:"c"`
	Weight    int    `json:"w"`
}

func (v buttonValue) encode() string {
	b, _ := json.Marshal(v)
	return string(b)
}

var errBadValue = errors.New("button value: not a sailplan approval")

func decodeButtonValue(s string) (buttonValue, error) {
	var v buttonValue
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("%w: %w", errBadValue, err)
	}
	if v.Service == "" || v.Candidate == "" || v.Weight <= 0 || v.Weight > 100 {
		return v, errBadValue
	}
	return v, nil
}

// view is what a promotion message shows besides the state: the last
// analysis and the clusters of each wave (from the applied intents).
type view struct {
	analysis *promote.Analysis
	clusters map[int][]string
}

// waitingFor is the weight of the step the promotion waits to take, 0
// when it does not wait for an approval.
func waitingFor(st *promote.State) int {
	if st.Phase != promote.WaitingForApproval || len(st.Waves) == 0 {
		return 0
	}
	next := st.Waves[0].Step + 1
	if next < 0 || next >= len(st.Steps) {
		return 0
	}
	return st.Steps[next]
}

func phaseIcon(p promote.Phase) string {
	switch p {
	case promote.Progressing:
		return "🚦"
	case promote.WaitingForApproval:
		return "✋"
	case promote.Paused:
		return "⏸️"
	case promote.Promoted:
		return "🎉"
	case promote.RolledBack:
		return "⏪"
	case promote.Aborted:
		return "🛑"
	}
	return "•"
}

// waveLine renders every wave's weight on one line: "wave 1: 50% · wave 2: 10%".
func waveLine(st *promote.State) string {
	parts := make([]string, 0, len(st.Waves))
	for _, w := range st.Waves {
		parts = append(parts, fmt.Sprintf("wave %d: %d%%", w.Wave, w.Weight))
	}
	return strings.Join(parts, " · ")
}

func analysisLine(a *promote.Analysis) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("Analysis %s: %s", a.Verdict, esc(trim(a.Summary, 500)))
}

// promotionRoot is a promotion's channel message: where it stands now. It
// is posted once and then updated, so the channel shows one line per
// promotion; the approval buttons live here while it waits.
func promotionRoot(st *promote.State, v view) message {
	title := fmt.Sprintf("%s %s: %s → %s", phaseIcon(st.Phase), st.Service, st.Stable, st.Candidate)
	status := "*" + string(st.Phase) + "*"
	if len(st.Waves) > 0 && st.Waves[0].Step >= 0 {
		status += fmt.Sprintf(" · step %d of %d", st.Waves[0].Step+1, len(st.Steps))
	}
	if st.Reason != "" {
		status += "\n" + esc(trim(st.Reason, 500))
	}
	blocks := []slack.Block{slack.NewHeaderBlock(plain(trim(title, 150))), section(status)}
	var fields []*slack.TextBlockObject
	for _, w := range st.Waves[:min(len(st.Waves), maxWaveFields)] {
		f := fmt.Sprintf("*Wave %d*\n%d%%", w.Wave, w.Weight)
		if cs := v.clusters[w.Wave]; len(cs) > 0 {
			f += " · " + esc(trim(strings.Join(cs, ", "), 80))
		}
		fields = append(fields, mrkdwn(f))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	if l := analysisLine(v.analysis); l != "" {
		blocks = append(blocks, note(l))
	}
	for _, d := range st.Decisions {
		verb := "✅ Approved"
		if !d.Approved {
			verb = "❌ Rejected"
		}
		blocks = append(blocks, note(fmt.Sprintf("%s by %s at %s: step to %d%%", verb, who(d.By), slackDate(d.At), d.Weight)))
	}
	text := fmt.Sprintf("%s: %s → %s, %s (%s)", st.Service, st.Stable, st.Candidate, st.Phase, waveLine(st))
	if w := waitingFor(st); w > 0 {
		blocks = append(blocks, approvalBlocks(st, w, v)...)
		text = fmt.Sprintf("%s: approval needed for %s at %d%%", st.Service, st.Candidate, w)
	}
	blocks = append(blocks, note("Started "+slackDate(st.Started)+" · `sailplan promote status "+esc(st.Service)+"`"))
	return message{Kind: kindPromotion, Text: text, Blocks: blocks}
}

// approvalBlocks say what an approval decides, and carry the buttons.
func approvalBlocks(st *promote.State, weight int, v view) []slack.Block {
	lead := st.Waves[0] // waitingFor checked there is one
	what := fmt.Sprintf("*Approval needed:* %s to *%d%%* of %s traffic in wave %d", esc(st.Candidate), weight, esc(st.Service), lead.Wave)
	if cs := v.clusters[lead.Wave]; len(cs) > 0 {
		what += " (" + esc(strings.Join(cs, ", ")) + ")"
	}
	what += fmt.Sprintf("\nNow: %s", waveLine(st))
	if l := analysisLine(v.analysis); l != "" {
		what += "\n" + l
	}
	if len(st.Approvers) > 0 {
		refs := make([]string, 0, len(st.Approvers))
		for _, a := range st.Approvers {
			refs = append(refs, approverRef(a))
		}
		what += "\nApprovers: " + strings.Join(refs, " ")
	}
	val := buttonValue{Service: st.Service, Candidate: st.Candidate, Weight: weight}.encode()
	approve := slack.NewButtonBlockElement(actionApprove, val, plain(fmt.Sprintf("Approve %d%%", weight))).WithStyle(slack.StylePrimary)
	reject := slack.NewButtonBlockElement(actionReject, val, plain("Reject")).WithStyle(slack.StyleDanger).
		WithConfirm(slack.NewConfirmationBlockObject(plain("Reject and roll back?"),
			plain(fmt.Sprintf("%s goes back to 0%% in every wave.", st.Candidate)), plain("Roll back"), plain("Cancel")))
	return []slack.Block{section(trim(what, sectionLimit)), slack.NewActionBlock("sailplan_approval", approve, reject)}
}

// promotionEvent is a thread reply for one transition.
func promotionEvent(st *promote.State, e promote.Event, v view) message {
	var line string
	switch {
	case e.Phase == promote.WaitingForApproval:
		line = fmt.Sprintf("✋ Waiting for approval of the step to %d%% (%s)", e.Weight, waveLine(st))
	case e.Phase == promote.Progressing && e.By == "" && e.Weight > 0:
		line = fmt.Sprintf("➡️ Wave %d at %d%% (%s)", e.Wave, e.Weight, waveLine(st))
	case e.Phase == promote.Progressing && e.By != "":
		line = "✅ " + strings.Replace(esc(e.Message), esc(e.By), who(e.By), 1)
	case e.Phase == promote.Progressing:
		line = "🚦 " + esc(e.Message)
	case e.Phase == promote.Promoted:
		line = "🎉 Promoted: " + esc(e.Message)
	case e.Phase == promote.RolledBack:
		line = "⏪ Rolled back: " + strings.Replace(esc(e.Message), esc(e.By), who(e.By), 1)
	case e.Phase == promote.Aborted:
		line = "🛑 Aborted: " + strings.Replace(esc(e.Message), esc(e.By), who(e.By), 1)
	default:
		line = phaseIcon(e.Phase) + " " + esc(e.Message)
	}
	blocks := []slack.Block{section(line)}
	if l := analysisLine(v.analysis); l != "" && e.Phase != promote.Aborted {
		blocks = append(blocks, note(l))
	}
	text := fmt.Sprintf("%s %s: %s", st.Service, e.Phase, e.Message)
	return message{Kind: kindPromotionEvent, Text: text, Blocks: blocks}
}

// analysisResult is a thread reply for an analysis whose verdict changed.
func analysisResult(service string, a promote.Analysis) message {
	icon := "🔬"
	if a.Verdict == promote.Fail {
		icon = "⚠️"
	}
	return message{
		Kind:   kindAnalysis,
		Text:   fmt.Sprintf("%s analysis %s: %s", service, a.Verdict, a.Summary),
		Blocks: []slack.Block{section(icon + " " + analysisLine(&a))},
	}
}

func ephemeral(text string) message {
	return message{Kind: kindEphemeral, Text: text, Blocks: []slack.Block{section(esc(text))}}
}
