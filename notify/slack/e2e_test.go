package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	sailsync "github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

var fleetCUE = testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2})

// canaryCUE is a canary of name whose steps at atWeights need an approval
// from UALICE or the group SOPS, in #deploys.
func canaryCUE(ns, name, atWeights string) string {
	return testenv.CanaryCUE(ns, name, `approval: {atWeights: `+atWeights+`, slack: channel: "#deploys", approvers: ["UALICE", "SOPS"]}`)
}

type passing struct{}

func (passing) Analyze(context.Context, promote.Target, schema.Analysis) promote.Analysis {
	return promote.Analysis{Verdict: promote.Pass, Summary: "success 100.00% (min 99.00%), p99 20ms (max 100ms), 600 requests"}
}

// rig is a Git repository applied to the two clusters by a reconciler,
// the leader's promotion controller with a clock the test moves, and the
// Slack notifier, wired as the daemon wires them: through a bus, sync's
// commits reach the controller and the notifier, and the controller's
// transitions and decisions reach sync and the notifier. The interactions
// endpoint runs on a real HTTP server.
type rig struct {
	t     *testing.T
	ns    string
	home  kubernetes.Interface
	repo  *testenv.Repo
	bus   *notify.Bus
	rec   *sailsync.Reconciler
	ctrl  *promote.Controller
	slack *fakeSlack
	n     *Notifier
	h     *Interactions
	url   string
	clock *testenv.Clock
	logs  testenv.LogBuffer
	// outcomes are the interactions' outcomes, as the bus carried them.
	outcomes outcomes
}

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func newRig(t *testing.T) *rig {
	env.Need(t)
	r := &rig{t: t, ns: env.Namespace(t), clock: testenv.NewClock(t0)}
	r.repo = testenv.NewGitServer(t).NewRepo(t, "intents")
	home, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.home = home
	log := slog.New(slog.NewTextHandler(&r.logs, nil))
	r.slack = newFakeSlack(t)
	r.slack.groups["SOPS"] = []string{"UCAROL", "UBOB"}
	r.n, _ = startNotifier(t, r.slack, Config{Channel: "#sailplan", Refs: NewConfigMapRefs(home.CoreV1(), r.ns), Log: log})
	r.bus = notify.NewBus()
	r.ctrl = &promote.Controller{Store: promote.NewStore(home, r.ns), Analyzer: passing{}, Now: r.clock.Now, Log: log, Events: r.bus}
	r.rec = &sailsync.Reconciler{
		Source:     &source.GitSource{URL: r.repo.URL(), Branch: "main"},
		Kubeconfig: env.Kubeconfig,
		Events:     r.bus,
		Options:    apply.Options{ParentNamespace: r.ns},
	}
	r.bus.Subscribe(logs.New(log))
	r.bus.Subscribe(r.rec)
	r.bus.Subscribe(r.ctrl)
	r.bus.Subscribe(r.n)
	t.Cleanup(r.rec.Close)
	r.h = &Interactions{SigningSecret: secret, Store: r.ctrl.Store, Approvers: NewApprovers(r.slack.client()), Slack: r.n, Log: log, Now: r.clock.Now,
		Events: r.bus}
	r.bus.Subscribe(&r.outcomes)
	srv := httptest.NewServer(r.h)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *rig) logText() string { return r.logs.String() }

// weights reads the candidate's weight in c1 and c2's VirtualService.
func (r *rig) weights(service string) [2]int32 {
	r.t.Helper()
	return [2]int32(env.Weights(r.t, r.ns, service, "v2"))
}

func (r *rig) state(service string) *promote.Stored {
	r.t.Helper()
	st, err := r.ctrl.Store.Get(r.t.Context(), service)
	if err != nil || st == nil {
		r.t.Fatalf("promotion state of %s: %v (%v)", service, st, err)
	}
	return st
}

// walk runs promotion steps and syncs, one interval apart, as the
// daemon's loops do, until the phase is until (bounded).
func (r *rig) walk(service string, until promote.Phase) {
	r.t.Helper()
	for range 60 {
		if _, err := r.ctrl.Step(r.t.Context()); err != nil {
			r.t.Fatalf("promotion step: %v", err)
		}
		if err := r.rec.Sync(r.t.Context()); err != nil {
			r.t.Fatalf("sync: %v", err)
		}
		if r.state(service).Phase == until {
			return
		}
		r.clock.Tick(10 * time.Second)
	}
	r.t.Fatalf("%s did not reach %s in 60 steps\n%s", service, until, r.logText())
}

// click is Slack's request for a button click by user, signed with key at ts.
func click(t *testing.T, key string, ts time.Time, user, action, value string) (http.Header, string) {
	t.Helper()
	cb := map[string]any{
		"type":    "block_actions",
		"user":    map[string]string{"id": user, "name": strings.ToLower(strings.TrimPrefix(user, "U"))},
		"channel": map[string]string{"id": "CDEPLOYS"},
		"message": map[string]string{"ts": "1700000000.000001"},
		"actions": []map[string]string{{"type": "button", "action_id": action, "value": value, "block_id": "sailplan_approval"}},
	}
	b, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	body := url.Values{"payload": {string(b)}}.Encode()
	return sign(t, key, ts, body), body
}

func (r *rig) post(h http.Header, body string) int {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.t.Context(), http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSlackApprovalAdvancesThePromotion: signed clicks on the approval
// buttons reach the promotion state through the decision path, and the
// weights in both clusters move. A forged signature, a stale timestamp, a
// user who is not an approver, a click on a step that has moved and a
// second click each change nothing, and the last three are answered. The
// leader, not the click, tells the thread of the decision.
func TestSlackApprovalAdvancesThePromotion(t *testing.T) {
	r := newRig(t)
	r.repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "orders.cue": canaryCUE(r.ns, "orders", "[50]")}, "orders: canary v2")
	if err := r.rec.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.walk("orders", promote.WaitingForApproval)
	if got := r.weights("orders"); got != [2]int32{10, 10} {
		t.Fatalf("waiting for approval at %v, want 10 in c1 and c2", got)
	}
	drain(t, r.n)
	r.slack.take()
	waiting := r.state("orders").Version
	value := `{"s":"orders","c":"v2","w":50}`
	now := time.Now()

	unchanged := func(what string) {
		t.Helper()
		drain(t, r.n)
		if st := r.state("orders"); st.Version != waiting || st.Phase != promote.WaitingForApproval {
			t.Errorf("%s changed the promotion: %s at version %s, want %s", what, st.Phase, st.Version, waiting)
		}
	}

	h, body := click(t, "not-the-secret", now, "UALICE", actionApprove, value)
	if code := r.post(h, body); code != http.StatusUnauthorized {
		t.Errorf("forged signature: HTTP %d, want 401", code)
	}
	unchanged("a forged signature")

	h, body = click(t, secret, now.Add(-6*time.Minute), "UALICE", actionApprove, value)
	if code := r.post(h, body); code != http.StatusUnauthorized {
		t.Errorf("stale timestamp: HTTP %d, want 401", code)
	}
	unchanged("a stale timestamp")

	h, body = click(t, secret, now, "UEVE", actionApprove, value)
	if code := r.post(h, body); code != http.StatusOK {
		t.Errorf("unauthorized user: HTTP %d, want 200 and an answer", code)
	}
	unchanged("a user who is not an approver")

	h, body = click(t, secret, now, "UALICE", actionApprove, `{"s":"orders","c":"v2","w":10}`)
	if code := r.post(h, body); code != http.StatusOK {
		t.Errorf("stale step: HTTP %d, want 200", code)
	}
	unchanged("a click on a step that has moved")

	// Bob is an approver through the SOPS user group.
	h, body = click(t, secret, now, "UBOB", actionApprove, value)
	if code := r.post(h, body); code != http.StatusOK {
		t.Errorf("approval: HTTP %d, want 200", code)
	}
	drain(t, r.n)
	st := r.state("orders")
	if st.Phase != promote.Progressing || len(st.Decisions) != 1 || st.Decisions[0].By != "slack:UBOB:bob" || st.Decisions[0].Via != "slack" || !st.Decisions[0].Approved {
		t.Fatalf("after the approval: %s, decisions %+v; want Progressing with Bob's approval via Slack", st.Phase, st.Decisions)
	}
	approved := st.Version

	// The second click comes through Socket Mode: the same handler.
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(mustPayload(t, body)), &cb); err != nil {
		t.Fatal(err)
	}
	sm := socketmode.New(r.slack.client())
	r.h.socketEvent(t.Context(), sm, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb, Request: &socketmode.Request{EnvelopeID: "e1"}})
	drain(t, r.n)
	if st := r.state("orders"); st.Version != approved {
		t.Errorf("a second click changed the promotion: version %s, want %s", st.Version, approved)
	}
	wantEphemeral := []call{
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UEVE", Text: "You are not allowed to decide the promotion of orders; nothing changed."},
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UALICE", Text: "Your approval of orders at 10% was not applied: orders: waiting for the step to 50%, not 10%."},
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UBOB", Text: "Your approval of orders at 50% was not applied: orders: the step to 50% is already approved by <@UBOB> via slack."},
	}
	// The clicks answer only the users whose click changed nothing.
	if diff := cmp.Diff(wantEphemeral, r.slack.take()); diff != "" {
		t.Errorf("Slack calls of the clicks (-want +got):\n%s", diff)
	}
	// Each is on the bus with its outcome, for /metrics.
	wantOutcomes := []string{notify.InteractionUnauthorized, notify.InteractionUnauthorized, notify.InteractionNotAllowed, notify.InteractionStale,
		notify.InteractionApplied, notify.InteractionStale}
	if diff := cmp.Diff(wantOutcomes, r.outcomes.take()); diff != "" {
		t.Errorf("outcomes published (-want +got):\n%s", diff)
	}

	// The leader's next look publishes the decision: the root message
	// loses its buttons, the thread says who approved where, and the step
	// it approved is taken. (000001 is the applied commit's message.)
	if _, err := r.ctrl.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, r.n)
	const root = "1700000000.000002"
	want := []call{
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "orders: v1 → v2, Progressing (wave 1: 10% · wave 2: 10%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "orders Progressing: step to 50% approved by <@UBOB> via slack"},
		{Method: "chat.update", Channel: "CDEPLOYS", TS: root, Text: "orders: v1 → v2, Progressing (wave 1: 50% · wave 2: 10%)"},
		{Method: "chat.postMessage", Channel: "CDEPLOYS", Thread: root, Text: "orders Progressing: wave 1: v2 at 50%"},
	}
	if diff := cmp.Diff(want, r.slack.take()); diff != "" {
		t.Errorf("Slack calls after the leader's look (-want +got):\n%s", diff)
	}

	r.walk("orders", promote.Promoted)
	if got := r.weights("orders"); got != [2]int32{100, 100} {
		t.Errorf("after the approval: %v, want 100 in c1 and c2", got)
	}
	// The root message is stored in the home cluster for a restarted daemon.
	ref, ok, err := NewConfigMapRefs(r.home.CoreV1(), r.ns).Get(t.Context(), "orders")
	if err != nil || !ok || ref.TS != root || ref.Candidate != "v2" || ref.Channel != "CDEPLOYS" {
		t.Errorf("stored root message: %+v, %v, %v", ref, ok, err)
	}
}

// TestCLIAndSlackDecisionsReadAlike: a decision taken from the CLI
// produces the same notification and audit record as one from Slack.
// The step to 50 % is approved as `sailplan promote approve` does (By is
// the caller's Kubernetes user name, via cli), the step to 100 % with a
// signed click; the leader tells the thread of both in one form, naming
// who and where, the root message lists both, and the history records
// both with who and where.
func TestCLIAndSlackDecisionsReadAlike(t *testing.T) {
	r := newRig(t)
	r.repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "orders.cue": canaryCUE(r.ns, "orders", "[50, 100]")}, "orders: canary v2")
	if err := r.rec.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.walk("orders", promote.WaitingForApproval)

	cli := promote.Decision{What: notify.DecisionApprove, By: "alice@example.com", Via: "cli"}
	if _, _, err := promote.Decide(t.Context(), r.ctrl.Store, "orders", cli, r.clock.Now()); err != nil {
		t.Fatalf("approval from the CLI: %v", err)
	}
	r.clock.Tick(10 * time.Second)
	r.walk("orders", promote.WaitingForApproval)
	if got := r.weights("orders"); got != [2]int32{50, 50} {
		t.Fatalf("waiting for the second approval at %v, want 50 in c1 and c2", got)
	}

	h, body := click(t, secret, time.Now(), "UBOB", actionApprove, `{"s":"orders","c":"v2","w":100}`)
	if code := r.post(h, body); code != http.StatusOK {
		t.Fatalf("approval from Slack: HTTP %d, want 200", code)
	}
	r.clock.Tick(10 * time.Second)
	r.walk("orders", promote.Promoted)
	drain(t, r.n)

	const root = "1700000000.000002" // 000001 is the applied commit's message
	var replies []string
	for _, c := range r.slack.take() {
		if c.Method == "chat.postMessage" && c.Thread == root && strings.Contains(c.Text, " approved ") {
			replies = append(replies, c.Text)
		}
	}
	wantReplies := []string{
		"orders Progressing: step to 50% approved by alice@example.com via cli",
		"orders Progressing: step to 100% approved by <@UBOB> via slack",
	}
	if diff := cmp.Diff(wantReplies, replies); diff != "" {
		t.Errorf("thread replies of the decisions (-want +got):\n%s", diff)
	}

	st := r.state("orders")
	var audit []string
	var at []time.Time
	for _, e := range st.History {
		if e.Kind == promote.KindDecided {
			audit = append(audit, fmt.Sprintf("%s %d%% by %s via %s: %s", e.Decision, e.Weight, e.By, e.Via, e.Message))
			at = append(at, e.At)
		}
	}
	wantAudit := []string{
		"approve 50% by alice@example.com via cli: step to 50% approved by alice@example.com",
		"approve 100% by slack:UBOB:bob via slack: step to 100% approved by slack:UBOB:bob",
	}
	if diff := cmp.Diff(wantAudit, audit); diff != "" {
		t.Fatalf("audit record in the history (-want +got):\n%s", diff)
	}
	var decisions []string
	for _, n := range r.slack.notes(t, root) {
		if strings.HasPrefix(n, "✅") {
			decisions = append(decisions, n)
		}
	}
	wantDecisions := []string{
		"✅ Approved by alice@example.com via cli at " + slackDate(at[0]) + ": step to 50%",
		"✅ Approved by <@UBOB> via slack at " + slackDate(at[1]) + ": step to 100%",
	}
	if diff := cmp.Diff(wantDecisions, decisions); diff != "" {
		t.Errorf("decisions on the root message (-want +got):\n%s", diff)
	}
}

func mustPayload(t *testing.T, body string) string {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	return v.Get("payload")
}
