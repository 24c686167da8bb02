package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// canary is a plan of three steps over 10 s with the given approval JSON.
func canary(t *testing.T, candidate, approval string) *schema.Service {
	t.Helper()
	c := &schema.Canary{Stable: "v1", Candidate: candidate, Steps: []int{10, 50, 100}, Every: 10 * time.Second,
		Analysis: schema.Analysis{SuccessRate: 99, LatencyP99: 100 * time.Millisecond, MinRequests: 50, FailureLimit: 1}}
	if approval != "" {
		c.Approval = &schema.Approval{}
		if err := json.Unmarshal([]byte(approval), c.Approval); err != nil {
			t.Fatal(err)
		}
	}
	return &schema.Service{Namespace: "shop", Canary: c}
}

// fixed is an analyzer with an answer the test sets.
type fixed struct {
	mu sync.Mutex
	a  promote.Analysis
}

func (f *fixed) set(a promote.Analysis) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.a = a
}

func (f *fixed) Analyze(context.Context, promote.Target, schema.Analysis) promote.Analysis {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.a
}

// leader is a promotion controller, the leader's, over a home cluster,
// publishing on a bus that the notifier hears, as the daemon wires them;
// the test moves its clock.
type leader struct {
	t     *testing.T
	bus   *notify.Bus
	ctrl  *promote.Controller
	clock time.Time
}

func newLeader(t *testing.T, home kubernetes.Interface, an promote.Analyzer, n *Notifier) *leader {
	l := &leader{t: t, bus: notify.NewBus(), clock: t0}
	l.ctrl = &promote.Controller{Store: promote.NewStore(home, "sailplan-system"), Analyzer: an, Events: l.bus, Now: func() time.Time { return l.clock }}
	l.bus.Subscribe(l.ctrl)
	l.bus.Subscribe(n)
	return l
}

// commit publishes the intents of a commit whose fleet is c1 in wave 1,
// c2 and c3 in wave 2, with one service, reviews, as sync does.
func (l *leader) commit(svc *schema.Service) {
	in := &schema.Intents{
		Fleet:    schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}, "c2": {Wave: 2}, "c3": {Wave: 2}}},
		Services: map[string]*schema.Service{"reviews": svc},
	}
	l.bus.Publish(notify.CommitApplying{At: notify.At{Time: l.clock}, Commit: notify.Commit{Hash: "0123456789abcdef0123456789abcdef01234567"}, Intents: in})
}

func (l *leader) step() {
	l.t.Helper()
	if _, err := l.ctrl.Step(l.t.Context()); err != nil {
		l.t.Fatalf("promotion step: %v", err)
	}
}

func (l *leader) state() *promote.State {
	l.t.Helper()
	st, err := l.ctrl.Store.Get(l.t.Context(), "reviews")
	if err != nil || st == nil {
		l.t.Fatalf("promotion state: %v, %v", st, err)
	}
	return st.State
}

// promotion steps the promotion once per interval until it is done,
// calling decide whenever it waits for an approval.
func (l *leader) promotion(decide func()) *promote.State {
	l.t.Helper()
	l.step()
	for range 50 {
		l.clock = l.clock.Add(10 * time.Second)
		l.step()
		st := l.state()
		if st.Phase.Done() {
			return st
		}
		if st.Phase == promote.WaitingForApproval {
			decide()
		}
	}
	l.t.Fatalf("promotion not done after 50 steps: %+v", l.state())
	return nil
}

// TestWholePromotionInSlack: driven by the events of a real promotion
// controller, one root message per promotion, posted once and then
// updated with the progress; every transition a reply in its thread; the
// approval buttons on the root while it waits, replaced by who approved
// and where; a new candidate gets a new root, and its rollback names the
// failing check.
func TestWholePromotionInSlack(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	an := &fixed{a: promote.Analysis{Verdict: promote.Pass, Summary: "success 99.95% (min 99.00%), p99 20ms (max 100ms), 3000 requests"}}
	l := newLeader(t, fakeHome(), an, n)
	l.commit(canary(t, "v2", `{"atWeights": [50], "slack": {"channel": "#deploys"}, "approvers": ["UALICE"]}`))
	st := l.promotion(func() {
		d := promote.Decision{What: notify.DecisionApprove, Weight: 50, Candidate: "v2", By: "slack:UALICE:alice", Via: "slack"}
		if _, _, err := promote.Decide(t.Context(), l.ctrl.Store, "reviews", d, l.clock); err != nil {
			t.Fatal(err)
		}
	})
	if st.Phase != promote.Promoted {
		t.Fatalf("phase %s (%s), want Promoted", st.Phase, st.Reason)
	}
	drain(t, n)
	const root = "1700000000.000001"
	approve := `sailplan_approve={"s":"reviews","c":"v2","w":50}`
	reject := `sailplan_reject={"s":"reviews","c":"v2","w":50}`
	want := []call{
		{Method: "chat.postMessage", Channel: "#deploys", Text: "reviews: v1 → v2, Progressing (wave 1: 0% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: promotion of v2 started"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 10% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 1: v2 at 10%"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews analysis pass: success 99.95% (min 99.00%), p99 20ms (max 100ms), 3000 requests"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 10% · wave 2: 10%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 2: v2 at 10%"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: approval needed for v2 at 50%", Buttons: []string{approve, reject}},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews WaitingForApproval: step to 50% needs an approval"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 10% · wave 2: 10%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: step to 50% approved by <@UALICE> via slack"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 50% · wave 2: 10%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 1: v2 at 50%"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 50% · wave 2: 50%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 2: v2 at 50%"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 100% · wave 2: 50%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 1: v2 at 100%"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Progressing (wave 1: 100% · wave 2: 100%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: wave 2: v2 at 100%"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "reviews: v1 → v2, Promoted (wave 1: 100% · wave 2: 100%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Promoted: v2 serves all traffic in every wave; make it stable in Git"},
	}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("Slack calls for a whole promotion (-want +got):\n%s", diff)
	}
	// The root, once approved, says who approved where and when, and has
	// no buttons.
	wantNotes := []string{
		"Analysis pass: success 99.95% (min 99.00%), p99 20ms (max 100ms), 3000 requests",
		"✅ Approved by <@UALICE> via slack at " + slackDate(st.Decisions[0].At) + ": step to 50%",
		"Started " + slackDate(t0) + " · `sailplan promote status reviews`",
	}
	if diff := cmp.Diff(wantNotes, f.notes(t, root)); diff != "" {
		t.Errorf("root message notes after the approval (-want +got):\n%s", diff)
	}

	// The next candidate fails its analysis: a new root in the default
	// channel (its intent names none), and the rollback names the
	// failing check.
	an.set(promote.Analysis{Verdict: promote.Fail, Summary: "success rate 95.00% < 99.00%"})
	l.commit(canary(t, "v3", ""))
	st = l.promotion(func() { t.Fatal("v3 needs no approval") })
	drain(t, n)
	const root2 = "1700000000.000013"
	want = []call{
		{Method: "chat.postMessage", Channel: "#sailplan", Text: "reviews: v1 → v3, Progressing (wave 1: 0% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: root2, Text: "reviews Progressing: promotion of v3 started"},
		{Method: "chat.update", Channel: "CSAILPLAN", TS: root2, Text: "reviews: v1 → v3, Progressing (wave 1: 10% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: root2, Text: "reviews Progressing: wave 1: v3 at 10%"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: root2, Text: "reviews analysis fail: success rate 95.00% < 99.00%"},
		{Method: "chat.update", Channel: "CSAILPLAN", TS: root2, Text: "reviews: v1 → v3, RolledBack (wave 1: 0% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: root2, Text: "reviews RolledBack: analysis failed: success rate 95.00% < 99.00%"},
	}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("Slack calls for a rolled back promotion (-want +got):\n%s", diff)
	}
	if st.Phase != promote.RolledBack {
		t.Errorf("phase %s, want RolledBack", st.Phase)
	}
}

// TestRestartUpdatesTheRootMessage: a notifier that starts again with a
// new leader (a restarted daemon) finds the root message in the ref
// store and updates it; an abort from the CLI is a reply in the same
// thread, saying who and where.
func TestRestartUpdatesTheRootMessage(t *testing.T) {
	f := newFakeSlack(t)
	home, refs := fakeHome(), &MemoryRefs{}
	first, _ := startNotifier(t, f, Config{Channel: "#sailplan", Refs: refs})
	l := newLeader(t, home, &fixed{}, first)
	l.commit(canary(t, "v2", ""))
	l.step()
	drain(t, first)
	f.take()

	second, _ := startNotifier(t, f, Config{Channel: "#sailplan", Refs: refs})
	l = newLeader(t, home, &fixed{}, second)
	l.commit(canary(t, "v2", ""))
	if err := l.ctrl.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	abort := promote.Decision{What: notify.DecisionAbort, By: "bob", Via: "cli"}
	if _, _, err := promote.Decide(t.Context(), l.ctrl.Store, "reviews", abort, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	l.step()
	drain(t, second)
	want := []call{
		{Method: "chat.update", Channel: "CSAILPLAN", TS: "1700000000.000001", Text: "reviews: v1 → v2, Aborted (wave 1: 0% · wave 2: 0%)"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: "1700000000.000001", Text: "reviews Aborted: aborted by bob via cli"},
	}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
}

// applied is the event of a commit that configured one object in c1.
func applied(n *Notifier) {
	n.Handle(notify.CommitApplying{Intents: &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}}}}})
	n.Handle(notify.CommitApplied{
		Commit:   notify.Commit{Hash: "0123456789abcdef0123456789abcdef01234567", Author: "Ann", Message: "reviews: 50/50\n\nbody"},
		Clusters: map[string]notify.Counts{"c1": {Configured: 1}},
	})
}

// TestRetriesHonourRetryAfter: a 429 waits exactly its Retry-After, a 503
// backs off, and the message is then delivered once.
func TestRetriesHonourRetryAfter(t *testing.T) {
	f := newFakeSlack(t)
	n, sleeps := startNotifier(t, f, Config{Channel: "#sailplan", Retry: Retry{Attempts: 5, Initial: time.Second, Max: time.Minute}})
	f.fail("chat.postMessage", 429, "7")
	f.fail("chat.postMessage", 503, "")
	f.fail("chat.postMessage", 500, "")
	applied(n)
	drain(t, n)
	want := []call{{Method: "chat.postMessage", Channel: "#sailplan", Text: "Applied 0123456 by Ann: reviews: 50/50 (c1: 1 configured)"}}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if n := f.attemptsOf("chat.postMessage"); n != 4 {
		t.Errorf("chat.postMessage tried %d times, want 4 (429, 503, 500, ok)", n)
	}
	waits := sleeps.got()
	if len(waits) != 3 || waits[0] != 7*time.Second || waits[1] < time.Second || waits[1] > 1200*time.Millisecond || waits[2] < 2*time.Second || waits[2] > 2400*time.Millisecond {
		t.Errorf("waits %v, want [7s, 1s+jitter, 2s+jitter]", waits)
	}
}

// TestPermanentErrorIsNotRetried: Slack's own refusal (not_in_channel)
// cannot be fixed by retrying; the queue moves on.
func TestPermanentErrorIsNotRetried(t *testing.T) {
	f := newFakeSlack(t)
	n, sleeps := startNotifier(t, f, Config{Channel: "#sailplan"})
	f.fail("chat.postMessage", 404, "")
	n.Handle(notify.CommitRejected{Commit: notify.Commit{Hash: "0123456789abcdef0123456789abcdef01234567"}, Reason: notify.RejectedSignature,
		Errors: []string{"signature: unsigned commit"}})
	drain(t, n)
	if n := f.attemptsOf("chat.postMessage"); n != 1 {
		t.Errorf("tried %d times, want 1", n)
	}
	if w := sleeps.got(); len(w) != 0 {
		t.Errorf("waited %v, want no retry", w)
	}
}

// TestRejectedCommitInSlack: the first five errors, trimmed, in the
// channel; the full text in the thread.
func TestRejectedCommitInSlack(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	var lines []string
	for i := 1; i <= 7; i++ {
		lines = append(lines, fmt.Sprintf("reviews.cue:%d:2: services.reviews.namespce: field not allowed (hint: did you mean \"namespace\"?)%s", i, strings.Repeat(" x", 100*(i%2))))
	}
	c := notify.Commit{Hash: "89abcdef0123456789abcdef0123456789abcdef", Author: "Ann", Message: "typo"}
	rejected := notify.CommitRejected{Commit: c, Reason: notify.RejectedInvalid, Errors: lines}
	n.Handle(rejected)
	// Nothing changed anywhere: quiet.
	n.Handle(notify.CommitApplied{Commit: c, Clusters: map[string]notify.Counts{"c1": {Unchanged: 4}}})
	drain(t, n)
	got := f.take()
	if len(got) != 2 {
		t.Fatalf("got %d calls, want the message and one reply with the full text: %+v", len(got), got)
	}
	trimmed := make([]string, 5)
	for i := range trimmed {
		trimmed[i] = trim(lines[i], errorLineLen)
	}
	want := []call{
		{Method: "chat.postMessage", Channel: "#sailplan", Text: "Rejected 89abcde by Ann: " + strings.Join(trimmed, "; ")},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: "1700000000.000001", Text: strings.Join(lines, "\n") + "\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejected commit (-want +got):\n%s", diff)
	}
	if notes := f.notes(t, "1700000000.000001"); len(notes) != 1 || !strings.Contains(notes[0], "…and 2 more.") || !strings.Contains(notes[0], "sailplan validate") {
		t.Errorf("rejected message does not point to the rest and the full text: %q", notes)
	}
}

// TestFallbackTextEscaped: the text that phones show in notifications
// cannot mention the channel or fake a link from a commit's words.
func TestFallbackTextEscaped(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	c := notify.Commit{Hash: "89abcdef0123456789abcdef0123456789abcdef", Author: "Mallory <!channel>", Message: "wake up <https://evil.example|docs>"}
	n.Handle(notify.CommitRejected{Commit: c, Reason: notify.RejectedInvalid, Errors: []string{"a.cue:1:1: <!here>"}})
	drain(t, n)
	got := f.take()
	want := []string{"Rejected 89abcde by Mallory &lt;!channel&gt;: a.cue:1:1: &lt;!here&gt;", "a.cue:1:1: &lt;!here&gt;\n"}
	var texts []string
	for _, c := range got {
		texts = append(texts, c.Text)
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("fallback texts (-want +got):\n%s", diff)
	}
}

// TestQueueNeverBlocks: with Slack not answering at all, Handle returns
// at once and the overflow is dropped.
func TestQueueNeverBlocks(t *testing.T) {
	f := newFakeSlack(t)
	n := New(Config{Client: f.client(), Channel: "#sailplan", QueueSize: 2})
	// Not running: nothing is delivered, and Handle must still return.
	for range 5 {
		applied(n)
	}
	if got := len(n.q.jobs); got != 2 {
		t.Errorf("%d jobs queued, want the queue's 2", got)
	}
}

// TestAmendedPromotionInSlack: a plan changed in Git updates the root and
// says in the thread what changed, who changed it and that it came from Git.
func TestAmendedPromotionInSlack(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	p := notify.Promotion{Service: "reviews", Namespace: "shop", Stable: "v1", Candidate: "v2", Phase: "Paused", Reason: "paused by alice",
		Steps: []int{10, 30, 60, 100}, Waves: []notify.WaveWeight{{Wave: 1, Step: 1, Weight: 30}}, Started: t0}
	n.Handle(notify.PromotionStarted{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}})
	drain(t, n)
	f.take()
	n.Handle(notify.PromotionAmended{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p},
		Message: "plan amended by commit 1a2b3c4: every: 8s → 6s; weights and phase kept", By: "Ann", Via: "git"})
	drain(t, n)
	got := f.take()
	if len(got) != 2 || got[0].Method != "chat.update" || got[1].Method != "chat.postMessage" || got[1].Thread == "" {
		t.Fatalf("calls = %+v, want the root updated and a reply in its thread", got)
	}
	if want := "reviews Paused: plan amended by commit 1a2b3c4: every: 8s → 6s; weights and phase kept by Ann via git"; got[1].Text != want {
		t.Errorf("reply = %q, want %q", got[1].Text, want)
	}
}

// TestWriteBackInSlack: the promotion's thread says where write-back
// committed, or why it did not and what to do.
func TestWriteBackInSlack(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	p := notify.Promotion{Service: "reviews", Namespace: "shop", Stable: "v1", Candidate: "v2", Phase: "Promoted",
		Steps: []int{50, 100}, Waves: []notify.WaveWeight{{Wave: 1, Step: 1, Weight: 100}}, Started: t0}
	n.Handle(notify.PromotionStarted{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}})
	drain(t, n)
	f.take()
	ch := notify.Change{At: notify.At{Time: t0}, Promotion: p}
	for _, tt := range []struct {
		e    notify.Event
		want string
	}{
		{notify.PromotionWrittenBack{Change: ch, Commit: "89abcdef0123456789abcdef0123456789abcdef", Branch: "main", Message: "v2 made stable in Git by commit 89abcde on main"},
			"reviews Promoted: v2 made stable in Git by commit 89abcde on main"},
		{notify.PromotionNotWrittenBack{Change: ch, Reason: "the server refused the push to main: pre-receive hook declined; make v2 stable in Git by hand"},
			"reviews Promoted: not written back to Git: the server refused the push to main: pre-receive hook declined; make v2 stable in Git by hand"},
	} {
		n.Handle(tt.e)
		drain(t, n)
		got := f.take()
		i := slices.IndexFunc(got, func(c call) bool { return c.Method == "chat.postMessage" && c.Thread != "" })
		if i < 0 {
			t.Fatalf("calls = %+v, want a reply in the thread", got)
		}
		if got[i].Text != tt.want {
			t.Errorf("reply = %q, want %q", got[i].Text, tt.want)
		}
	}
}
