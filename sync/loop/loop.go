package loop

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// key is the one item of the queue: every ask is for the same work.
const key = "run"

// Loop runs one piece of work again and again: at once, then after each
// run when Next says, and whenever Ask is called. Asks that come while a
// run is pending or under way are coalesced into one more run, as a
// client-go workqueue does for one key; so a burst of webhook deliveries
// or of state changes costs one run.
type Loop struct {
	// Name names the queue in client-go's metrics and logs.
	Name string

	mu    sync.Mutex
	queue workqueue.TypedDelayingInterface[string]
}

// Ask asks for a run now, without waiting for it; without Run going it
// does nothing, since Run starts with a run anyway.
func (l *Loop) Ask() { l.AskAfter(0) }

// AskAfter asks for a run after d. Of several asks that wait, the
// earliest wins.
func (l *Loop) AskAfter(d time.Duration) {
	l.mu.Lock()
	q := l.queue
	l.mu.Unlock()
	if q != nil {
		q.AddAfter(key, d)
	}
}

// Run calls work at once, then again after next() (evaluated after each
// run, so it can be jittered) and on every ask, until ctx ends.
func (l *Loop) Run(ctx context.Context, next func() time.Duration, work func(ctx context.Context)) {
	q := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: l.Name})
	l.mu.Lock()
	l.queue = q
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.queue = nil
		l.mu.Unlock()
		q.ShutDown()
	}()
	// Get blocks without a context: shutting the queue down ends it.
	defer context.AfterFunc(ctx, q.ShutDown)()
	q.Add(key)
	for {
		k, quit := q.Get()
		if quit || ctx.Err() != nil {
			return
		}
		work(ctx)
		q.AddAfter(k, next())
		// An ask that came during the run is handed out again now.
		q.Done(k)
	}
}
