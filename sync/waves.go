package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"time"

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
// unless ContinueOnWaveFailure; their clusters are marked waiting, with
// the reason. An unreachable cluster does not fail its wave.
func (r *Reconciler) applyWaves(ctx context.Context, fleet *Fleet, cur *prepared) error {
	opts := r.Options.WithDefaults()
	var errs []error
	var blocked error
	for _, wave := range fleet.Waves() {
		if blocked != nil && !r.ContinueOnWaveFailure {
			for _, m := range wave {
				m.MarkWaiting(ctx, m.Wave, cur.rev.Commit, blocked)
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

// syncCluster syncs one cluster, logs what it did and keeps its backoff.
func (r *Reconciler) syncCluster(ctx context.Context, fleet *Fleet, m *Member, cur *prepared, opts apply.Options) error {
	counts, results, err := m.Sync(ctx, m.Wave, cur.rev.Commit, cur.desired[m.Name], opts)
	cur.addCounts(m.Name, counts)
	for _, res := range results {
		level := slog.LevelInfo
		if res.Action == apply.Unchanged {
			level = slog.LevelDebug
		}
		r.Log.Log(ctx, level, "applied", "cluster", m.Name, "object", res.Object, "action", res.Action, "commit", cur.rev.Short())
	}
	if err != nil {
		err = fmt.Errorf("cluster %s: %w", m.Name, err)
		unreachable := kube.IsUnreachable(err)
		if unreachable {
			m.MarkUnreachable(err)
		}
		// Retried on its own schedule, counted from this failure, whatever
		// the poll interval, until a sync succeeds: a cluster that answers
		// again may still fail at first (its CRDs not served yet, say).
		if unreachable || fleet.retries.Get(m.Name) > 0 {
			fleet.retries.Next(m.Name, time.Now())
			r.requestSync(fleet.retries.Get(m.Name))
		}
		if unreachable {
			r.Log.Warn("cluster unreachable, will retry", "cluster", m.Name, "commit", cur.rev.Short(), "err", err)
		}
		return err
	}
	fleet.retries.Reset(m.Name)
	level := slog.LevelInfo
	if !apply.Changed(counts) {
		level = slog.LevelDebug
	}
	r.Log.Log(ctx, level, "cluster synced", "cluster", m.Name, "commit", cur.rev.Short(),
		"created", counts[apply.Created], "configured", counts[apply.Configured], "unchanged", counts[apply.Unchanged], "pruned", counts[apply.Pruned])
	return nil
}
