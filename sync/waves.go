package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

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
// wave. A wave in which a reachable cluster failed stops later waves,
// unless ContinueOnWaveFailure; their clusters wait, with the reason. An
// unreachable cluster does not fail its wave.
func (r *Reconciler) applyWaves(ctx context.Context, fleet *Fleet, cur *prepared) error {
	opts := r.Options.WithDefaults()
	var errs []error
	var blocked error
	for _, wave := range fleet.Waves() {
		if blocked != nil && !r.ContinueOnWaveFailure {
			for _, m := range wave {
				r.publish(notify.ClusterWaiting{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: cur.rev.Commit, Reason: blocked.Error()})
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
		for _, err := range werrs {
			switch {
			case err == nil:
			case kube.IsUnreachable(err):
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
	if blocked != nil && !r.ContinueOnWaveFailure {
		errs = append(errs, errors.New("later waves not applied"))
	}
	return errors.Join(errs...)
}

// syncCluster syncs one cluster, keeps its backoff and publishes what
// became of it. Its error names the cluster.
func (r *Reconciler) syncCluster(ctx context.Context, fleet *Fleet, m *Member, cur *prepared, opts apply.Options) error {
	start := time.Now()
	counts, results, err := m.Sync(ctx, cur.desired[m.Name], opts)
	took := time.Since(start)
	c := countsOf(counts)
	cur.addCounts(m.Name, c)
	changes := make([]notify.ObjectChange, len(results))
	for i, res := range results {
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
			r.publish(notify.ClusterUnreachable{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Err: err.Error(), RetryIn: fleet.retries.Get(m.Name)})
			return fmt.Errorf("cluster %s: %w", m.Name, err)
		}
		var refused *apply.PruneRefusedError
		if errors.As(err, &refused) {
			r.publish(notify.PruneRefused{At: at(), Cluster: m.Name, Commit: commit, Delete: refused.Delete, Inventory: refused.Inventory,
				MaxShare: refused.MaxShare, Examples: refused.Examples})
		}
		r.recovered(m)
		r.publish(notify.ClusterFailed{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Err: err.Error(), Duration: took, Changes: changes})
		return fmt.Errorf("cluster %s: %w", m.Name, err)
	}
	fleet.retries.Reset(m.Name)
	r.recovered(m)
	r.publish(notify.ClusterSynced{At: at(), Cluster: m.Name, Wave: m.Wave, Commit: commit, Counts: c, Duration: took, Changes: changes})
	return nil
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
