package sync

import (
	"context"
	gosync "sync"
)

// parallel calls f for every index in [start, end) on at most workers
// goroutines, and returns when all calls have returned. It stops handing
// out indexes once ctx is done; f sees which were skipped by their zero
// results.
func parallel(ctx context.Context, start, end, workers int, f func(i int)) {
	next := make(chan int)
	var wg gosync.WaitGroup
	for w := 0; w < min(workers, end-start); w++ {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := start; i < end && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
