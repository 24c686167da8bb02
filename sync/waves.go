package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	gosync "sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Backoff of a cluster that did not answer: retried after 1s, 2s, 4s, ...
// up to retryMax, on top of the regular interval.
const (
	retryBase = time.Second
	retryMax  = time.Minute
)

// unreachableError marks an error that says a cluster could not be
// reached, as opposed to one that the cluster answered with. An
// unreachable cluster does not fail its wave: the wave is done when every
// healthy cluster in it is, and the unreachable one is retried with
// backoff and caught up when it answers again.
type unreachableError struct{ error }

func (e unreachableError) Unwrap() error { return e.error }

func unreachable(err error) error {
	if err == nil {
		return nil
	}
	var u unreachableError
	if errors.As(err, &u) {
		return err
	}
	return unreachableError{err}
}

// isUnreachable says whether err comes from not reaching the cluster:
// transport errors, or an apiserver that is up but cannot serve.
func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var u unreachableError
	var ne net.Error
	switch {
	case errors.As(err, &u), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}

// syncCluster brings one cluster to objs, the objects rendered for it at
// commit, and records the outcome in the cluster's status:
//
//  1. one read to see that the cluster answers;
//  2. the ApplySet parent is read, and its kinds watched alongside the
//     ones about to be applied;
//  3. the parent is widened to list every kind and namespace of the new
//     objects before they exist (KEP-3659: a member is never outside the
//     parent's lists, even after a crash);
//  4. the objects are applied, unchanged ones skipped;
//  5. if all succeeded, members no longer rendered are pruned;
//  6. the parent is narrowed to what the cluster now holds, with the
//     status, in one write, and only if either changed.
func (c *Cluster) sync(ctx context.Context, commit string, objs []*unstructured.Unstructured, opts Options) (map[Action]int, []Result, error) {
	c.syncing.Add(1)
	defer c.syncing.Add(-1)
	if err := c.probe(ctx); err != nil {
		return nil, nil, err
	}
	parent, err := c.readParent(ctx)
	if err != nil {
		return nil, nil, err
	}
	ds, mapErr := c.applier.mappings(objs)
	gvrs, gks := c.watchedResources(parent.groupKinds, ds)
	if err := c.cache.watch(ctx, c.Name, gvrs); err != nil {
		return nil, nil, err
	}
	wantGKs, wantNSs := groupKindsOf(ds)
	wider := parentState{exists: true, groupKinds: union(parent.groupKinds, wantGKs), namespaces: union(parent.namespaces, wantNSs), status: parent.status}
	if err := c.writeParent(ctx, parent, wider); err != nil {
		return nil, nil, err
	}
	wider.namespaces = withoutNS(wider.namespaces, c.inventory.Namespace)

	out, applyErr := c.applier.apply(ctx, ds)
	counts := map[Action]int{}
	var results []Result
	keep := map[objKey]bool{}
	for i, d := range ds {
		keep[d.key] = true
		if out[i].err != nil || out[i].action == "" {
			continue
		}
		counts[out[i].action]++
		results = append(results, Result{Object: d.key.String(), Action: out[i].action})
		c.setApplied(d.key, out[i].body)
	}
	err = errors.Join(mapErr, applyErr)
	final := wider
	if err == nil {
		// Never prune after a failed apply: the objects that did not make
		// it might be the reason others look unwanted.
		pruned, perr := c.prune(ctx, keep, gks, opts.PruneMaxShare, opts.Workers)
		for _, p := range pruned {
			counts[Pruned]++
			results = append(results, p)
		}
		if perr == nil {
			final.groupKinds, final.namespaces = wantGKs, wantNSs
		}
		err = perr
	}
	if isUnreachable(err) {
		return counts, results, err
	}
	c.mu.Lock()
	prev := c.status
	c.mu.Unlock()
	if prev.State == "" || prev.State == StateUnreachable {
		if p, derr := decodeStatus(parent.status); derr == nil && p.State != "" {
			prev = p
		}
	}
	st := nextStatus(prev, c.Wave, commit, counts, err)
	final.status = st.encode()
	if st.sameAs(prev) && parent.status != "" {
		final.status = parent.status
	}
	if werr := c.writeParent(ctx, wider, final); werr != nil {
		err = errors.Join(err, werr)
	}
	c.setStatus(st)
	return counts, results, err
}

func withoutNS(nss []string, ns string) []string {
	var out []string
	for _, n := range nss {
		if n != ns {
			out = append(out, n)
		}
	}
	return out
}

func (c *Cluster) setStatus(st ClusterStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = st
}

// Status returns what sailplan last did in the cluster.
func (c *Cluster) Status() ClusterStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// markWaiting records that commit was not applied to the cluster because
// an earlier wave failed. It is best effort: the reason is in the
// reconciler's error as well.
func (c *Cluster) markWaiting(ctx context.Context, commit string, reason error) {
	c.mu.Lock()
	prev := c.status
	c.mu.Unlock()
	st := ClusterStatus{Commit: prev.Commit, Target: commit, State: StateWaiting, Wave: c.Wave, Counts: prev.Counts, Error: reason.Error(), Time: time.Now().UTC().Truncate(time.Second)}
	if st.sameAs(prev) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	parent, err := c.readParent(ctx)
	if err != nil {
		return
	}
	if prev.State == "" {
		if p, derr := decodeStatus(parent.status); derr == nil {
			st.Commit, st.Counts = p.Commit, p.Counts
		}
	}
	want := parent
	want.exists = true
	want.status = st.encode()
	if c.writeParent(ctx, parent, want) == nil {
		c.setStatus(st)
	}
}

// markUnreachable records that the cluster did not answer. Only the
// daemon's own status says so: the cluster's annotation keeps its last
// written state.
func (c *Cluster) markUnreachable(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.State, c.status.Error = StateUnreachable, err.Error()
}

// applyWaves applies each wave's clusters at the same time, wave after
// wave. A wave in which a reachable cluster failed stops later waves,
// unless Options.ContinueOnWaveFailure; their clusters are marked waiting,
// with the reason. An unreachable cluster does not fail its wave.
func (r *Reconciler) applyWaves(ctx context.Context, fleet *Fleet, cur *prepared) error {
	opts := r.Options.withDefaults()
	var errs []error
	var blocked error
	for _, wave := range fleet.Waves() {
		if blocked != nil && !opts.ContinueOnWaveFailure {
			for _, c := range wave {
				c.markWaiting(ctx, cur.rev.Commit, blocked)
			}
			continue
		}
		werrs := make([]error, len(wave))
		var wg gosync.WaitGroup
		for i, c := range wave {
			wg.Go(func() { werrs[i] = r.syncCluster(ctx, fleet, c, cur, opts) })
		}
		wg.Wait()
		var failed []error
		for _, err := range werrs {
			switch {
			case err == nil:
			case isUnreachable(err):
				errs = append(errs, err)
			default:
				failed = append(failed, err)
			}
		}
		if len(failed) > 0 {
			werr := fmt.Errorf("wave %d failed: %w", wave[0].Wave, errors.Join(failed...))
			errs = append(errs, werr)
			if blocked == nil {
				blocked = werr
			}
		}
	}
	if blocked != nil && !opts.ContinueOnWaveFailure {
		errs = append(errs, errors.New("later waves not applied"))
	}
	return errors.Join(errs...)
}

// syncCluster syncs one cluster, logs what it did and keeps its backoff.
func (r *Reconciler) syncCluster(ctx context.Context, fleet *Fleet, c *Cluster, cur *prepared, opts Options) error {
	counts, results, err := c.sync(ctx, cur.rev.Commit, cur.desired[c.Name], opts)
	cur.addCounts(c.Name, counts)
	for _, res := range results {
		level := slog.LevelInfo
		if res.Action == Unchanged {
			level = slog.LevelDebug
		}
		r.Log.Log(ctx, level, "applied", "cluster", c.Name, "object", res.Object, "action", res.Action, "commit", cur.rev.Short())
	}
	if err != nil {
		err = fmt.Errorf("cluster %s: %w", c.Name, err)
		if isUnreachable(err) {
			c.markUnreachable(err)
			// Retried on its own schedule, counted from this failure,
			// whatever the poll interval.
			fleet.retries.Next(c.Name, time.Now())
			r.requestSync(fleet.retries.Get(c.Name))
			r.Log.Warn("cluster unreachable, will retry", "cluster", c.Name, "commit", cur.rev.Short(), "err", err)
		}
		return err
	}
	fleet.retries.Reset(c.Name)
	level := slog.LevelInfo
	if !changed(counts) {
		level = slog.LevelDebug
	}
	r.Log.Log(ctx, level, "cluster synced", "cluster", c.Name, "commit", cur.rev.Short(),
		"created", counts[Created], "configured", counts[Configured], "unchanged", counts[Unchanged], "pruned", counts[Pruned])
	return nil
}
