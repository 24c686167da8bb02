package bounded

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

func gcMetric(name string) int64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// sink keeps allocations from being optimised away.
var sink []byte

// collectChild marks the process TestCollectLate starts to run the
// policy in: a fresh process, as the child and the commands are, with no
// other test's heap or settings behind it.
const collectChild = "SAILPLAN_TEST_COLLECT_LATE"

// TestCollectLate: under the policy, 600 MB of garbage with little alive
// costs a handful of collections, not the dozens that doubling a small
// heap takes; once more than lateLive survives, Go's proportional
// collection and the soft limit are back.
func TestCollectLate(t *testing.T) {
	if os.Getenv(collectChild) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCollectLate$", "-test.count=1")
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "GOGC=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		cmd.Env = append(cmd.Env, collectChild+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the policy's process: %v\n%s", err, out)
		}
		return
	}
	const soft = 1 << 30
	CollectLate(soft)
	if got := gcMetric("/gc/gomemlimit:bytes"); got != lateHeap {
		t.Fatalf("memory limit %d under the policy, want %d", got, lateHeap)
	}

	before := gcMetric("/gc/cycles/total:gc-cycles")
	for range 600 {
		sink = make([]byte, 1<<20)
	}
	if n := gcMetric("/gc/cycles/total:gc-cycles") - before; n > 8 {
		t.Errorf("%d collections for 600 MB of garbage, want at most 8 (one per %d MiB or so)", n, lateHeap>>20)
	}

	live := make([][]byte, 0, 100)
	for range 100 {
		b := make([]byte, 1<<20)
		b[0] = 1
		live = append(live, b)
	}
	runtime.GC()
	deadline := time.Now().Add(2 * time.Second)
	for gcMetric("/gc/gogc:percent") != 100 || gcMetric("/gc/gomemlimit:bytes") != soft {
		if time.Now().After(deadline) {
			t.Fatalf("with 100 MiB alive: GOGC %d and limit %d, want 100 and %d", gcMetric("/gc/gogc:percent"), gcMetric("/gc/gomemlimit:bytes"), soft)
		}
		time.Sleep(lateLook)
	}
	runtime.KeepAlive(live)
}
