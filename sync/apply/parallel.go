package apply

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// parallel calls f for every index in [start, end) on at most workers
// goroutines, and returns when all calls have returned. f keeps its own
// outcome per index, so no error cancels the others; but once ctx is done
// no more indexes are handed out, and f sees which were skipped by their
// zero results.
func parallel(ctx context.Context, start, end, workers int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(workers)
	for i := start; i < end && ctx.Err() == nil; i++ {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait()
}
