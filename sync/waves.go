package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
)

// Backoff of a cluster that did not answer: retried after 1s, 2s, 4s, ...
// up to retryMax, on top of the regular interval.
const (
	retryBase = time.Second
	retryMax  = time.Minute
)

// applyWaves applies each wave's clusters at the same time, wave after
// wave, so that a change reaches the first wave before any later one:
//
//   - a wave in which a cluster answered with an error stops later waves,
//     unless ContinueOnWaveFailure;
//   - a wave in which more clusters than MaxUnreachable do not answer and
//     do not hold the commit yet holds later waves back until they do,
//     and is retried with backoff meanwhile;
//
// and the clusters of a stopped or held wave wait, with the reason, which
// names the clusters. Excluded clusters are left out altogether.
func (r *Reconciler) applyWaves(ctx context.Context, fleet *Fleet, cur *prepared) error {
	opts := r.Options.WithDefaults()
	commit := cur.rev.Commit
	r.excluded(fleet)
	var errs []error
	var blocked, held error
	for _, wave := range fleet.Waves() {
		wait := held
		if blocked != nil && !r.ContinueOnWaveFailure {
			wait = blocked
		}
		if wait != nil {
			for _, m := range wave {
				r.publish(notify.ClusterWaiting{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Reason: wait.Error()})
			}
			continue
		}
		werrs := make([]error, len(wave))
		var wg gosync.WaitGroup
		for i, m := range wave {
			wg.Go(func() { werrs[i] = r.syncCluster(ctx, fleet, m, cur, opts) })
		}
		wg.Wait()
		var failed []error
		var behind []string
		for i, err := range werrs {
			switch {
			case err == nil:
			case kube.IsUnreachable(err):
				errs = append(errs, err)
				if wave[i].holds != commit {
					behind = append(behind, wave[i].Name)
				}
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
		if allowed := r.maxUnreachable(len(wave)); len(behind) > allowed && held == nil {
			held = fmt.Errorf("wave %d holds %s back: %s cannot be reached and does not have it yet (%d allowed per wave: --max-unreachable-per-wave)",
				wave[0].Wave, notify.Short(commit), strings.Join(behind, ", "), allowed)
		}
	}
	if blocked != nil && !r.ContinueOnWaveFailure {
		errs = append(errs, errors.New("later waves not applied"))
	} else if held != nil {
		errs = append(errs, fmt.Errorf("%w; later waves wait", held))
	}
	return errors.Join(errs...)
}

// maxUnreachable is how many of a wave's n clusters may not answer without
// holding later waves back: MaxUnreachable, a number or a percentage of
// the wave rounded down, as Kubernetes rounds maxUnavailable.
func (r *Reconciler) maxUnreachable(n int) int {
	v, err := intstr.GetScaledValueFromIntOrPercent(&r.MaxUnreachable, n, false)
	if err != nil {
		return 0 // validated where it is set; a bad value holds, the safe way
	}
	return v
}

// excluded tells, once per fleet, of the declared clusters this daemon
// leaves out.
func (r *Reconciler) excluded(fleet *Fleet) {
	if fleet.excludedSaid {
		return
	}
	fleet.excludedSaid = true
	for _, name := range slices.Sorted(maps.Keys(fleet.decl.Clusters)) {
		if slices.Contains(r.Exclude, name) {
			r.publish(notify.ClusterExcluded{At: at(), Cluster: name, Wave: fleet.decl.Clusters[name].Wave})
		}
	}
}

// syncCluster syncs one cluster, keeps its backoff and publishes what
// became of it. Its error names the cluster.
func (r *Reconciler) syncCluster(ctx context.Context, fleet *Fleet, m *Member, cur *prepared, opts apply.Options) error {
	start := time.Now()
	opts.Commit = cur.rev.Commit
	out, err := m.Sync(ctx, cur.desired[m.Name], opts)
	took := time.Since(start)
	c := countsOf(out.Counts())
	kinds := make(map[string]notify.Counts, len(out.Kinds))
	for kind, counts := range out.Kinds {
		kinds[kind] = countsOf(counts)
	}
	cur.addCounts(m.Name, c)
	changes := make([]notify.ObjectChange, len(out.Results))
	for i, res := range out.Results {
		changes[i] = notify.ObjectChange{Object: res.Object, Action: string(res.Action)}
	}
	commit := cur.rev.Commit
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		unreachable := kube.IsUnreachable(err)
		// Retried on its own schedule, counted from this failure, whatever
		// the poll interval, until a sync succeeds: a cluster that answers
		// again may still fail at first (its CRDs not served yet, say).
		if unreachable || fleet.retries.Get(m.Name) > 0 {
			fleet.retries.Next(m.Name, time.Now())
			r.loop.AskAfter(fleet.retries.Get(m.Name))
		}
		if unreachable {
			if m.down.IsZero() {
				m.down = start
			}
			r.publish(notify.ClusterUnreachable{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Err: err.Error(), RetryIn: fleet.retries.Get(m.Name),
				Kinds: kinds})
			return fmt.Errorf("cluster %s: %w", m.Name, err)
		}
		var refused *apply.PruneRefusedError
		if errors.As(err, &refused) {
			r.publish(notify.PruneRefused{At: at(), Cluster: m.Name, Commit: commit, Delete: refused.Delete, Inventory: refused.Inventory,
				MaxShare: refused.MaxShare, Examples: refused.Examples})
		}
		r.recovered(m)
		r.publish(notify.ClusterFailed{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Err: err.Error(), Duration: took,
			Kinds: kinds, Changes: changes, Conflicts: out.Conflicts})
		return fmt.Errorf("cluster %s: %w", m.Name, err)
	}
	fleet.retries.Reset(m.Name)
	// Given this very rendering before: what the sync wrote now, someone
	// else had changed. A new commit or new weights are no drift.
	held := m.synced == cur.rendering
	m.holds, m.synced = commit, cur.rendering
	r.recovered(m)
	r.publish(notify.ClusterSynced{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Committed: cur.rev.Time, Counts: c, Kinds: kinds,
		Duration: took, Changes: changes})
	if held {
		r.driftPutBack(m.Name, out.Results)
	}
	return nil
}

// driftPutBack publishes, as drift corrected, what a sync wrote to a cluster
// that already held the same rendering of the commit: someone deleted or
// changed those objects, and the sync came before the drift watch put them
// back.
func (r *Reconciler) driftPutBack(cluster string, written []apply.Result) {
	for _, res := range written {
		what := ""
		switch res.Action {
		case apply.Created:
			what = "deleted"
		case apply.Configured:
			what = "changed"
		default:
			continue
		}
		r.publish(notify.DriftCorrected{At: at(), Cluster: cluster, Object: res.Object, Kind: res.Kind, Drift: what})
	}
}

// recovered publishes that a cluster that did not answer answers again.
func (r *Reconciler) recovered(m *Member) {
	if m.down.IsZero() {
		return
	}
	down := time.Since(m.down)
	m.down = time.Time{}
	r.publish(notify.ClusterRecovered{At: at(), Cluster: m.Name, Wave: m.Wave, Down: down})
}

func countsOf(c map[apply.Action]int) notify.Counts {
	return notify.Counts{Created: c[apply.Created], Configured: c[apply.Configured], Unchanged: c[apply.Unchanged], Pruned: c[apply.Pruned]}
}
