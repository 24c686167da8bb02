package loop

import (
	"context"
	"testing"
	"time"
)

// TestAsksCoalesce: asks that come while a run is under way make exactly
// one more run, and Ask never blocks.
func TestAsksCoalesce(t *testing.T) {
	var l Loop
	runs := make(chan int, 10)
	release := make(chan struct{})
	n := 0
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		l.Run(ctx, func() time.Duration { return time.Hour }, func(ctx context.Context) {
			n++
			runs <- n
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		close(done)
	}()
	if got := <-runs; got != 1 {
		t.Fatalf("first run is number %d", got)
	}
	for range 10 {
		l.Ask() // the first run is still under way
	}
	release <- struct{}{}
	if got := <-runs; got != 2 {
		t.Fatalf("second run is number %d", got)
	}
	cancel()
	<-done
	select {
	case got := <-runs:
		t.Fatalf("run %d for one burst of asks, want 2 runs", got)
	default:
	}
}

// TestRunsAgainAfterNext: without asks, the work runs again after next().
func TestRunsAgainAfterNext(t *testing.T) {
	var l Loop
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runs := make(chan struct{}, 10)
	go l.Run(ctx, func() time.Duration { return 10 * time.Millisecond }, func(context.Context) { runs <- struct{}{} })
	for i := range 3 {
		select {
		case <-runs:
		case <-time.After(5 * time.Second):
			t.Fatalf("run %d did not come", i+1)
		}
	}
}

// TestAskWithoutRun does nothing and does not block.
func TestAskWithoutRun(t *testing.T) {
	var l Loop
	l.Ask()
	l.AskAfter(time.Second)
}
