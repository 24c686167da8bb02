package promote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/schema"
	sailsync "github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

// fleetCUE is c1 in wave 1, c2 and c3 in wave 2.
var fleetCUE = testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2, "c3": 2})

// fleetRig is a Git repository, a reconciler applying it to the three
// clusters, and a promotion controller with a clock the test moves, wired
// as the daemon wires them: through a bus, sync's commits reach the
// controller and the controller's weights reach sync.
type fleetRig struct {
	t     *testing.T
	ns    string
	repo  *testenv.Repo
	bus   *notify.Bus
	rec   *sailsync.Reconciler
	ctrl  *Controller
	clock *testenv.Clock
	logs  testenv.LogBuffer
}

func newFleetRig(t *testing.T, analyzer Analyzer) *fleetRig {
	env.Need(t)
	r := &fleetRig{t: t, ns: env.Namespace(t), clock: testenv.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
	srv := testenv.NewGitServer(t)
	r.repo = srv.NewRepo(t, "intents")
	home, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&r.logs, nil))
	r.bus = notify.NewBus()
	r.ctrl = &Controller{Store: NewStore(home, r.ns), Analyzer: analyzer, Now: r.clock.Now, Log: log, Events: r.bus}
	r.rec = &sailsync.Reconciler{
		Source:     &source.GitSource{URL: r.repo.URL(), Branch: "main"},
		Kubeconfig: env.Kubeconfig,
		Events:     r.bus,
		Options:    apply.Options{ParentNamespace: r.ns},
	}
	r.bus.Subscribe(logs.New(log))
	r.bus.Subscribe(r.rec)
	r.bus.Subscribe(r.ctrl)
	t.Cleanup(r.rec.Close)
	return r
}

// step runs one promotion step and one sync, as the daemon's loops do.
func (r *fleetRig) step() bool {
	r.t.Helper()
	changed, err := r.ctrl.Step(r.t.Context())
	if err != nil {
		r.t.Fatalf("promotion step: %v\n%s", err, r.logs.String())
	}
	if err := r.rec.Sync(r.t.Context()); err != nil {
		r.t.Fatalf("sync: %v", err)
	}
	return changed
}

// weights reads the candidate's weight of service from every cluster's
// VirtualService.
func (r *fleetRig) weights(service string) [3]int32 {
	r.t.Helper()
	return [3]int32(env.Weights(r.t, r.ns, service, "v2"))
}

// walk steps the promotion, moving the clock by one interval each time,
// and records the weights in the three clusters after every change, until
// the phase is one of until or the deadline passes (analysis holds while
// Prometheus has too little data).
func (r *fleetRig) walk(service string, until ...Phase) ([][3]int32, *State) {
	r.t.Helper()
	return r.walkUntil(service, fmt.Sprint(until), func(st *State) bool { return slices.Contains(until, st.Phase) })
}

// walkUntil is walk until done says the promotion is where the test
// wants it (what, for the failure).
func (r *fleetRig) walkUntil(service, what string, done func(*State) bool) ([][3]int32, *State) {
	r.t.Helper()
	var seen [][3]int32
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if r.step() {
			w := r.weights(service)
			if len(seen) == 0 || seen[len(seen)-1] != w {
				seen = append(seen, w)
			}
		}
		st, err := r.ctrl.Store.Get(r.t.Context(), service)
		if err != nil {
			r.t.Fatal(err)
		}
		if st != nil && done(st.State) {
			return seen, st.State
		}
		r.clock.Tick(10 * time.Second)
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("%s did not reach %s within 2 minutes; weights %v\n%s", service, what, seen, r.logs.String())
	return nil, nil
}

// apply commits files and syncs the commit to the clusters, which hands
// its plans to the controller for its next look.
func (r *fleetRig) apply(files map[string]string, msg string) {
	r.t.Helper()
	r.repo.Commit(r.t, files, msg)
	if err := r.rec.Sync(r.t.Context()); err != nil {
		r.t.Fatalf("sync of %q: %v", msg, err)
	}
}

// looks takes n looks and syncs, an interval apart, and returns the
// promotion as stored then. With want, the clusters must serve the
// candidate of service at want after every look.
func (r *fleetRig) looks(service string, n int, want ...[3]int32) *State {
	r.t.Helper()
	for range n {
		r.step()
		if got := r.weights(service); len(want) > 0 && got != want[0] {
			r.t.Fatalf("%s at %v, want %v at every look", service, got, want[0])
		}
		r.clock.Tick(10 * time.Second)
	}
	return r.state(service)
}

// state is service's promotion as stored.
func (r *fleetRig) state(service string) *State {
	r.t.Helper()
	st, err := r.ctrl.Store.Get(r.t.Context(), service)
	if err != nil || st == nil {
		r.t.Fatalf("promotion of %s: %v, %v", service, st, err)
	}
	return st.State
}

// everywhere reports whether every wave serves weight.
func everywhere(weight int) func(*State) bool {
	return func(st *State) bool {
		for _, w := range st.Waves {
			if w.Weight != weight {
				return false
			}
		}
		return true
	}
}

// planCUE is a service with versions v1, v2 and v3 and the canary plan
// canary, in namespace ns.
func planCUE(ns, name, canary string) string {
	return fmt.Sprintf(`package intents

services: %q: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2", v3: labels: version: "v3"}
	routes: [{}]
	canary: {
		analysis: {successRate: 99, latencyP99: "100ms", minRequests: 50}
		%s
	}
}
`, name, ns, canary)
}

// collect keeps the events of type E that the rig's bus carries.
func collect[E notify.Event](r *fleetRig) func() []E {
	var mu sync.Mutex
	var got []E
	r.bus.Subscribe(notify.HandlerFunc(func(e notify.Event) {
		if e, ok := e.(E); ok {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}
	}))
	return func() []E {
		r.bus.Flush()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestHealthyCandidateWalksTheFleet: a real Prometheus sees healthy
// candidate traffic; the candidate walks every step, wave 1 (c1) first and
// wave 2 (c2, c3) one interval later, to 100 % everywhere, and is promoted.
func TestHealthyCandidateWalksTheFleet(t *testing.T) {
	m, p := realAnalysis(t)
	r := newFleetRig(t, p)
	m.Set(testenv.Workload{Service: "reviews", Namespace: r.ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": testenv.CanaryCUE(r.ns, "reviews", "")}, "canary v2")
	if got := r.weights("reviews"); got != [3]int32{0, 0, 0} {
		t.Fatalf("before the promotion: %v, want the candidate at 0 everywhere", got)
	}
	seen, st := r.walk("reviews", Promoted, RolledBack)
	want := [][3]int32{{0, 0, 0}, {10, 0, 0}, {10, 10, 10}, {50, 10, 10}, {50, 50, 50}, {100, 50, 50}, {100, 100, 100}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("weights in c1, c2, c3 after each transition (-want +got):\n%s", diff)
	}
	if st.Phase != Promoted {
		t.Errorf("phase %s (%s), want Promoted", st.Phase, st.Reason)
	}
}

// TestFailingCandidateRollsBackEverywhere: 5 % errors break the 99 %
// success rate; the candidate goes back to 0 in every cluster.
func TestFailingCandidateRollsBackEverywhere(t *testing.T) {
	m, p := realAnalysis(t)
	r := newFleetRig(t, p)
	m.Set(testenv.Workload{Service: "ratings", Namespace: r.ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, ErrorPercent: 5, LatencyMS: 20})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "ratings.cue": testenv.CanaryCUE(r.ns, "ratings", "")}, "canary v2")
	seen, st := r.walk("ratings", RolledBack, Promoted)
	if st.Phase != RolledBack || !strings.Contains(st.Reason, "success rate") {
		t.Fatalf("phase %s (%s), want RolledBack for the success rate", st.Phase, st.Reason)
	}
	if got := seen[len(seen)-1]; got != [3]int32{0, 0, 0} {
		t.Errorf("after the rollback: %v, want 0 in every cluster (history %v)", got, seen)
	}
}

// TestApprovalThroughTheStore: a step that needs approval waits; an
// approval through the controller (the path the CLI and Slack use) moves
// it; a second approval of the same step is stale.
func TestApprovalThroughTheStore(t *testing.T) {
	r := newFleetRig(t, passing{})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "a.cue": testenv.CanaryCUE(r.ns, "orders", "approval: atWeights: [50]")}, "canary v2")
	_, st := r.walk("orders", WaitingForApproval)
	if got := r.weights("orders"); got != [3]int32{10, 10, 10} {
		t.Fatalf("waiting for approval at %v, want 10 everywhere", got)
	}
	var decided []notify.PromotionDecided
	r.bus.Subscribe(notify.HandlerFunc(func(e notify.Event) {
		if d, ok := e.(notify.PromotionDecided); ok {
			decided = append(decided, d)
		}
	}))
	approve := Decision{What: notify.DecisionApprove, Weight: 50, By: "alice", Via: "cli"}
	if _, _, err := Decide(t.Context(), r.ctrl.Store, "orders", approve, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decide(t.Context(), r.ctrl.Store, "orders", approve, r.clock.Now()); !errors.Is(err, ErrStale) {
		t.Errorf("second approval: %v, want ErrStale", err)
	}
	r.walk("orders", Promoted)
	if got := r.weights("orders"); got != [3]int32{100, 100, 100} {
		t.Errorf("after approval: %v, want 100 everywhere", got)
	}
	_ = st
	// The controller, which did not take the decision, published it once,
	// with who took it and where: the same news whatever the front end.
	r.bus.Flush()
	if len(decided) != 1 || decided[0].Decision != notify.DecisionApprove || decided[0].By != "alice" || decided[0].Via != "cli" || decided[0].Weight != 50 {
		t.Errorf("decisions published = %+v, want alice's approval of 50 %% via the CLI, once", decided)
	}
	stored, err := r.ctrl.Store.Get(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	var audit []string
	for _, e := range stored.History {
		if e.Kind == KindDecided {
			audit = append(audit, fmt.Sprintf("%s %d by %s via %s", e.Decision, e.Weight, e.By, e.Via))
		}
	}
	if diff := cmp.Diff([]string{"approve 50 by alice via cli"}, audit); diff != "" {
		t.Errorf("audit record in the history (-want +got):\n%s", diff)
	}
}

// realAnalysis serves Istio-shaped metrics, whose traffic the test sets on
// the returned mesh, to a real Prometheus, and analyzes through it.
func realAnalysis(t *testing.T) (*testenv.Mesh, *Prometheus) {
	t.Helper()
	m, target := testenv.ServeMesh(t)
	prom := testenv.StartPrometheus(t, target)
	p, err := NewPrometheus(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

// passing is an analyzer for tests about approvals and storage, where
// Prometheus is not the subject.
type passing struct{}

func (passing) Analyze(ctx context.Context, t Target, a schema.Analysis) Analysis {
	return Analysis{Verdict: Pass, Summary: "test: pass"}
}

// TestFirstStepAnIntervalAfterTheStart: a new candidate with no metrics
// at all, against a real Prometheus. The first step is taken an interval
// (every) after the promotion started, not at the next look, and the
// status says when meanwhile; it goes to the first wave only. Without
// traffic to judge, no second step follows: the promotion holds at the
// first step, inconclusive, and says so.
func TestFirstStepAnIntervalAfterTheStart(t *testing.T) {
	_, p := realAnalysis(t)
	r := newFleetRig(t, p)
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": testenv.CanaryCUE(r.ns, "reviews", "")}, "canary v2")
	r.step() // starts
	for _, wait := range []time.Duration{time.Second, 4 * time.Second, 4 * time.Second} {
		r.clock.Tick(wait)
		r.step()
		if got := r.weights("reviews"); got != [3]int32{0, 0, 0} {
			t.Fatalf("%s after the start: %v, want 0 everywhere", r.clock.Now().Sub(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)), got)
		}
	}
	st, err := r.ctrl.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if want := "first step, to 10%, at 2026-11-23T10:00:10Z: an interval (10s) after the start"; st.Reason != want {
		t.Errorf("before the first step: reason %q, want %q", st.Reason, want)
	}
	r.clock.Tick(time.Second) // 10s after the start
	r.step()
	if got := r.weights("reviews"); got != [3]int32{10, 0, 0} {
		t.Fatalf("an interval after the start: %v, want 10 in wave 1 only", got)
	}
	for range 3 {
		r.clock.Tick(10 * time.Second)
		r.step()
		time.Sleep(time.Second) // Prometheus scrapes: still no candidate traffic
	}
	st, err = r.ctrl.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.weights("reviews"); got != [3]int32{10, 0, 0} || !strings.HasPrefix(st.Reason, "analysis inconclusive: 0 requests") {
		t.Errorf("without traffic: %v, reason %q; want to hold at the first step, inconclusive", got, st.Reason)
	}
}
