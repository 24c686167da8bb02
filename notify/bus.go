package notify

import (
	"fmt"
	"log/slog"
	"sync"
)

// Handler reads events. Handle is called for one event at a time, in the
// order they were published, and must not block: a consumer that does
// I/O (Slack, the status writer) hands the work to its own goroutine.
type Handler interface {
	Handle(e Event)
}

// HandlerFunc is a function as a Handler.
type HandlerFunc func(Event)

// Handle calls f.
func (f HandlerFunc) Handle(e Event) { f(e) }

// Bus carries events from their producers to every subscribed handler.
// Delivery is synchronous and ordered: every handler sees every event, in
// one total order, one at a time, so a consumer folding them (the model)
// needs no lock against other consumers and never misses one. A handler
// may publish: the event is queued and delivered after the current one,
// by the goroutine already delivering, so publishing never deadlocks.
type Bus struct {
	// Log receives handler panics; may be nil.
	Log *slog.Logger

	mu         sync.Mutex
	idle       *sync.Cond
	handlers   []Handler
	queue      []Event
	delivering bool
}

// NewBus returns a bus with no handlers.
func NewBus() *Bus {
	b := &Bus{}
	b.idle = sync.NewCond(&b.mu)
	return b
}

// Subscribe adds h; it sees the events published from now on.
func (b *Bus) Subscribe(h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers = append(b.handlers[:len(b.handlers):len(b.handlers)], h)
}

// Publish delivers e to every handler. It returns once e is delivered,
// unless another goroutine is delivering, which then delivers e too.
// Publishing on a nil bus does nothing, so producers need no checks.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.queue = append(b.queue, e)
	if b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	defer func() {
		b.delivering = false
		b.idle.Broadcast()
		b.mu.Unlock()
	}()
	for len(b.queue) > 0 {
		next := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		hs := b.handlers
		b.mu.Unlock()
		for _, h := range hs {
			b.deliver(h, next)
		}
		b.mu.Lock()
	}
}

// deliver calls one handler; a panic in it is logged, not spread to the
// producer, whose work (an apply, a promotion step) is already done.
func (b *Bus) deliver(h Handler, e Event) {
	defer func() {
		if r := recover(); r != nil && b.Log != nil {
			b.Log.Error("event handler panicked", "handler", fmt.Sprintf("%T", h), "event", fmt.Sprintf("%T", e), "panic", r)
		}
	}()
	h.Handle(e)
}

// Flush waits until every event published so far is delivered.
func (b *Bus) Flush() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.delivering || len(b.queue) > 0 {
		b.idle.Wait()
	}
}
