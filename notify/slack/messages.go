package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// message is one Slack message, whether it is posted, used as an update
// or only logged. Text is the fallback that phones show in notifications
// and that the dry run logs; Blocks are what Slack renders.
type message struct {
	Kind   string
	Text   string
	Blocks []slackapi.Block
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

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, false)
}

func section(s string) *slackapi.SectionBlock { return slackapi.NewSectionBlock(mrkdwn(s), nil, nil) }

func note(parts ...string) *slackapi.ContextBlock {
	els := make([]slackapi.MixedElement, 0, len(parts))
	for _, p := range parts {
		els = append(els, mrkdwn(p))
	}
	return slackapi.NewContextBlock("", els...)
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

// via is where a decision taken with a button is recorded as taken.
const via = "slack"

// slackBy is how a Slack user is recorded as a decision's author.
func slackBy(u slackapi.User) string {
	name := u.Name
	if name == "" {
		name = u.Username
	}
	return ByPrefix + u.ID + ":" + name
}

var slackByRE = regexp.MustCompile(`^slack:([UW][A-Z0-9]+):`)

// who renders a decision's author: a mention for Slack users (Slack shows
// their current name), the recorded name for everyone else.
func who(by string) string { return name(by, esc) }

// name is who with quote for names that are no mention: esc in blocks,
// nothing in the fallback text, which Slack shows as it is.
func name(by string, quote func(string) string) string {
	if m := slackByRE.FindStringSubmatch(by); m != nil {
		return "<@" + m[1] + ">"
	}
	return quote(by)
}

// asIs is the quote of the fallback text.
func asIs(s string) string { return s }

// approverRef renders an approver ID as a mention of the user or group.
func approverRef(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}

// counts renders a cluster's object counts by action: "2 created, 1 configured".
func counts(c notify.Counts) string {
	var parts []string
	for _, a := range []struct {
		n    int
		what string
	}{{c.Created, "created"}, {c.Configured, "configured"}, {c.Pruned, "pruned"}} {
		if a.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", a.n, a.what))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

// wrote reports whether any cluster had an object written.
func wrote(clusters map[string]notify.Counts) bool {
	for _, c := range clusters {
		if c.Wrote() {
			return true
		}
	}
	return false
}

// by renders a commit's author for a headline: " by Ann", or nothing
// when the commit was refused before it was read.
func by(c notify.Commit) string {
	if c.Author == "" {
		return ""
	}
	return " by " + c.Author
}

// commitApplied is the message for a commit applied to the fleet; waves
// gives each cluster's wave, where the intents are known.
func commitApplied(e notify.CommitApplied, waves map[string]int) message {
	var lines, text []string
	for _, name := range slices.Sorted(maps.Keys(e.Clusters)) {
		c := e.Clusters[name]
		wave := ""
		if w, ok := waves[name]; ok {
			wave = fmt.Sprintf(" wave %d", w)
		}
		lines = append(lines, fmt.Sprintf("• *%s*%s: %s", esc(name), wave, counts(c)))
		text = append(text, fmt.Sprintf("%s: %s", name, counts(c)))
	}
	subject := trim(e.Commit.Subject(), 150)
	head := fmt.Sprintf("✅ Applied `%s`%s", e.Commit.Short(), esc(by(e.Commit)))
	return message{
		Kind: kindCommitApplied,
		// The fallback text is what phones show; a commit's words must not
		// mention the channel or make links there either.
		Text: esc(fmt.Sprintf("Applied %s%s: %s (%s)", e.Commit.Short(), by(e.Commit), subject, strings.Join(text, "; "))),
		Blocks: []slackapi.Block{
			section(head + "\n>" + esc(subject)),
			section(trim(strings.Join(lines, "\n"), sectionLimit)),
		},
	}
}

// commitRejected is the message for a refused commit, with the first
// errors, and the thread replies that hold the full text.
func commitRejected(e notify.CommitRejected) (message, []message) {
	short, subject := e.Commit.Short(), trim(e.Commit.Subject(), 150)
	var errs []string
	for _, l := range e.Errors {
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
	head := fmt.Sprintf("❌ Rejected `%s`%s", short, esc(by(e.Commit)))
	if subject != "" {
		head += "\n>" + esc(subject)
	}
	root := message{
		Kind:   kindCommitRejected,
		Text:   esc(fmt.Sprintf("Rejected %s%s: %s", short, by(e.Commit), strings.Join(shown, "; "))),
		Blocks: []slackapi.Block{section(head), section(body), note(more)},
	}
	// The full text, in chunks that fit a section, cut at line ends.
	var replies []message
	var chunk strings.Builder
	flush := func() {
		if chunk.Len() > 0 && len(replies) < errorChunks {
			t := chunk.String()
			replies = append(replies, message{Kind: kindCommitErrors, Text: esc(t), Blocks: []slackapi.Block{section("```" + esc(t) + "```")}})
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

// view is what a promotion message shows besides the promotion: the last
// analysis of its candidate and the clusters of each wave (from the
// intents being applied).
type view struct {
	analysis *notify.AnalysisResult
	clusters map[int][]string
}

func phaseIcon(phase string) string {
	switch promote.Phase(phase) {
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
func waveLine(p notify.Promotion) string {
	parts := make([]string, 0, len(p.Waves))
	for _, w := range p.Waves {
		parts = append(parts, fmt.Sprintf("wave %d: %d%%", w.Wave, w.Weight))
	}
	return strings.Join(parts, " · ")
}

func analysisLine(a *notify.AnalysisResult) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("Analysis %s: %s", a.Verdict, esc(trim(a.Summary, 500)))
}

// promotionRoot is a promotion's channel message: where it stands now. It
// is posted once and then updated, so the channel shows one line per
// promotion; the approval buttons live here while it waits.
func promotionRoot(p notify.Promotion, v view) message {
	title := fmt.Sprintf("%s %s: %s → %s", phaseIcon(p.Phase), p.Service, p.Stable, p.Candidate)
	status := "*" + p.Phase + "*"
	if len(p.Waves) > 0 && p.Waves[0].Step >= 0 {
		status += fmt.Sprintf(" · step %d of %d", p.Waves[0].Step+1, len(p.Steps))
	}
	if p.Reason != "" {
		status += "\n" + esc(trim(p.Reason, 500))
	}
	blocks := []slackapi.Block{slackapi.NewHeaderBlock(plain(trim(title, 150))), section(status)}
	var fields []*slackapi.TextBlockObject
	for _, w := range p.Waves[:min(len(p.Waves), maxWaveFields)] {
		f := fmt.Sprintf("*Wave %d*\n%d%%", w.Wave, w.Weight)
		if cs := v.clusters[w.Wave]; len(cs) > 0 {
			f += " · " + esc(trim(strings.Join(cs, ", "), 80))
		}
		fields = append(fields, mrkdwn(f))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil))
	}
	if l := analysisLine(v.analysis); l != "" {
		blocks = append(blocks, note(l))
	}
	for _, d := range p.Decisions {
		verb := "✅ Approved"
		if !d.Approved {
			verb = "❌ Rejected"
		}
		blocks = append(blocks, note(fmt.Sprintf("%s%s at %s: step to %d%%", verb, decided("", d.By, d.Via, esc), slackDate(d.At), d.Weight)))
	}
	text := fmt.Sprintf("%s: %s → %s, %s (%s)", p.Service, p.Stable, p.Candidate, p.Phase, waveLine(p))
	if w := p.WaitingFor(); w > 0 {
		blocks = append(blocks, approvalBlocks(p, w, v)...)
		text = fmt.Sprintf("%s: approval needed for %s at %d%%", p.Service, p.Candidate, w)
	}
	blocks = append(blocks, note("Started "+slackDate(p.Started)+" · `sailplan promote status "+esc(p.Service)+"`"))
	return message{Kind: kindPromotion, Text: text, Blocks: blocks}
}

// approvalBlocks say what an approval decides, and carry the buttons.
func approvalBlocks(p notify.Promotion, weight int, v view) []slackapi.Block {
	lead := p.Waves[0] // WaitingFor checked there is one
	what := fmt.Sprintf("*Approval needed:* %s to *%d%%* of %s traffic in wave %d", esc(p.Candidate), weight, esc(p.Service), lead.Wave)
	if cs := v.clusters[lead.Wave]; len(cs) > 0 {
		what += " (" + esc(strings.Join(cs, ", ")) + ")"
	}
	what += fmt.Sprintf("\nNow: %s", waveLine(p))
	if l := analysisLine(v.analysis); l != "" {
		what += "\n" + l
	}
	if len(p.Approvers) > 0 {
		refs := make([]string, 0, len(p.Approvers))
		for _, a := range p.Approvers {
			refs = append(refs, approverRef(a))
		}
		what += "\nApprovers: " + strings.Join(refs, " ")
	}
	val := buttonValue{Service: p.Service, Candidate: p.Candidate, Weight: weight}.encode()
	approve := slackapi.NewButtonBlockElement(actionApprove, val, plain(fmt.Sprintf("Approve %d%%", weight))).WithStyle(slackapi.StylePrimary)
	reject := slackapi.NewButtonBlockElement(actionReject, val, plain("Reject")).WithStyle(slackapi.StyleDanger).
		WithConfirm(slackapi.NewConfirmationBlockObject(plain("Reject and roll back?"),
			plain(fmt.Sprintf("%s goes back to 0%% in every wave.", p.Candidate)), plain("Roll back"), plain("Cancel")))
	return []slackapi.Block{section(trim(what, sectionLimit)), slackapi.NewActionBlock("sailplan_approval", approve, reject)}
}

// decisionLead starts a decision's reply; a rejection and an abort say
// what they did to the traffic first.
var decisionLead = map[string]string{
	notify.DecisionApprove: "✅ ",
	notify.DecisionReject:  "⏪ Rolled back: ",
	notify.DecisionPause:   "⏸️ ",
	notify.DecisionResume:  "▶️ ",
	notify.DecisionAbort:   "🛑 Aborted: ",
	notify.DecisionRetry:   "🔁 ",
}

// decided renders a decision's message with who took it (a mention for a
// Slack user) and where; the message names its author as the history
// records it. quote is esc in blocks and asIs in the fallback text.
func decided(message, by, where string, quote func(string) string) string {
	said := quote(message)
	switch {
	case by != "" && strings.Contains(said, quote(by)):
		said = strings.Replace(said, quote(by), name(by, quote), 1)
	case by != "":
		said += " by " + name(by, quote)
	}
	if where != "" {
		said += " via " + quote(where)
	}
	return said
}

// promotionEvent is the thread reply for one transition or decision; ok
// is false for events that get none (a promotion holding).
func promotionEvent(e notify.PromotionEvent, v view) (m message, ok bool) {
	p := e.Current()
	// said is the reply's fallback text; line is what Slack shows.
	var line, said string
	switch e := e.(type) {
	case notify.PromotionStarted:
		said = "promotion of " + p.Candidate + " started"
		line = "🚦 " + esc(said)
	case notify.PromotionStepped:
		said = fmt.Sprintf("wave %d: %s at %d%%", e.Wave, p.Candidate, e.Weight)
		line = fmt.Sprintf("➡️ Wave %d at %d%% (%s)", e.Wave, e.Weight, waveLine(p))
	case notify.ApprovalWaiting:
		said = fmt.Sprintf("step to %d%% needs an approval", e.Weight)
		line = fmt.Sprintf("✋ Waiting for approval of the step to %d%% (%s)", e.Weight, waveLine(p))
	case notify.PromotionDecided:
		said = decided(e.Message, e.By, e.Via, asIs)
		line = decisionLead[e.Decision] + decided(e.Message, e.By, e.Via, esc)
	case notify.PromotionRolledBack:
		said = decided(e.Reason, e.By, "", asIs)
		line = "⏪ Rolled back: " + decided(e.Reason, e.By, "", esc)
	case notify.PromotionPromoted:
		said = p.Reason
		line = "🎉 Promoted: " + esc(p.Reason)
	case notify.PromotionWrittenBack:
		said = e.Message
		line = "📝 " + esc(e.Message)
		if !e.Review {
			line += ": its sync changes no traffic"
		}
	case notify.PromotionNotWrittenBack:
		said = "not written back to Git: " + e.Reason
		line = "⚠️ Not written back to Git: " + esc(e.Reason)
	case notify.PromotionAmended:
		// The plan changed in Git: the root shows the new state (an
		// approval wait it ended takes its buttons away), the thread why.
		said = decided(e.Message, e.By, e.Via, asIs)
		line = "✏️ " + decided(e.Message, e.By, e.Via, esc)
	default:
		return message{}, false
	}
	blocks := []slackapi.Block{section(line)}
	if l := analysisLine(v.analysis); l != "" && p.Phase != string(promote.Aborted) {
		blocks = append(blocks, note(l))
	}
	text := fmt.Sprintf("%s %s: %s", p.Service, p.Phase, said)
	return message{Kind: kindPromotionEvent, Text: text, Blocks: blocks}, true
}

// analysisResult is a thread reply for an analysis whose verdict changed.
func analysisResult(a notify.AnalysisResult) message {
	icon := "🔬"
	if a.Verdict == notify.Fail {
		icon = "⚠️"
	}
	return message{
		Kind:   kindAnalysis,
		Text:   fmt.Sprintf("%s analysis %s: %s", a.Service, a.Verdict, a.Summary),
		Blocks: []slackapi.Block{section(icon + " " + analysisLine(&a))},
	}
}

func ephemeral(text string) message {
	return message{Kind: kindEphemeral, Text: text, Blocks: []slackapi.Block{section(esc(text))}}
}

// clustersByWave lists the fleet's clusters by wave, sorted, for the
// promotion messages; nil intents give nil.
func clustersByWave(clusters map[string]int) map[int][]string {
	if clusters == nil {
		return nil
	}
	out := map[int][]string{}
	for name, wave := range clusters {
		out[wave] = append(out[wave], name)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}
