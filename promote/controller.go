package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// Analyzer judges a candidate's traffic; *Prometheus is the real one.
type Analyzer interface {
	Analyze(ctx context.Context, t Target, a schema.Analysis) Analysis
}

// Notifier hears of every transition; the Slack notifier posts them, the
// log notifier logs them.
type Notifier interface {
	Notify(ctx context.Context, st *State, e Event)
}

// Controller advances the promotions of the canaries in the intents. Only
// the leader runs it; every change goes through the store's precondition.
type Controller struct {
	// Store holds the promotion states.
	Store *Store
	// Analyzer judges candidates; nil means no metrics source, so every
	// step that needs analysis holds.
	Analyzer Analyzer
	// Notifier hears of every transition; may be nil.
	Notifier Notifier
	// Now is the clock; time.Now when nil. Tests move it.
	Now func() time.Time
	// Log receives one line per transition.
	Log *slog.Logger
	// Metrics counts transitions; may be nil.
	Metrics *Metrics

	// beforeSave runs between deciding a transition and storing it; tests
	// crash the process there.
	beforeSave func()
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Step takes at most one transition for every canary in the intents and
// reports whether any state changed (so that sync renders the new
// weights). A conflict with another writer is not an error: the next step
// reads the state again.
func (c *Controller) Step(ctx context.Context, in *schema.Intents) (bool, error) {
	waves := fleetWaves(in)
	changed := false
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		svc := in.Services[name]
		if svc.Canary == nil {
			continue
		}
		ch, err := c.stepService(ctx, name, svc, waves)
		changed = changed || ch
		if err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, fmt.Errorf("services.%s: %w", name, err))
		}
	}
	return changed, errors.Join(errs...)
}

func (c *Controller) stepService(ctx context.Context, name string, svc *schema.Service, waves []int) (bool, error) {
	now := c.now()
	stored, err := c.Store.Get(ctx, name)
	if err != nil {
		return false, err
	}
	var st *State
	version := ""
	if stored != nil {
		version = stored.Version
		st = stored.State
	}
	if st == nil || !st.Current(svc) || !slices.Equal(waveNumbers(st), waves) {
		// A new candidate, a changed plan or a changed fleet: start over.
		// The candidate is at 0 until the first step is taken.
		st = NewState(name, svc, waves, now)
		if _, err := c.Store.Save(ctx, st, version); err != nil {
			return false, err
		}
		c.report(ctx, st, st.History[len(st.History)-1])
		return true, nil
	}
	before, _ := json.Marshal(st)
	gate := Gate{}
	sched, err := NewSchedule(svc.Canary)
	if err != nil {
		return false, err
	}
	gate.Open, gate.Closed = sched.Open(now)
	if st.serving() && !st.Phase.Done() && st.Phase != Paused {
		gate.Analysis = c.analyze(ctx, name, svc)
	}
	e := st.Advance(svc.Canary, now, gate)
	after, _ := json.Marshal(st)
	if string(before) == string(after) {
		return false, nil
	}
	if c.beforeSave != nil && e != nil {
		c.beforeSave()
	}
	if _, err := c.Store.Save(ctx, st, version); err != nil {
		return false, err
	}
	if e != nil {
		c.report(ctx, st, *e)
	}
	return e != nil, nil
}

func (c *Controller) analyze(ctx context.Context, name string, svc *schema.Service) Analysis {
	if c.Analyzer == nil {
		return Analysis{Verdict: Unavailable, Summary: "no Prometheus configured"}
	}
	return c.Analyzer.Analyze(ctx, Target{Service: name, Namespace: svc.Namespace, Version: svc.Canary.Candidate, Window: svc.Canary.Every}, svc.Canary.Analysis)
}

// Decide applies a decision from any source (the CLI, a Slack button) to
// a service's promotion, through the store's precondition: a second
// decision on the same step is ErrStale, and a decision that raced
// another writer is ErrConflict (nothing was written).
func (c *Controller) Decide(ctx context.Context, service string, decide func(st *State, now time.Time) (*Event, error)) (*State, error) {
	var e *Event
	st, err := Decide(ctx, c.Store, service, func(st *State) (*Event, error) {
		var err error
		e, err = decide(st, c.now())
		return e, err
	})
	if err == nil && e != nil {
		c.report(ctx, st, *e)
	}
	return st, err
}

// Decide reads a service's promotion, applies decide to it and writes it
// back with the precondition. It is the one path for every decision.
func Decide(ctx context.Context, store *Store, service string, decide func(st *State) (*Event, error)) (*State, error) {
	stored, err := store.Get(ctx, service)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, fmt.Errorf("%s: no promotion has started: %w", service, ErrStale)
	}
	if _, err := decide(stored.State); err != nil {
		return nil, err
	}
	if _, err := store.Save(ctx, stored.State, stored.Version); err != nil {
		return nil, err
	}
	return stored.State, nil
}

func (c *Controller) report(ctx context.Context, st *State, e Event) {
	if c.Log != nil {
		c.Log.Info("promotion", "service", st.Service, "candidate", st.Candidate, "phase", e.Phase, "wave", e.Wave, "weight", e.Weight, "by", e.By, "message", e.Message)
	}
	if c.Metrics != nil {
		c.Metrics.transition(st.Service, e.Phase)
	}
	if c.Notifier != nil {
		c.Notifier.Notify(ctx, st, e)
	}
}

// Weights returns, for every cluster of the fleet, the canary state that
// render takes: the candidate's weight in the cluster's wave. Services
// without a stored promotion of their current candidate are left out,
// which render treats as 0.
func (c *Controller) Weights(ctx context.Context, in *schema.Intents) (map[string]map[string]render.CanaryState, error) {
	states, err := c.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]render.CanaryState{}
	for cluster, cl := range in.Fleet.Clusters {
		m := map[string]render.CanaryState{}
		for _, st := range states {
			svc, ok := in.Services[st.Service]
			if !ok || !st.Current(svc) {
				continue
			}
			m[st.Service] = render.CanaryState{Candidate: st.Candidate, Weight: st.WeightIn(cl.Wave)}
		}
		out[cluster] = m
	}
	return out, nil
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
