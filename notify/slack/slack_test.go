package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
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

// fixed is an analyzer with a set answer.
type fixed struct{ a promote.Analysis }

func (f *fixed) Analyze(context.Context, promote.Target, schema.Analysis) promote.Analysis {
	return f.a
}

// promotion drives a promotion through the pure state machine, as the
// controller does, telling the notifier of every transition, until the
// phase is done. approve is called when it waits for an approval.
func promotion(t *testing.T, s *Slack, svc *schema.Service, an promote.Analyzer, approve func(st *promote.State, now time.Time) *promote.Event) *promote.State {
	t.Helper()
	now := t0
	st := promote.NewState("reviews", svc, []int{1, 2}, now)
	s.Notify(t.Context(), st, st.History[0])
	for i := 0; i < 50 && !st.Phase.Done(); i++ {
		now = now.Add(10 * time.Second)
		g := promote.Gate{Open: true}
		if st.Waves[0].Weight > 0 {
			g.Analysis = an.Analyze(t.Context(), promote.Target{Service: st.Service, Version: st.Candidate}, svc.Canary.Analysis)
		}
		e := st.Advance(svc.Canary, now, g)
		if e == nil && st.Phase == promote.WaitingForApproval {
			e = approve(st, now)
		}
		if e != nil {
			s.Notify(t.Context(), st, *e)
		}
	}
	return st
}

// TestWholePromotionInSlack: one root message per promotion, posted once
// and then updated with the progress; every transition a reply in its
// thread; the approval buttons on the root while it waits, replaced by who
// approved; a new candidate gets a new root, and its rollback names the
// failing check.
func TestWholePromotionInSlack(t *testing.T) {
	f := newFakeSlack(t)
	s, _ := startSlack(t, f, Config{Channel: "#sailplan", Clusters: func() map[int][]string { return map[int][]string{1: {"c1"}, 2: {"c2", "c3"}} }})
	svc := canary(t, "v2", `{"atWeights": [50], "slack": {"channel": "#deploys"}, "approvers": ["UALICE"]}`)
	an := s.Analyzer(&fixed{promote.Analysis{Verdict: promote.Pass, Summary: "success 99.95% (min 99.00%), p99 20ms (max 100ms), 3000 requests"}})
	st := promotion(t, s, svc, an, func(st *promote.State, now time.Time) *promote.Event {
		e, err := st.Decide(true, 50, "slack:UALICE:alice", now)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	if st.Phase != promote.Promoted {
		t.Fatalf("phase %s (%s), want Promoted", st.Phase, st.Reason)
	}
	drain(t, s)
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
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "reviews Progressing: step to 50% approved by slack:UALICE:alice"},
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
	got := f.take()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Slack calls for a whole promotion (-want +got):\n%s", diff)
	}
	// The root after the approval says who approved, and has no buttons.
	m := promotionRoot(st, view{})
	if !strings.Contains(blocksJSON(t, m), "Approved by \\u003c@UALICE\\u003e at \\u003c!date^") {
		t.Errorf("root message after the approval does not say who approved when:\n%s", blocksJSON(t, m))
	}

	// The next candidate fails its analysis: a new root, and the rollback
	// names the failing check.
	failing := &fixed{promote.Analysis{Verdict: promote.Fail, Summary: "success rate 95.00% < 99.00%"}}
	st = promotion(t, s, canary(t, "v3", ""), s.Analyzer(failing), nil)
	drain(t, s)
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

func blocksJSON(t *testing.T, m message) string {
	t.Helper()
	b, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRestartUpdatesTheRootMessage: a notifier that starts again (a new
// leader, a restarted daemon) finds the root message in the ref store and
// updates it; an abort is a reply in the same thread.
func TestRestartUpdatesTheRootMessage(t *testing.T) {
	f := newFakeSlack(t)
	refs := &MemoryRefs{}
	svc := canary(t, "v2", "")
	st := promote.NewState("reviews", svc, []int{1}, t0)
	first, _ := startSlack(t, f, Config{Channel: "#sailplan", Refs: refs})
	first.Notify(t.Context(), st, st.History[0])
	drain(t, first)
	f.take()

	second, _ := startSlack(t, f, Config{Channel: "#sailplan", Refs: refs})
	e, err := st.Abort("bob", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	second.Notify(t.Context(), st, *e)
	drain(t, second)
	want := []call{
		{Method: "chat.update", Channel: "CSAILPLAN", TS: "1700000000.000001", Text: "reviews: v1 → v2, Aborted (wave 1: 0%)"},
		{Method: "chat.postMessage", Channel: "CSAILPLAN", Thread: "1700000000.000001", Text: "reviews Aborted: aborted by bob"},
	}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
}

// TestRetriesHonourRetryAfter: a 429 waits exactly its Retry-After, a 503
// backs off, and the message is then delivered once.
func TestRetriesHonourRetryAfter(t *testing.T) {
	f := newFakeSlack(t)
	s, sleeps := startSlack(t, f, Config{Channel: "#sailplan", Retry: Retry{Attempts: 5, Initial: time.Second, Max: time.Minute}})
	f.fail("chat.postMessage", 429, "7")
	f.fail("chat.postMessage", 503, "")
	f.fail("chat.postMessage", 500, "")
	rev := &source.Revision{Commit: "0123456789abcdef0123456789abcdef01234567", Author: "Ann", Message: "reviews: 50/50\n\nbody"}
	s.CommitApplied(t.Context(), rev, map[string]apply.ClusterStatus{"c1": {State: apply.StateSynced, Wave: 1, Counts: map[apply.Action]int{apply.Configured: 1}}})
	drain(t, s)
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
	s, sleeps := startSlack(t, f, Config{Channel: "#sailplan"})
	f.fail("chat.postMessage", 404, "")
	s.CommitRejected(t.Context(), "0123456789abcdef0123456789abcdef01234567", nil, errors.New("signature: unsigned commit"))
	drain(t, s)
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
	s, _ := startSlack(t, f, Config{Channel: "#sailplan"})
	var lines []string
	for i := 1; i <= 7; i++ {
		lines = append(lines, fmt.Sprintf("reviews.cue:%d:2: services.reviews.namespce: field not allowed (hint: did you mean \"namespace\"?)%s", i, strings.Repeat(" x", 100*(i%2))))
	}
	rev := &source.Revision{Commit: "89abcdef0123456789abcdef0123456789abcdef", Author: "Ann", Message: "typo"}
	s.CommitRejected(t.Context(), rev.Commit, rev, errors.New(strings.Join(lines, "\n")))
	// Nothing changed anywhere: quiet.
	s.CommitApplied(t.Context(), rev, map[string]apply.ClusterStatus{"c1": {State: apply.StateSynced, Counts: map[apply.Action]int{apply.Unchanged: 4}}})
	drain(t, s)
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
	root, _ := commitRejected(rev.Commit, rev, errors.New(strings.Join(lines, "\n")))
	if b := blocksJSON(t, root); !strings.Contains(b, "…and 2 more.") || !strings.Contains(b, "sailplan validate") {
		t.Errorf("rejected message does not point to the rest and the full text:\n%s", b)
	}
}

// TestQueueNeverBlocks: with Slack not answering at all, notifications
// return at once and the overflow is dropped.
func TestQueueNeverBlocks(t *testing.T) {
	f := newFakeSlack(t)
	s := NewSlack(Config{Client: f.client(), Channel: "#sailplan", QueueSize: 2})
	// Not running: nothing is delivered, and pushes must still return.
	rev := &source.Revision{Commit: "0123456789abcdef0123456789abcdef01234567", Author: "Ann", Message: "m"}
	changed := map[string]apply.ClusterStatus{"c1": {Counts: map[apply.Action]int{apply.Created: 1}}}
	for range 5 {
		s.CommitApplied(t.Context(), rev, changed)
	}
	if got := len(s.q.jobs); got != 2 {
		t.Errorf("%d jobs queued, want the queue's 2", got)
	}
}
