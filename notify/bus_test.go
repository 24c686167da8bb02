package notify

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recorder keeps the events it sees.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Handle(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) seen() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func seen(n int) Event {
	return CommitSeen{At: At{time.Unix(int64(n), 0).UTC()}, Commit: Commit{Hash: string(rune('a' + n))}}
}

// TestBusOrder: every handler sees every event, in one order, also when
// many goroutines publish at once.
func TestBusOrder(t *testing.T) {
	b := NewBus()
	var a, c recorder
	b.Subscribe(&a)
	b.Subscribe(&c)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				b.Publish(seen(g*50 + i))
			}
		})
	}
	wg.Wait()
	b.Flush()
	if got := len(a.seen()); got != 400 {
		t.Fatalf("first handler saw %d events, want 400", got)
	}
	if diff := cmp.Diff(a.seen(), c.seen()); diff != "" {
		t.Errorf("handlers saw different orders (-first +second):\n%s", diff)
	}
}

// TestBusPublishFromHandler: a handler that publishes does not deadlock,
// and its event comes after the one being delivered, to every handler.
func TestBusPublishFromHandler(t *testing.T) {
	b := NewBus()
	var r recorder
	b.Subscribe(HandlerFunc(func(e Event) {
		if s, ok := e.(CommitSeen); ok && s.Commit.Hash == "a" {
			b.Publish(seen(1))
		}
	}))
	b.Subscribe(&r)
	done := make(chan struct{})
	go func() {
		b.Publish(seen(0))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish from a handler deadlocked")
	}
	want := []Event{seen(0), seen(1)}
	if diff := cmp.Diff(want, r.seen()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestBusHandlerPanic: a panicking handler is logged; the others still
// see the event, and the producer goes on.
func TestBusHandlerPanic(t *testing.T) {
	var log bytes.Buffer
	b := NewBus()
	b.Log = slog.New(slog.NewTextHandler(&log, nil))
	var r recorder
	b.Subscribe(HandlerFunc(func(Event) { panic("boom") }))
	b.Subscribe(&r)
	b.Publish(seen(0))
	b.Publish(seen(1))
	if got := len(r.seen()); got != 2 {
		t.Errorf("the handler after the panicking one saw %d events, want 2", got)
	}
	if !strings.Contains(log.String(), "event handler panicked") || !strings.Contains(log.String(), "panic=boom") {
		t.Errorf("log = %q, want the panic", log.String())
	}
}

// TestNilBus: producers may publish without a bus.
func TestNilBus(t *testing.T) {
	var b *Bus
	b.Publish(seen(0))
	b.Flush()
}
