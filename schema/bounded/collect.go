package bounded

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Garbage collection for a process that lives for one evaluation or one
// rendering: the evaluation child, and the commands that load intents
// once (render, validate, diff, explain). Most such runs (a file of 100
// services, a repository loaded file by file, rendering 2,000 objects)
// keep little alive while making a great deal of garbage, and collecting
// it each time the heap doubled took a third of their time. So the
// collector waits until the heap reaches lateHeap; once more than
// lateLive survives a collection (a large evaluation of one package), the
// process goes back to Go's proportional collection, which keeps its peak
// where it was.
const (
	lateHeap = 192 << 20
	lateLive = 64 << 20
	// lateLook is how often the process looks at what survived.
	lateLook = 5 * time.Millisecond
)

// CollectLate sets this policy for the rest of the process, under soft,
// the memory the collector works to stay under (math.MaxInt64: none). GOGC
// in the environment, or a soft limit too small for the policy, keeps
// Go's own collection. Not for a daemon: it is meant for processes that
// end after one piece of work.
func CollectLate(soft int64) {
	debug.SetMemoryLimit(soft)
	if _, set := os.LookupEnv("GOGC"); set || soft <= lateHeap {
		return
	}
	gogc := debug.SetGCPercent(-1)
	debug.SetMemoryLimit(lateHeap)
	go func() {
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(lateLook)
		defer tick.Stop()
		for range tick.C {
			metrics.Read(live)
			if live[0].Value.Kind() == metrics.KindUint64 && live[0].Value.Uint64() > lateLive {
				debug.SetGCPercent(gogc)
				debug.SetMemoryLimit(soft)
				return
			}
		}
	}()
}
