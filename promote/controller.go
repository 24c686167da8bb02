package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/loop"
)

// Analyzer judges a candidate's traffic; *Prometheus is the real one.
type Analyzer interface {
	Analyze(ctx context.Context, t Target, a schema.Analysis) Analysis
}

// Publisher receives the promotion events; notify.Bus is the real one.
type Publisher interface {
	Publish(e notify.Event)
}

// DefaultInterval is how often the controller looks at every canary.
const DefaultInterval = 15 * time.Second

// Controller advances the promotions of the canaries in the intents, and
// publishes every transition and decision as an event, which is how the
// weights reach sync and the news reaches people. Only the leader runs
// it; every change goes through the store's precondition.
type Controller struct {
	// Store holds the promotion states.
	Store *Store
	// Analyzer judges candidates; nil means no metrics source, so every
	// step that needs analysis holds.
	Analyzer Analyzer
	// Events receives what the controller does; nil publishes nothing.
	Events Publisher
	// Now is the clock; time.Now when nil. Tests move it.
	Now func() time.Time
	// Interval is how often every canary is looked at; DefaultInterval
	// when 0. A new commit, or a state written by anyone, is looked at
	// at once.
	Interval time.Duration
	// Log receives what goes wrong in the loop, such as a home cluster
	// that does not answer; transitions are events.
	Log *slog.Logger

	// beforeSave runs between deciding a transition and storing it; tests
	// crash the process there.
	beforeSave func()

	mu sync.Mutex
	// intents are the latest commit's, from CommitApplying events, and
	// commit names it in the history of the promotions it amends.
	intents *schema.Intents
	commit  notify.Commit
	// published is, by service, the promotion and the last entry of its
	// history that has been published.
	published map[string]mark
	// writeMu is held across each write of a state and the note of its
	// version in saved, so that the watch, which may tell of the write
	// before the write returns, can tell its own writes from others'.
	writeMu sync.Mutex
	// saved is, by service, the version of the state this controller
	// wrote last: the watch telling of its own write is no news.
	saved map[string]string
	// loop runs the looks: the interval, a new commit and a state written
	// by anyone all ask for a look at everything.
	loop loop.Loop
}

type mark struct {
	started time.Time
	seq     int
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Controller) publish(e notify.Event) {
	if c.Events != nil && e != nil {
		c.Events.Publish(e)
	}
}

// Handle takes the canary plans of each new commit from the event
// stream, and asks for a look at once. It never blocks.
func (c *Controller) Handle(e notify.Event) {
	a, ok := e.(notify.CommitApplying)
	if !ok || a.Intents == nil {
		return
	}
	c.mu.Lock()
	c.intents, c.commit = a.Intents, a.Commit
	c.mu.Unlock()
	c.loop.Ask()
}

// Run leads the promotions until ctx ends. It first publishes the stored
// promotions (retrying while the home cluster does not answer), so that
// sync renders the weights they decided before it applies anything; then
// it looks at every canary each Interval, on every new commit and
// whenever anyone writes a promotion state.
func (c *Controller) Run(ctx context.Context) error {
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: time.Minute}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		if err := c.Load(ctx); err != nil {
			c.logError("promotion states not read; sync waits for them", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil // ctx ended
	}
	c.Store.Watch(ctx, func(service, version string) {
		if !c.own(service, version) {
			c.loop.Ask()
		}
	})
	interval := c.interval()
	c.loop.Name = "sailplan-promote"
	c.loop.Run(ctx, func() time.Duration { return interval }, func(ctx context.Context) {
		if _, err := c.Step(ctx); err != nil && ctx.Err() == nil {
			c.logError("promotion step failed", err)
		}
	})
	return nil
}

func (c *Controller) interval() time.Duration {
	if c.Interval <= 0 {
		return DefaultInterval
	}
	return c.Interval
}

// own says whether version of service's state is this controller's write;
// it waits for a write under way to be noted.
func (c *Controller) own(service, version string) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.saved[service] == version
}

// save stores st at version and notes the version written.
func (c *Controller) save(ctx context.Context, st *State, version string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	v, err := c.Store.Save(ctx, st, version)
	if err != nil {
		return err
	}
	if c.saved == nil {
		c.saved = map[string]string{}
	}
	c.saved[st.Service] = v
	return nil
}

func (c *Controller) logError(msg string, err error) {
	if c.Log != nil {
		c.Log.Error(msg, "err", err)
	}
}

// Load publishes the stored promotions as they stand (PromotionsLoaded),
// and counts their history so far as published.
func (c *Controller) Load(ctx context.Context) error {
	states, err := c.Store.List(ctx)
	if err != nil {
		return err
	}
	e := notify.PromotionsLoaded{At: notify.At{Time: c.now()}}
	c.mu.Lock()
	c.published = map[string]mark{}
	for _, st := range states {
		c.published[st.Service] = mark{started: st.Started, seq: st.Seq}
		e.Promotions = append(e.Promotions, st.Promotion())
	}
	c.mu.Unlock()
	c.publish(e)
	return nil
}

// Step takes at most one transition for every canary of the latest
// intents and reports whether any promotion moved. For every promotion it
// reads, it first publishes the history entries not published yet, such
// as decisions taken from the CLI or Slack. A conflict with another
// writer is not an error: the next look reads the state again.
func (c *Controller) Step(ctx context.Context) (bool, error) {
	c.mu.Lock()
	in, commit := c.intents, c.commit
	c.mu.Unlock()
	if in == nil {
		return false, nil
	}
	waves := fleetWaves(in)
	changed := false
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		svc := in.Services[name]
		if svc.Canary == nil {
			continue
		}
		ch, err := c.stepService(ctx, name, svc, waves, commit)
		changed = changed || ch
		if err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, fmt.Errorf("services.%s: %w", name, err))
		}
	}
	return changed, errors.Join(errs...)
}

func (c *Controller) stepService(ctx context.Context, name string, svc *schema.Service, waves []int, commit notify.Commit) (bool, error) {
	now := c.now()
	stored, err := c.Store.Get(ctx, name)
	if err != nil {
		return false, err
	}
	var st *State
	version := ""
	if stored != nil {
		version, st = stored.Version, stored.State
		c.observe(st)
	}
	// A canary at rest promotes nothing; its promotion, if any, stays as
	// it ended, and entries written to it (write-back's) are still
	// published above.
	if svc.Canary.AtRest() {
		return false, nil
	}
	// A new candidate starts a new promotion, any other change to the
	// plan or the fleet's waves amends this one: either is this look's
	// transition.
	if next, e := Follow(st, name, svc, waves, commit, now); e != nil {
		if c.beforeSave != nil {
			c.beforeSave()
		}
		if err := c.save(ctx, next, version); err != nil {
			return false, err
		}
		c.observe(next)
		return true, nil
	}
	before, _ := json.Marshal(st)
	reason := st.Reason
	sched, err := NewSchedule(svc.Canary)
	if err != nil {
		return false, err
	}
	gate := Gate{}
	gate.Open, gate.Closed = sched.Open(now)
	if st.serving() && !st.Phase.Done() && st.Phase != Paused {
		gate.Analysis = c.analyze(ctx, name, svc, now)
	}
	e := st.Advance(svc.Canary, now, gate)
	if after, _ := json.Marshal(st); string(before) == string(after) {
		return false, nil
	}
	if c.beforeSave != nil && e != nil {
		c.beforeSave()
	}
	if err := c.save(ctx, st, version); err != nil {
		return false, err
	}
	c.observe(st)
	if e == nil && st.Reason != reason && st.Reason != "" {
		c.publish(notify.PromotionHolding{Change: notify.Change{At: notify.At{Time: now}, Promotion: st.Promotion()}, Reason: st.Reason})
	}
	return e != nil, nil
}

// analyze measures the candidate over the plan's interval and publishes
// the result. It takes half the controller's interval at most, so that a
// Prometheus that hangs or crawls is reported as unavailable, with why,
// in the look that asked, and the next look comes on time.
func (c *Controller) analyze(ctx context.Context, name string, svc *schema.Service, now time.Time) Analysis {
	a := Analysis{Verdict: Unavailable, Summary: "no Prometheus configured"}
	if c.Analyzer != nil {
		budget := c.interval() / 2
		actx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		a = c.Analyzer.Analyze(actx, Target{Service: name, Namespace: svc.Namespace, Version: svc.Canary.Candidate, Window: svc.Canary.Every}, svc.Canary.Analysis)
		if a.Verdict == Unavailable && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			a.Summary += fmt.Sprintf(" (an analysis may take %s, half the promotion interval)", budget)
		}
	}
	c.publish(notify.AnalysisResult{At: notify.At{Time: now}, Service: name, Candidate: svc.Canary.Candidate,
		Verdict: string(a.Verdict), Summary: a.Summary, Checks: a.Checks})
	return a
}

// observe publishes the entries of st's history that have not been
// published, in order, whoever wrote them: this controller, or a decision
// from the CLI or Slack. Each event carries the promotion as st stands.
func (c *Controller) observe(st *State) {
	c.mu.Lock()
	if c.published == nil {
		c.published = map[string]mark{}
	}
	last := c.published[st.Service]
	same := last.started.Equal(st.Started)
	var fresh []Event
	for _, e := range st.History {
		if !same || e.Seq > last.seq {
			fresh = append(fresh, e)
		}
	}
	c.published[st.Service] = mark{started: st.Started, seq: st.Seq}
	c.mu.Unlock()
	p := st.Promotion()
	for _, e := range fresh {
		c.publish(eventOf(p, e))
	}
}

// fleetWaves lists the fleet's wave numbers in order; one wave when the
// intents declare no fleet.
func fleetWaves(in *schema.Intents) []int {
	var waves []int
	for _, c := range in.Fleet.Clusters {
		if !slices.Contains(waves, c.Wave) {
			waves = append(waves, c.Wave)
		}
	}
	slices.Sort(waves)
	if len(waves) == 0 {
		waves = []int{1}
	}
	return waves
}

func waveNumbers(st *State) []int {
	out := make([]int, len(st.Waves))
	for i, w := range st.Waves {
		out[i] = w.Wave
	}
	return out
}
