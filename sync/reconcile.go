package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
)

// Source gives the intents at the head of a branch.
type Source interface {
	// Head returns the commit the branch points at, cheaply.
	Head(ctx context.Context) (string, error)
	// Fetch returns the intents at the head. A *source.RefusedError says
	// that the head will never be handed out: it is reported once and the
	// last good commit stays.
	Fetch(ctx context.Context) (*source.Revision, error)
}

// pollJitter is how much longer than the interval a poll may wait, at
// most: 0.1 spreads polls over [interval, 1.1 × interval].
const pollJitter = 0.1

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
	// Options tune pruning, parallelism and the ApplySet parent of every
	// cluster.
	Options apply.Options
	// ContinueOnWaveFailure applies later waves even when a cluster of an
	// earlier wave failed. By default a failed wave stops later ones, and
	// their clusters' status says which wave failed and why.
	ContinueOnWaveFailure bool
	// Canaries gives the promotion state that render takes; nil renders
	// every candidate at 0 %.
	Canaries CanarySource
	// Notifier hears of each new commit, applied or rejected; may be nil.
	// It is called once per commit, never for a sync that changed nothing.
	Notifier Notifier

	// wrapTransport, when set, wraps every cluster's HTTP transport
	// (tests count and interrupt requests with it).
	wrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper

	// syncMu makes syncs one at a time.
	syncMu gosync.Mutex

	mu      gosync.Mutex
	status  Status
	fleet   *Fleet
	current *prepared
	// queue holds the one sync request while Run runs; nil otherwise.
	queue workqueue.TypedDelayingInterface[string]
}

// syncKey is the only item of Run's queue: every reason to sync (a poll,
// a trigger, a retry) asks for the same thing, a sync of everything, so
// requests that arrive while one is pending or running coalesce.
const syncKey = "sync"

// Notifier hears what happened to new commits. Implementations must not
// block: sync waits for them.
type Notifier interface {
	// CommitApplied: rev is applied to every cluster; clusters holds each
	// one's status, with object counts by action.
	CommitApplied(ctx context.Context, rev *source.Revision, clusters map[string]apply.ClusterStatus)
	// CommitRejected: the commit was refused (invalid intents, a bad
	// signature) and nothing was applied; rev is nil when it could not be
	// fetched at all.
	CommitRejected(ctx context.Context, commit string, rev *source.Revision, err error)
}

// CanarySource gives, per cluster and service, where promotions stand.
type CanarySource interface {
	Weights(ctx context.Context, in *schema.Intents) (map[string]map[string]render.CanaryState, error)
}

// prepared is a commit rendered for every cluster of its fleet, with the
// promotion state it was rendered with.
type prepared struct {
	rev       *source.Revision
	in        *schema.Intents
	canaries  map[string]map[string]render.CanaryState
	fleetDecl schema.Fleet
	desired   map[string][]*unstructured.Unstructured

	// counts adds up, per cluster, what the syncs of this commit did, for
	// the notifier: the clusters' statuses keep the counts of the last
	// sync that changed something, which may be an older commit's.
	countsMu gosync.Mutex
	counts   map[string]map[apply.Action]int
}

func (p *prepared) addCounts(cluster string, counts map[apply.Action]int) {
	p.countsMu.Lock()
	defer p.countsMu.Unlock()
	if p.counts == nil {
		p.counts = map[string]map[apply.Action]int{}
	}
	if p.counts[cluster] == nil {
		p.counts[cluster] = map[apply.Action]int{}
	}
	for a, n := range counts {
		if a != apply.Unchanged {
			p.counts[cluster][a] += n
		}
	}
}

// clusterCounts is each cluster's status with the counts of this commit.
func (p *prepared) clusterCounts(statuses map[string]apply.ClusterStatus) map[string]apply.ClusterStatus {
	p.countsMu.Lock()
	defer p.countsMu.Unlock()
	out := make(map[string]apply.ClusterStatus, len(statuses))
	for name, st := range statuses {
		st.Counts = maps.Clone(p.counts[name])
		out[name] = st
	}
	return out
}

// Intents returns the intents of the commit being applied, nil before the
// first good commit. Promotion reads the canary plans from it.
func (r *Reconciler) Intents() *schema.Intents {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return nil
	}
	return r.current.in
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
	// Clusters is each cluster's own status, by name.
	Clusters map[string]apply.ClusterStatus
}

// Status returns a copy of the reconciler's status; it is safe to call
// while Run is going.
func (r *Reconciler) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	if r.fleet != nil {
		st.Clusters = map[string]apply.ClusterStatus{}
		for _, c := range r.fleet.Clusters() {
			st.Clusters[c.Name] = c.Status()
		}
	}
	return st
}

func (r *Reconciler) setStatus(f func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.status)
}

// Trigger asks Run for a sync now, without waiting for it. Calls that
// come while one is pending are coalesced into that one sync, so a burst
// of webhook deliveries costs one sync. A call before Run starts is not
// kept: Run's first sync reads the head anyway.
func (r *Reconciler) Trigger() { r.requestSync(0) }

// requestSync asks Run for a sync after d; without Run it does nothing.
// The queue keeps only the earliest of the requests that wait.
func (r *Reconciler) requestSync(d time.Duration) {
	r.mu.Lock()
	q := r.queue
	r.mu.Unlock()
	if q != nil {
		q.AddAfter(syncKey, d)
	}
}

// Run syncs at once, then every interval, on Trigger, and sooner for a
// cluster that was unreachable (with backoff), until ctx is done. It
// corrects drift as the watches see it in between. Errors are logged, not
// returned: the next round tries again. It stops its watches when it
// returns.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	defer r.Close()
	q := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "sailplan-sync"})
	r.mu.Lock()
	r.queue = q
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.queue = nil
		r.mu.Unlock()
		q.ShutDown()
	}()
	// Get blocks without a context: shutting the queue down ends it.
	defer context.AfterFunc(ctx, q.ShutDown)()
	q.Add(syncKey)
	for {
		key, quit := q.Get()
		if quit || ctx.Err() != nil {
			return nil
		}
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error("sync failed", "err", err)
		}
		r.mu.Lock()
		if f := r.fleet; f != nil {
			for _, c := range f.Clusters() {
				c.StartDrift(f.ctx, r.Log)
			}
		}
		r.mu.Unlock()
		// Jittered, so that replicas and fleets of daemons do not poll a
		// Git server in step.
		q.AddAfter(key, wait.Jitter(interval, pollJitter))
		// A request that came during the sync is handed out again now.
		q.Done(key)
	}
}

// Close stops the watches of the fleet's clusters; a later Sync starts
// them again.
func (r *Reconciler) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fleet != nil {
		r.fleet.Close()
		r.fleet = nil
	}
}

// Sync brings every cluster to what the source's head commit renders to.
// A new head is fetched and rendered for every cluster first; a commit
// whose intents do not load, validate or render changes nothing in any
// cluster: it is reported once, not tried again, and the last good commit
// stays applied. Clusters are then synced against their watch caches even
// when the head did not move, which catches up clusters that were
// unreachable and costs no write where nothing changed.
func (r *Reconciler) Sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	err := r.sync(ctx)
	r.setStatus(func(s *Status) { s.LastErr = err })
	return err
}

func (r *Reconciler) sync(ctx context.Context) error {
	head, headErr := r.Source.Head(ctx)
	r.mu.Lock()
	cur := r.current
	rejected := r.status.Rejected
	r.mu.Unlock()
	if headErr == nil && (cur == nil || head != cur.rev.Commit) && head != rejected {
		rev, err := r.Source.Fetch(ctx)
		var refused *source.RefusedError
		if errors.As(err, &refused) {
			// Refused as it is (an unsigned head, say): the last good
			// commit stays, and the reason is in the status.
			r.setStatus(func(s *Status) { s.Rejected, s.RejectedErr = head, err })
			r.Log.Error("commit refused, nothing applied", "commit", head, "err", err)
			if r.Notifier != nil {
				r.Notifier.CommitRejected(ctx, head, nil, err)
			}
		} else if err != nil {
			return err
		}
		var last map[string]map[string]render.CanaryState
		if cur != nil {
			last = cur.canaries
		}
		var next *prepared
		if rev != nil {
			next, err = r.prepare(ctx, rev, last)
		}
		switch {
		case rev == nil:
		case err != nil && isPermanent(err):
			r.setStatus(func(s *Status) { s.Rejected, s.RejectedErr = rev.Commit, err })
			r.Log.Error("commit rejected, nothing applied", "commit", rev.Short(), "author", rev.Author, "err", err)
			if r.Notifier != nil {
				r.Notifier.CommitRejected(ctx, rev.Commit, rev, err)
			}
		case err != nil:
			return fmt.Errorf("commit %s: %w", rev.Short(), err)
		default:
			cur = next
		}
	}
	if cur == nil {
		return headErr
	}
	// Promotion moved: render the same commit with the new weights.
	canaryErr := r.refreshCanaries(ctx, &cur)
	headErr = errors.Join(headErr, canaryErr)
	fleet, err := r.fleetFor(ctx, cur.fleetDecl)
	if err != nil {
		return errors.Join(headErr, fmt.Errorf("commit %s: %w", cur.rev.Short(), err))
	}
	r.mu.Lock()
	r.current = cur
	r.mu.Unlock()
	if err := r.applyWaves(ctx, fleet, cur); err != nil {
		return errors.Join(headErr, fmt.Errorf("commit %s: %w", cur.rev.Short(), err))
	}
	first := false
	r.setStatus(func(s *Status) { first, s.Applied = s.Applied != cur.rev.Commit, cur.rev.Commit })
	if first && r.Notifier != nil {
		r.Notifier.CommitApplied(ctx, cur.rev, cur.clusterCounts(r.Status().Clusters))
	}
	// Git being down does not stop the clusters from being kept at the
	// last commit, but it is still an error to report.
	return headErr
}

// refreshCanaries re-renders the current commit when the promotion state
// changed since it was rendered. When the state cannot be read, the
// clusters keep the weights they have.
func (r *Reconciler) refreshCanaries(ctx context.Context, cur **prepared) error {
	if r.Canaries == nil {
		return nil
	}
	weights, err := r.Canaries.Weights(ctx, (*cur).in)
	if err != nil {
		return fmt.Errorf("promotion state: %w (weights unchanged)", err)
	}
	if reflect.DeepEqual(weights, (*cur).canaries) {
		return nil
	}
	next, err := r.renderAll((*cur).rev, (*cur).in, weights)
	if err != nil {
		return fmt.Errorf("commit %s: %w", (*cur).rev.Short(), err)
	}
	*cur = next
	return nil
}

// prepare loads and renders one revision for every cluster of the fleet
// it declares, before anything is applied, so that an error leaves every
// cluster as it was. Load and render errors are permanent. last is the
// promotion state of the commit applied so far.
func (r *Reconciler) prepare(ctx context.Context, rev *source.Revision, last map[string]map[string]render.CanaryState) (*prepared, error) {
	in, err := schema.Load(rev.Files)
	if err != nil {
		return nil, permanent(err)
	}
	if len(in.Fleet.Clusters) == 0 {
		return nil, permanent(fmt.Errorf("fleet: no clusters declared (add fleet: clusters: NAME: {} to the intents)"))
	}
	var canaries map[string]map[string]render.CanaryState
	if r.Canaries != nil {
		// Unreadable promotion state keeps the weights last rendered (0 %
		// for a candidate never seen): a commit must not move traffic that
		// promotion did not move.
		if canaries, err = r.Canaries.Weights(ctx, in); err != nil {
			r.Log.Error("promotion state unreadable; keeping the last weights", "err", err)
			canaries = last
		}
	}
	return r.renderAll(rev, in, canaries)
}

// renderAll renders loaded intents for every cluster of their fleet.
func (r *Reconciler) renderAll(rev *source.Revision, in *schema.Intents, canaries map[string]map[string]render.CanaryState) (*prepared, error) {
	p := &prepared{rev: rev, in: in, canaries: canaries, fleetDecl: in.Fleet, desired: map[string][]*unstructured.Unstructured{}}
	for name := range in.Fleet.Clusters {
		objs, err := renderFor(in, name, rev.Commit, canaries[name])
		if err != nil {
			return nil, permanent(fmt.Errorf("cluster %s: %w", name, err))
		}
		p.desired[name] = objs
	}
	return p, nil
}

// fleetFor reuses the clients and watches of the previous commit unless
// the declared fleet changed.
func (r *Reconciler) fleetFor(ctx context.Context, decl schema.Fleet) (*Fleet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fleet != nil && reflect.DeepEqual(decl, r.fleetDecl()) {
		return r.fleet, nil
	}
	f, err := newFleet(ctx, fleetConfig{kubeconfig: r.Kubeconfig, opts: r.Options.WithDefaults(), wrapTransport: r.wrapTransport}, decl)
	if err != nil {
		return nil, err
	}
	if r.fleet != nil {
		r.fleet.Close()
	}
	r.fleet = f
	return f, nil
}

// fleetDecl is the declaration the current fleet was built from.
func (r *Reconciler) fleetDecl() schema.Fleet {
	if r.fleet == nil {
		return schema.Fleet{}
	}
	return r.fleet.decl
}

func renderFor(in *schema.Intents, cluster, commit string, canaries map[string]render.CanaryState) ([]*unstructured.Unstructured, error) {
	objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: commit, Canaries: canaries})
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
