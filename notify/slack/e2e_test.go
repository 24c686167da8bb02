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
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	sailsync "github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

const fleetCUE = `package intents

fleet: clusters: {
	c1: wave: 1
	c2: wave: 2
}
`

func canaryCUE(ns, name string) string {
	return fmt.Sprintf(`package intents

services: %q: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [10, 50, 100]
		every: "10s"
		analysis: {successRate: 99, latencyP99: "100ms", minRequests: 50}
		approval: {atWeights: [50], slack: channel: "#deploys", approvers: ["UALICE", "SOPS"]}
	}
}
`, name, ns)
}

type passing struct{}

func (passing) Analyze(context.Context, promote.Target, schema.Analysis) promote.Analysis {
	return promote.Analysis{Verdict: promote.Pass, Summary: "success 100.00% (min 99.00%), p99 20ms (max 100ms), 600 requests"}
}

// rig is a Git repository applied to the two clusters by a reconciler, a
// promotion controller with a clock the test moves and the Slack notifier
// as its notifier, and the interactions endpoint on a real HTTP server.
type rig struct {
	t     *testing.T
	ns    string
	home  kubernetes.Interface
	repo  *testenv.Repo
	rec   *sailsync.Reconciler
	ctrl  *promote.Controller
	slack *fakeSlack
	s     *Slack
	h     *Interactions
	url   string
	mu    gosync.Mutex
	clock time.Time
	logs  strings.Builder
}

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func newRig(t *testing.T) *rig {
	needClusters(t)
	r := &rig{t: t, ns: env.Namespace(t), clock: t0}
	r.repo = testenv.NewGitServer(t).NewRepo(t, "intents")
	home, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.home = home
	log := slog.New(slog.NewTextHandler(&syncWriter{b: &r.logs, mu: &r.mu}, nil))
	r.slack = newFakeSlack(t)
	r.slack.groups["SOPS"] = []string{"UCAROL", "UBOB"}
	r.s, _ = startSlack(t, r.slack, Config{Channel: "#sailplan", Refs: &ConfigMapRefs{Client: home, Namespace: r.ns}, Log: log})
	r.ctrl = &promote.Controller{Store: promote.NewStore(home, r.ns), Analyzer: r.s.Analyzer(passing{}), Now: r.now, Log: log, Notifier: r.s}
	r.rec = &sailsync.Reconciler{
		Source:     &source.GitSource{URL: r.repo.URL(), Branch: "main"},
		Kubeconfig: env.Kubeconfig,
		Log:        log,
		Canaries:   r.ctrl,
		Notifier:   r.s,
		Options:    apply.Options{ParentNamespace: r.ns},
	}
	t.Cleanup(r.rec.Close)
	r.h = &Interactions{SigningSecret: secret, Decide: r.ctrl.Decide, Approvers: NewApprovers(r.slack.client()), Slack: r.s, Log: log}
	srv := httptest.NewServer(r.h)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

type syncWriter struct {
	mu *gosync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (r *rig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock
}

func (r *rig) tick(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

func (r *rig) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

// weights reads the candidate's weight in c1 and c2's VirtualService.
func (r *rig) weights(service string) [2]int32 {
	r.t.Helper()
	var out [2]int32
	for i, c := range env.Clusters {
		cs, err := istioclient.NewForConfig(c.RESTConfig())
		if err != nil {
			r.t.Fatal(err)
		}
		vs, err := cs.NetworkingV1().VirtualServices(r.ns).Get(r.t.Context(), service, metav1.GetOptions{})
		if err != nil {
			r.t.Fatalf("cluster %s: %v", c.Name, err)
		}
		for _, d := range vs.Spec.Http[0].Route {
			if d.Destination.Subset == "v2" {
				out[i] = d.Weight
			}
		}
	}
	return out
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
		in := r.rec.Intents()
		if _, err := r.ctrl.Step(r.t.Context(), in); err != nil {
			r.t.Fatalf("promotion step: %v", err)
		}
		if err := r.rec.Sync(r.t.Context()); err != nil {
			r.t.Fatalf("sync: %v", err)
		}
		if r.state(service).Phase == until {
			return
		}
		r.tick(10 * time.Second)
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
// second click each change nothing, and the last three are answered.
func TestSlackApprovalAdvancesThePromotion(t *testing.T) {
	r := newRig(t)
	r.repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "orders.cue": canaryCUE(r.ns, "orders")}, "orders: canary v2")
	if err := r.rec.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.walk("orders", promote.WaitingForApproval)
	if got := r.weights("orders"); got != [2]int32{10, 10} {
		t.Fatalf("waiting for approval at %v, want 10 in c1 and c2", got)
	}
	drain(t, r.s)
	r.slack.take()
	waiting := r.state("orders").Version
	value := `{"s":"orders","c":"v2","w":50}`
	now := time.Now()

	unchanged := func(what string) {
		t.Helper()
		drain(t, r.s)
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
	drain(t, r.s)
	st := r.state("orders")
	if st.Phase != promote.Progressing || len(st.Decisions) != 1 || st.Decisions[0].By != "slack:UBOB:bob" || !st.Decisions[0].Approved {
		t.Fatalf("after the approval: %s, decisions %+v; want Progressing with Bob's approval", st.Phase, st.Decisions)
	}
	approved := st.Version

	// The second click comes through Socket Mode: the same handler.
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(mustPayload(t, body)), &cb); err != nil {
		t.Fatal(err)
	}
	sm := socketmode.New(r.slack.client())
	r.h.socketEvent(t.Context(), sm, socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb, Request: &socketmode.Request{EnvelopeID: "e1"}})
	drain(t, r.s)
	if st := r.state("orders"); st.Version != approved {
		t.Errorf("a second click changed the promotion: version %s, want %s", st.Version, approved)
	}

	ephemerals, updates := []call{}, []call{}
	for _, c := range r.slack.take() {
		switch c.Method {
		case "chat.postEphemeral":
			ephemerals = append(ephemerals, c)
		case "chat.update":
			updates = append(updates, c)
		}
	}
	wantEphemeral := []call{
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UEVE", Text: "You are not allowed to decide the promotion of orders; nothing changed."},
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UALICE", Text: "Your approval of orders at 10% was not applied: it was already decided or the promotion moved on (orders: waiting for the step to 50%, not 10%)."},
		{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UBOB", Text: "Your approval of orders at 50% was not applied: it was already decided or the promotion moved on (orders: Progressing)."},
	}
	if diff := cmp.Diff(wantEphemeral, ephemerals); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	// The root message lost its buttons when the approval was recorded.
	// (000001 is the applied commit's message.)
	wantUpdates := []call{{Method: "chat.update", Channel: "CDEPLOYS", TS: "1700000000.000002", Text: "orders: v1 → v2, Progressing (wave 1: 10% · wave 2: 10%)"}}
	if diff := cmp.Diff(wantUpdates, updates); diff != "" {
		t.Errorf("root message updates after the approval (-want +got):\n%s", diff)
	}

	r.walk("orders", promote.Promoted)
	if got := r.weights("orders"); got != [2]int32{100, 100} {
		t.Errorf("after the approval: %v, want 100 in c1 and c2", got)
	}
	// The root message is stored in the home cluster for a restarted daemon.
	ref, ok, err := (&ConfigMapRefs{Client: r.home, Namespace: r.ns}).Get(t.Context(), "orders")
	if err != nil || !ok || ref.TS != "1700000000.000002" || ref.Candidate != "v2" || ref.Channel != "CDEPLOYS" {
		t.Errorf("stored root message: %+v, %v, %v", ref, ok, err)
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
