package promote

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/testenv"
)

// events keeps the promotion events a controller publishes.
type events struct {
	mu  sync.Mutex
	got []notify.Event
}

func (e *events) Publish(ev notify.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		out = append(out, fmt.Sprintf("%T", ev))
	}
	return out
}

// TestRunLooksWhenSomeoneElseWrites: the running controller looks at once
// when a decision is written by someone else (here the CLI's path), not at
// its next interval, and publishes it; its own writes do not make it look
// again, so it never takes two steps in a row without an interval between.
func TestRunLooksWhenSomeoneElseWrites(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	clock := testenv.NewClock(t0)
	ev := &events{}
	c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: clock.Now, Events: ev, Interval: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); <-done }()

	wait := func(what string, cond func([]string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if cond(ev.kinds()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: not within 20s; events %v", what, ev.kinds())
	}
	has := func(kind string) func([]string) bool {
		return func(ks []string) bool {
			for _, k := range ks {
				if k == kind {
					return true
				}
			}
			return false
		}
	}
	wait("stored promotions published", has("notify.PromotionsLoaded"))
	c.Handle(notify.CommitApplying{Intents: loadIntents(t, ns)})
	wait("promotion started", has("notify.PromotionStarted"))
	// Its own write is no news: no look, so no first step, for a while.
	time.Sleep(2 * time.Second)
	if has("notify.PromotionStepped")(ev.kinds()) {
		t.Fatalf("the controller stepped again right after its own write: %v", ev.kinds())
	}
	// Someone pauses it from the CLI: looked at, and published, at once.
	if _, _, err := Decide(t.Context(), c.Store, "reviews", Decision{What: notify.DecisionPause, By: "alice", Via: "cli"}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	wait("the CLI's pause published", has("notify.PromotionDecided"))
}

// TestHungPrometheusIsReported: a real Prometheus stopped with SIGSTOP
// (it accepts connections and answers nothing) holds the promotion, and
// the look that finds it so says why within the interval: the hold's
// reason in the state and on the bus, an unavailable analysis, the log.
// Thawed, the promotion carries on.
func TestHungPrometheusIsReported(t *testing.T) {
	m, target := testenv.ServeMesh(t)
	prom := testenv.StartPrometheus(t, target)
	p, err := NewPrometheus(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := newFleetRig(t, p)
	r.ctrl.Interval = 4 * time.Second
	m.Set(testenv.Workload{Service: "reviews", Namespace: r.ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": testenv.CanaryCUE(r.ns, "reviews", "")}, "canary v2")
	r.walkUntil("reviews", "10% in every wave", everywhere(10))
	holding := collect[notify.PromotionHolding](r)
	analyses := collect[notify.AnalysisResult](r)

	prom.Freeze()
	r.clock.Tick(10 * time.Second)
	start := time.Now()
	r.step()
	if took := time.Since(start); took > r.ctrl.Interval {
		t.Errorf("the look took %s, longer than the %s interval", took, r.ctrl.Interval)
	}
	st, err := r.ctrl.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	want := "analysis unavailable: prometheus " + prom.URL + ": no answer before the analysis's deadline: context deadline exceeded (an analysis may take 2s, half the promotion interval)"
	if st.Reason != want || r.weights("reviews") != [3]int32{10, 10, 10} {
		t.Errorf("with Prometheus hung: reason %q, weights %v; want %q, 10 everywhere", st.Reason, r.weights("reviews"), want)
	}
	if h := holding(); len(h) != 1 || h[0].Reason != want {
		t.Errorf("holds on the bus: %+v, want one saying why", h)
	}
	if a := analyses(); len(a) != 1 || a[0].Verdict != notify.Unavailable {
		t.Errorf("analyses on the bus: %+v, want one, unavailable", a)
	}
	if !strings.Contains(r.logs.String(), "msg=\"promotion holding\"") {
		t.Errorf("the log does not say the promotion holds:\n%s", r.logs.String())
	}

	prom.Thaw()
	r.walkUntil("reviews", "50% in wave 1", func(st *State) bool { return st.Waves[0].Weight == 50 })
}
