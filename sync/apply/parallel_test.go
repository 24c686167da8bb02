package apply

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallel(t *testing.T) {
	var running, most atomic.Int64
	done := make([]bool, 20)
	parallel(t.Context(), 5, 20, 3, func(i int) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		done[i] = true
		running.Add(-1)
	})
	for i, d := range done {
		if d != (i >= 5) {
			t.Errorf("index %d called: %v, want %v", i, d, i >= 5)
		}
	}
	if m := most.Load(); m > 3 {
		t.Errorf("%d calls at once, want at most 3", m)
	}

	// Once ctx is done, nothing more is handed out; an index already
	// waiting for a free worker may still run.
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int64
	parallel(ctx, 0, 100, 1, func(i int) {
		if calls.Add(1) == 3 {
			cancel()
		}
	})
	if n := calls.Load(); n > 4 {
		t.Errorf("%d calls after ctx was done at the third, want at most 4", n)
	}
}
