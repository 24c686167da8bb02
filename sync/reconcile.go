package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// Source gives the intents at the head of a branch.
type Source interface {
	// Head returns the commit the branch points at, cheaply.
	Head(ctx context.Context) (string, error)
	// Fetch returns the intents at the head.
	Fetch(ctx context.Context) (*Revision, error)
}

// Reconciler keeps every cluster of the fleet at what the head commit of a
// source renders to.
type Reconciler struct {
	// Source is where intents come from.
	Source Source
	// Kubeconfig is the path of the kubeconfig whose contexts are named
	// after the fleet's clusters; the default loading rules when empty.
	Kubeconfig string
	// Log receives one line per changed object and per cluster.
	Log *slog.Logger

	mu        gosync.Mutex
	status    Status
	fleet     *Fleet
	fleetDecl schema.Fleet
}

// Status is what the reconciler did last.
type Status struct {
	// Applied is the last commit applied to every cluster.
	Applied string
	// Rejected is the last commit whose intents did not load, validate or
	// render; RejectedErr says why.
	Rejected    string
	RejectedErr error
	// LastErr is the error of the last sync, nil when it succeeded.
	LastErr error
}

// Status returns a copy of the reconciler's status; it is safe to call
// while Run is going.
func (r *Reconciler) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Reconciler) setStatus(f func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.status)
}

// Run syncs at once and then every interval until ctx is done. Errors are
// logged, not returned: the next round tries again.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error("sync failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sync applies the source's head commit to the fleet, if it is new. A
// commit whose intents do not load, validate or render changes nothing in
// any cluster: the last good commit stays applied. Such a commit is
// reported once and not tried again.
func (r *Reconciler) Sync(ctx context.Context) error {
	err := r.sync(ctx)
	r.setStatus(func(s *Status) { s.LastErr = err })
	return err
}

func (r *Reconciler) sync(ctx context.Context) error {
	head, err := r.Source.Head(ctx)
	if err != nil {
		return err
	}
	if st := r.Status(); head == st.Applied || head == st.Rejected {
		return nil
	}
	rev, err := r.Source.Fetch(ctx)
	if err != nil {
		return err
	}
	if err := r.apply(ctx, rev); err != nil {
		if isPermanent(err) {
			r.setStatus(func(s *Status) { s.Rejected, s.RejectedErr = rev.Commit, err })
			r.Log.Error("commit rejected, nothing applied", "commit", rev.Short(), "author", rev.Author, "err", err)
			return nil
		}
		return fmt.Errorf("commit %s: %w", rev.Short(), err)
	}
	r.setStatus(func(s *Status) { s.Applied = rev.Commit })
	return nil
}

// Apply loads, renders and applies one revision to the fleet, wave by wave.
func (r *Reconciler) apply(ctx context.Context, rev *Revision) error {
	in, err := schema.Load(rev.Files)
	if err != nil {
		return err
	}
	fleet, err := r.fleetFor(in.Fleet)
	if err != nil {
		return err
	}
	// Render for every cluster before applying anything, so that a render
	// error leaves every cluster as it was.
	desired := map[string][]*unstructured.Unstructured{}
	for _, wave := range fleet.Waves() {
		for _, c := range wave {
			objs, err := renderFor(in, c.Name, rev.Commit)
			if err != nil {
				return permanent(fmt.Errorf("cluster %s: %w", c.Name, err))
			}
			desired[c.Name] = objs
		}
	}
	for i, wave := range fleet.Waves() {
		if err := r.applyWave(ctx, rev, wave, desired); err != nil {
			return fmt.Errorf("wave %d: %w (later waves not applied)", i+1, err)
		}
	}
	return nil
}

// applyWave applies to the clusters of one wave at the same time and
// waits for all of them.
func (r *Reconciler) applyWave(ctx context.Context, rev *Revision, wave []*Cluster, desired map[string][]*unstructured.Unstructured) error {
	errs := make([]error, len(wave))
	var wg gosync.WaitGroup
	for i, c := range wave {
		wg.Go(func() {
			results, err := c.Applier.Apply(ctx, desired[c.Name])
			counts := map[Action]int{}
			for _, res := range results {
				counts[res.Action]++
				level := slog.LevelInfo
				if res.Action == Unchanged {
					level = slog.LevelDebug
				}
				r.Log.Log(ctx, level, "applied", "cluster", c.Name, "object", res.Object, "action", res.Action, "commit", rev.Short())
			}
			if err != nil {
				errs[i] = fmt.Errorf("cluster %s: %w", c.Name, err)
				return
			}
			r.Log.Info("cluster synced", "cluster", c.Name, "commit", rev.Short(),
				"created", counts[Created], "configured", counts[Configured], "unchanged", counts[Unchanged])
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fleetFor reuses the clients of the previous commit unless the declared
// fleet changed.
func (r *Reconciler) fleetFor(decl schema.Fleet) (*Fleet, error) {
	if r.fleet != nil && reflect.DeepEqual(decl, r.fleetDecl) {
		return r.fleet, nil
	}
	f, err := NewFleet(r.Kubeconfig, decl)
	if err != nil {
		return nil, err
	}
	r.fleet, r.fleetDecl = f, decl
	return f, nil
}

func renderFor(in *schema.Intents, cluster, commit string) ([]*unstructured.Unstructured, error) {
	objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: commit})
	if err != nil {
		return nil, err
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		u, err := render.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// permanentError marks an error that retrying the same input cannot fix.
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
