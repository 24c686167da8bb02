package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/loop"
	"github.com/sailplan/sailplan/sync/source"
)

// Source gives the intents at the head of a branch.
type Source interface {
	// Head returns the commit the branch points at, cheaply.
	Head(ctx context.Context) (string, error)
	// Fetch returns the intents at the head. A *source.RefusedError (a bad
	// signature), or schema.Errors with the revision (files the reading
	// rule refuses), says that the head can never be applied: it is
	// rejected once and the last good commit stays.
	Fetch(ctx context.Context) (*source.Revision, error)
	// String names the source; its errors start with it.
	String() string
}

// Publisher receives what the reconciler does; notify.Bus is the real one.
type Publisher interface {
	Publish(e notify.Event)
}

// pollJitter is how much longer than the interval a poll may wait, at
// most: 0.1 spreads polls over [interval, 1.1 × interval].
const pollJitter = 0.1

// Reconciler keeps every cluster of the fleet at what the head commit of a
// source renders to, with the canary weights that promotion decided. It
// tells what it does only through events.
type Reconciler struct {
	// Source is where intents come from.
	Source Source
	// Kubeconfig is the path of the kubeconfig whose contexts are named
	// after the fleet's clusters; the default loading rules when empty.
	Kubeconfig string
	// Options tune pruning, parallelism and the ApplySet parent of every
	// cluster.
	Options apply.Options
	// ContinueOnWaveFailure applies later waves even when a cluster of an
	// earlier wave failed. By default a failed wave stops later ones, and
	// their clusters wait, with the reason.
	ContinueOnWaveFailure bool
	// MaxUnreachable is how many clusters of a wave (a number, or a
	// percentage of the wave, rounded down) may be unreachable without
	// the wave holding a new commit back from later waves. 0, the default,
	// holds later waves until every cluster of the wave has the commit.
	MaxUnreachable intstr.IntOrString
	// Exclude names declared clusters this daemon leaves out: not applied,
	// not waited for, shown as excluded.
	Exclude []string
	// Events receives every event; nil publishes none.
	Events Publisher
	// EvalLimits bound the evaluation of each new commit's intents (zero
	// fields take schema/bounded's defaults). A commit over them is
	// rejected with reason notify.RejectedLimits, once, like an invalid one.
	EvalLimits bounded.Limits
	// WaitForPromotions holds every apply until the promotion controller
	// has published the stored promotions (notify.PromotionsLoaded), so
	// that a restarted daemon renders the weights promotion decided and
	// never sends a candidate's traffic back to stable by itself. Set it
	// when promotions run.
	WaitForPromotions bool

	// wrapTransport, when set, wraps every cluster's HTTP transport
	// (tests count and interrupt requests with it).
	wrapTransport func(cluster string, rt http.RoundTripper) http.RoundTripper

	// evaluator evaluates commits, reusing what it evaluated before.
	evaluator *bounded.Evaluator
	// renderer renders commits, reusing the objects of unchanged services.
	renderer render.Renderer

	// syncMu makes syncs one at a time.
	syncMu gosync.Mutex

	mu    gosync.Mutex
	fleet *Fleet
	// current is the commit applied (or being applied); next a newer one
	// that loaded but is held (its fleet cannot be reached as declared),
	// kept so that it is not fetched and rendered again at every sync.
	current, next *prepared
	// rejected is the last head that was rejected: it is not fetched again.
	rejected string
	// applying and applied are the last commits announced as such.
	applying, applied string
	// fleetErr is the last fleet configuration error announced.
	fleetErr string
	// sourceDown is when the source started failing; zero while it answers.
	sourceDown time.Time
	// promotions are the latest promotions published, by service;
	// loaded is closed once the stored ones are in.
	promotions map[string]notify.Promotion
	loaded     chan struct{}
	loadedOnce gosync.Once
	// loop runs the syncs: every reason to sync (a poll, a trigger, a
	// retry) asks for the same thing, a sync of everything, so asks that
	// arrive while one is pending or running coalesce.
	loop loop.Loop
	// rounds counts the syncs Run completed, and lastRound is when the
	// last one ended (Unix nanoseconds): what liveness looks at.
	rounds, lastRound atomic.Int64
}

// prepared is a commit rendered for every cluster of its fleet, with the
// promotion weights it was rendered with.
type prepared struct {
	rev      *source.Revision
	in       *schema.Intents
	canaries map[string]map[string]render.CanaryState
	desired  map[string][]*unstructured.Unstructured
	// rendering tells this rendering from every other of the process: the
	// same commit is rendered again when promotions move its weights.
	rendering uint64

	// counts adds up, per cluster, what the syncs of this commit wrote,
	// for CommitApplied.
	countsMu gosync.Mutex
	counts   map[string]notify.Counts
}

func (p *prepared) addCounts(cluster string, c notify.Counts) {
	p.countsMu.Lock()
	defer p.countsMu.Unlock()
	if p.counts == nil {
		p.counts = map[string]notify.Counts{}
	}
	c.Unchanged = 0
	p.counts[cluster] = p.counts[cluster].Plus(c)
}

func (p *prepared) clusterCounts() map[string]notify.Counts {
	p.countsMu.Lock()
	defer p.countsMu.Unlock()
	out := make(map[string]notify.Counts, len(p.in.Fleet.Clusters))
	for name := range p.in.Fleet.Clusters {
		out[name] = p.counts[name]
	}
	return out
}

func commitOf(rev *source.Revision) notify.Commit {
	return notify.Commit{Hash: rev.Commit, Author: rev.Author, Message: rev.Message, Signer: rev.Signer, Time: rev.Time}
}

func (r *Reconciler) publish(e notify.Event) {
	if r.Events != nil {
		r.Events.Publish(e)
	}
}

func at() notify.At { return notify.At{Time: time.Now()} }

// Handle takes the promotion weights from promotion events: when they
// change what the current commit renders to, a sync is asked for. It is
// the reconciler's side of the bus and never blocks.
func (r *Reconciler) Handle(e notify.Event) {
	r.mu.Lock()
	if r.promotions == nil {
		r.promotions = map[string]notify.Promotion{}
	}
	switch e := e.(type) {
	case notify.PromotionsLoaded:
		for _, p := range e.Promotions {
			r.promotions[p.Service] = p
		}
		r.loadedOnce.Do(func() { close(r.loadedCh()) })
	case notify.PromotionEvent:
		p := e.Current()
		r.promotions[p.Service] = p
	default:
		r.mu.Unlock()
		return
	}
	moved := r.current != nil && !reflect.DeepEqual(canariesFor(r.current.in, r.promotions), r.current.canaries)
	r.mu.Unlock()
	if moved {
		r.Trigger()
	}
}

// loadedCh is closed once the stored promotions are in; r.mu is held.
func (r *Reconciler) loadedCh() chan struct{} {
	if r.loaded == nil {
		r.loaded = make(chan struct{})
	}
	return r.loaded
}

// canariesFor is what render takes from the promotions, per cluster: each
// candidate's weight in the cluster's wave. A promotion of another
// candidate than the intents name counts as none, and 0 % is left out, so
// that a promotion that has not taken a step renders as no promotion.
func canariesFor(in *schema.Intents, promotions map[string]notify.Promotion) map[string]map[string]render.CanaryState {
	out := map[string]map[string]render.CanaryState{}
	for cluster, cl := range in.Fleet.Clusters {
		m := map[string]render.CanaryState{}
		for name, p := range promotions {
			svc, ok := in.Services[name]
			if !ok || svc.Canary == nil || svc.Canary.Candidate != p.Candidate {
				continue
			}
			if w := p.WeightIn(cl.Wave); w > 0 {
				m[name] = render.CanaryState{Candidate: p.Candidate, Weight: w}
			}
		}
		out[cluster] = m
	}
	return out
}

// Trigger asks Run for a sync now, without waiting for it. Calls that
// come while one is pending are coalesced into that one sync, so a burst
// of webhook deliveries costs one sync. A call before Run starts is not
// kept: Run's first sync reads the head anyway.
func (r *Reconciler) Trigger() { r.loop.Ask() }

// Run syncs at once, then every interval, on Trigger, and sooner for a
// cluster that was unreachable (with backoff), until ctx is done. It
// corrects drift as the watches see it in between. What goes wrong is
// published, not returned: the next round tries again. It stops its
// watches when it returns.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	defer r.Close()
	r.loop.Name = "sailplan-sync"
	// Jittered, so that replicas and fleets of daemons do not poll a Git
	// server in step.
	next := func() time.Duration { return wait.Jitter(interval, pollJitter) }
	r.loop.Run(ctx, next, func(ctx context.Context) {
		_ = r.Sync(ctx) // published as events
		r.rounds.Add(1)
		r.lastRound.Store(time.Now().UnixNano())
		r.mu.Lock()
		defer r.mu.Unlock()
		if f := r.fleet; f != nil {
			for _, m := range f.Clusters() {
				m.StartDrift(f.ctx, r.driftReporter(m.Name))
			}
		}
	})
	return nil
}

// Progress says how many syncs Run has completed and when the last ended:
// a loop that stops completing them is wedged.
func (r *Reconciler) Progress() (rounds int64, last time.Time) {
	n := r.rounds.Load()
	if n == 0 {
		return 0, time.Time{}
	}
	return n, time.Unix(0, r.lastRound.Load())
}

func (r *Reconciler) driftReporter(cluster string) func(apply.Drift) {
	return func(d apply.Drift) {
		e := notify.DriftCorrected{At: at(), Cluster: cluster, Object: d.Object, Kind: d.Kind, Drift: d.What}
		if d.Err != nil {
			e.Err = d.Err.Error()
		}
		r.publish(e)
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

// Sync brings every cluster to what the source's head commit renders to,
// and publishes what happened. A new head is fetched and rendered for
// every cluster first; a commit whose intents do not load, validate or
// render changes nothing in any cluster: it is rejected once, not tried
// again, and the last good commit stays applied. Clusters are then synced
// against their watch caches even when the head did not move, which
// catches up clusters that were unreachable and costs no write where
// nothing changed. The error joins what went wrong, for one-shot callers.
func (r *Reconciler) Sync(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if err := r.waitForPromotions(ctx); err != nil {
		return err
	}
	start := time.Now()
	head, headErr := r.head(ctx)
	r.mu.Lock()
	cur, next, rejected := r.current, r.next, r.rejected
	r.mu.Unlock()
	switch {
	case headErr != nil || head == rejected:
	case next != nil && head == next.rev.Commit:
		cur = next
	case cur == nil || head != cur.rev.Commit:
		loaded, err := r.load(ctx, head, start)
		if err != nil {
			headErr = err
		} else if loaded != nil {
			cur = loaded
		}
	}
	if cur == nil {
		return headErr
	}
	cur, err := r.withLatestWeights(cur)
	if err != nil {
		return errors.Join(headErr, err)
	}
	fleet, err := r.fleetFor(ctx, cur)
	if err != nil {
		r.mu.Lock()
		r.next = cur
		r.mu.Unlock()
		return errors.Join(headErr, err)
	}
	r.mu.Lock()
	r.current, r.next = cur, nil
	announce := r.applying != cur.rev.Commit
	r.applying = cur.rev.Commit
	r.mu.Unlock()
	if announce {
		r.publish(notify.CommitApplying{At: at(), Commit: commitOf(cur.rev), Intents: cur.in, Warnings: cur.in.Warnings.Strings()})
	}
	if err := r.applyWaves(ctx, fleet, cur); err != nil {
		return errors.Join(headErr, fmt.Errorf("commit %s: %w", cur.rev.Short(), err))
	}
	r.mu.Lock()
	first := r.applied != cur.rev.Commit
	r.applied = cur.rev.Commit
	r.mu.Unlock()
	if first {
		r.publish(notify.CommitApplied{At: at(), Commit: commitOf(cur.rev), Clusters: cur.clusterCounts()})
	}
	// Git being down does not stop the clusters from being kept at the
	// last commit, but it is still an error to report.
	return headErr
}

// waitForPromotions blocks until the stored promotions are in, when asked to.
func (r *Reconciler) waitForPromotions(ctx context.Context) error {
	if !r.WaitForPromotions {
		return nil
	}
	r.mu.Lock()
	loaded := r.loadedCh()
	r.mu.Unlock()
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// head reads the source's head and publishes its health: every failure,
// and the first answer after failures.
func (r *Reconciler) head(ctx context.Context) (string, error) {
	head, err := r.Source.Head(ctx)
	if err != nil {
		r.sourceFailed(ctx, err)
		return "", err
	}
	r.mu.Lock()
	down := r.sourceDown
	r.sourceDown = time.Time{}
	r.mu.Unlock()
	if !down.IsZero() {
		r.publish(notify.SourceRecovered{At: at(), Source: r.Source.String(), Down: time.Since(down)})
	}
	return head, nil
}

func (r *Reconciler) sourceFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	if r.sourceDown.IsZero() {
		r.sourceDown = time.Now()
	}
	r.mu.Unlock()
	r.publish(notify.SourceFailed{At: at(), Source: r.Source.String(), Err: r.withoutSource(err)})
}

// withoutSource is an error of the source without the source's name in
// front: events name the source once, in a field of their own.
func (r *Reconciler) withoutSource(err error) string {
	return strings.TrimPrefix(err.Error(), r.Source.String()+": ")
}

// load fetches a new head, loads its intents and renders them for every
// cluster of its fleet, before anything is applied, so that an error
// leaves every cluster as it was. A commit that can never be applied as it
// is (not signed, invalid intents, over the evaluation limits, no
// clusters) is rejected: published, remembered, nil returned. An error is a
// fetch that failed, or an evaluation that ctx stopped, and is tried again
// at the next sync. started is when reading the head began: the fetch is
// published with how long the whole read took.
func (r *Reconciler) load(ctx context.Context, head string, started time.Time) (*prepared, error) {
	r.publish(notify.CommitSeen{At: at(), Source: r.Source.String(), Commit: notify.Commit{Hash: head}})
	rev, err := r.Source.Fetch(ctx)
	fetched := func(c notify.Commit) {
		r.publish(notify.CommitFetched{At: at(), Source: r.Source.String(), Commit: c, Duration: time.Since(started)})
	}
	var refused *source.RefusedError
	var invalid schema.Errors
	switch {
	case errors.As(err, &refused):
		c := notify.Commit{Hash: refused.Commit, Author: refused.Author, Message: refused.Message}
		fetched(c)
		r.reject(c, notify.RejectedSignature, []string{r.withoutSource(refused)})
		return nil, nil
	case errors.As(err, &invalid) && rev != nil:
		// Files the reading rule refuses (a symbolic link, a file too
		// large): the commit can never be applied as it is.
		fetched(commitOf(rev))
		r.reject(commitOf(rev), notify.RejectedInvalid, errorLines(invalid))
		return nil, nil
	case err != nil:
		r.sourceFailed(ctx, err)
		return nil, err
	}
	fetched(commitOf(rev))
	r.mu.Lock()
	if r.evaluator == nil {
		r.evaluator = &bounded.Evaluator{Limits: r.EvalLimits}
	}
	evaluator := r.evaluator
	r.mu.Unlock()
	// Content-keyed: a commit that changes no intent file is not
	// evaluated again, one that changes a file evaluates that file only
	// where the files load one by one.
	in, usage, err := evaluator.Evaluate(ctx, rev.Files)
	if usage != (bounded.Usage{}) && (err == nil || ctx.Err() == nil) {
		r.publish(notify.CommitEvaluated{At: at(), Commit: commitOf(rev), Duration: usage.Took, PeakBytes: usage.Peak})
	}
	var limit *bounded.LimitError
	switch {
	case errors.As(err, &limit):
		r.reject(commitOf(rev), notify.RejectedLimits, []string{limit.Error()})
		return nil, nil
	case err != nil && ctx.Err() != nil:
		// The daemon stops: the commit is evaluated when it starts again.
		return nil, err
	case err != nil:
		r.reject(commitOf(rev), notify.RejectedInvalid, errorLines(err))
		return nil, nil
	}
	if len(in.Fleet.Clusters) == 0 {
		r.reject(commitOf(rev), notify.RejectedFleet, []string{errNoClusters.Error()})
		return nil, nil
	}
	r.mu.Lock()
	canaries := canariesFor(in, r.promotions)
	r.mu.Unlock()
	p, err := renderAll(&r.renderer, rev, in, canaries)
	if err != nil {
		r.reject(commitOf(rev), notify.RejectedInvalid, []string{err.Error()})
		return nil, nil
	}
	return p, nil
}

var errNoClusters = errors.New("fleet: no clusters declared (add fleet: clusters: NAME: {} to the intents)")

func (r *Reconciler) reject(c notify.Commit, reason string, errs []string) {
	r.mu.Lock()
	r.rejected = c.Hash
	r.mu.Unlock()
	r.publish(notify.CommitRejected{At: at(), Commit: c, Reason: reason, Errors: errs})
}

// errorLines is an error as one line per problem: schema's errors each
// with file:line:col, anything else as its lines.
func errorLines(err error) []string {
	var es schema.Errors
	if errors.As(err, &es) {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.Error()
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

// withLatestWeights renders the commit again when promotion moved since
// it was rendered.
func (r *Reconciler) withLatestWeights(cur *prepared) (*prepared, error) {
	r.mu.Lock()
	canaries := canariesFor(cur.in, r.promotions)
	r.mu.Unlock()
	if reflect.DeepEqual(canaries, cur.canaries) {
		return cur, nil
	}
	next, err := renderAll(&r.renderer, cur.rev, cur.in, canaries)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", cur.rev.Short(), err)
	}
	return next, nil
}

// renderings counts renderAll's renderings.
var renderings atomic.Uint64

// renderAll renders loaded intents for every cluster of their fleet
// through rr, which renders only the services that changed since its last
// commit (render.Renderer). Clusters that see the same intents (no
// overrides) with the same canary weights get the same objects: the
// applier copies what it sends.
func renderAll(rr *render.Renderer, rev *source.Revision, in *schema.Intents, canaries map[string]map[string]render.CanaryState) (*prepared, error) {
	p := &prepared{rev: rev, in: in, canaries: canaries, desired: map[string][]*unstructured.Unstructured{}, rendering: renderings.Add(1)}
	type rendered struct {
		view     *schema.Intents
		canaries map[string]render.CanaryState
		objs     []*unstructured.Unstructured
	}
	var done []rendered
	// Clusters whose views differ still share the objects they render
	// alike: the services' through rr, the others' through sh.
	var sh sharer
	for _, name := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
		view := in.ForCluster(name)
		i := slices.IndexFunc(done, func(r rendered) bool {
			return r.view == view && reflect.DeepEqual(r.canaries, canaries[name])
		})
		if i >= 0 {
			p.desired[name] = done[i].objs
			continue
		}
		objs, err := rr.Render(in, render.Options{Cluster: name, Commit: rev.Commit, Canaries: canaries[name]})
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		sh.share(objs)
		p.desired[name] = objs
		done = append(done, rendered{view: view, canaries: canaries[name], objs: objs})
	}
	rr.Forget()
	return p, nil
}

// fleetFor reuses the clients and watches of the previous commit unless
// the declared fleet changed. A fleet that cannot be reached as declared
// (a cluster without a kubeconfig context) holds the commit: it is a
// configuration error of this daemon, published once per error and tried
// again at every sync, since fixing it changes no commit.
func (r *Reconciler) fleetFor(ctx context.Context, cur *prepared) (*Fleet, error) {
	decl := cur.in.Fleet
	r.mu.Lock()
	if r.fleet != nil && reflect.DeepEqual(decl, r.fleet.decl) {
		f := r.fleet
		r.mu.Unlock()
		return f, nil
	}
	r.mu.Unlock()
	f, err := newFleet(ctx, fleetConfig{kubeconfig: r.Kubeconfig, opts: r.Options.WithDefaults(), wrapTransport: r.wrapTransport, exclude: r.Exclude}, decl)
	r.mu.Lock()
	if err != nil {
		announce := r.fleetErr != err.Error()
		r.fleetErr = err.Error()
		r.mu.Unlock()
		if announce {
			r.publish(notify.CommitRejected{At: at(), Commit: commitOf(cur.rev), Reason: notify.RejectedFleet, Errors: []string{err.Error()}})
		}
		return nil, fmt.Errorf("commit %s: %w", cur.rev.Short(), err)
	}
	defer r.mu.Unlock()
	r.fleetErr = ""
	if r.fleet != nil {
		r.fleet.Close()
	}
	r.fleet = f
	return f, nil
}
