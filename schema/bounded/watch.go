package bounded

import (
	"context"
	"time"
)

// pollEvery is how often the parent reads the child's resident memory. A
// reading costs microseconds; CUE allocates well under a gigabyte a second,
// so the child is stopped within a few megabytes of its limit. Zero turns
// the watch off (tests of the child's own cap do).
var pollEvery = 10 * time.Millisecond

// watch reads the resident memory of the process pid every pollEvery and
// calls over once it is above max, until ctx ends. unwatch stops it and
// waits for it, so that over is never called after.
func watch(ctx context.Context, pid int, max int64, over func()) (unwatch func()) {
	if pollEvery <= 0 {
		return func() {}
	}
	m, err := openMeter(pid)
	if err != nil {
		// Not Linux: the child's garbage collector keeps under the limit
		// what it can.
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		defer m.Close()
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if rss, ok := m.resident(); ok && rss > max {
				over()
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
