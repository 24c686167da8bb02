package bounded

import (
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatch: the watch calls over once a process is above the limit, and
// never after unwatch.
func TestWatch(t *testing.T) {
	var over atomic.Int32
	unwatch := watch(t.Context(), os.Getpid(), 1<<40, func() { over.Add(1) })
	time.Sleep(5 * pollEvery)
	unwatch()
	if over.Load() != 0 {
		t.Fatal("over called below the limit")
	}
	called := make(chan struct{})
	unwatch = watch(t.Context(), os.Getpid(), 1<<20, func() { close(called) })
	defer unwatch()
	select {
	case <-called:
	case <-time.After(time.Second):
		t.Fatal("over not called above the limit")
	}
}
