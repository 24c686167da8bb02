package promote

import (
	"context"
	"fmt"
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
