package bounded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/sailplan/sailplan/schema"
)

// bomb is the repository of issue 10: the quickstart, and a file whose
// comprehension builds five million structs with interpolated strings.
func bomb(t *testing.T) schema.Files {
	t.Helper()
	files, err := schema.ReadDir(t.Context(), "testdata/bomb")
	if err != nil || len(files) != 3 {
		t.Fatalf("testdata/bomb: %d files, %v", len(files), err)
	}
	return files
}

// limitHit loads files under l and checks that the limit stopped it, in
// time, with the error text, and that Evaluate says what it took as the
// error does.
func limitHit(t *testing.T, files schema.Files, l Limits, want Limit, text string) *LimitError {
	t.Helper()
	start := time.Now()
	_, u, err := Evaluate(t.Context(), files, l)
	took := time.Since(start)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != want {
		t.Fatalf("Load: %v, want the %s limit", err, want)
	}
	if u.Took != le.Took || u.Peak != le.Peak {
		t.Errorf("Evaluate says it took %+v, the LimitError %s and %d bytes", u, le.Took, le.Peak)
	}
	if err.Error() != text {
		t.Errorf("error:\n%s\nwant\n%s", err, text)
	}
	// The bomb alone runs for many minutes; two seconds of slack cover a
	// machine busy enough to delay the kill and the reaping of the child.
	if l = l.WithDefaults(); took > l.Timeout+2*time.Second {
		t.Errorf("stopped after %s, over the time limit %s", took, l.Timeout)
	}
	if le.Peak > l.Memory+64<<20 {
		t.Errorf("the child peaked at %d MiB, over the memory limit %s", le.Peak>>20, formatBytes(l.Memory))
	}
	t.Logf("%s limit: stopped after %s (the child's %s), the child's peak %d MiB", want, took.Round(time.Millisecond), le.Took.Round(time.Millisecond), le.Peak>>20)
	return le
}

const (
	memoryText = "evaluation used more than %s (--eval-memory): the intents are rejected; look for a comprehension that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string, or raise --eval-memory if they really need the memory"
	timeText   = "evaluation took longer than %s (--eval-timeout): the intents are rejected; look for a comprehension that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string, or raise --eval-timeout if they really need the time"
)

// TestBombDefaults: under the default limits the bomb is stopped, by the
// first of them it reaches.
func TestBombDefaults(t *testing.T) {
	start := time.Now()
	_, err := Load(t.Context(), bomb(t), Limits{})
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("Load: %v, want a limit", err)
	}
	t.Logf("stopped at the %s limit after %s, the child's peak %d MiB", le.Limit, time.Since(start).Round(time.Millisecond), le.Peak>>20)
	if le.Peak > DefaultMemory+64<<20 || time.Since(start) > DefaultTimeout+2*time.Second {
		t.Errorf("over the limits: %s, %d MiB", time.Since(start), le.Peak>>20)
	}
}

func TestBombOverMemory(t *testing.T) {
	limitHit(t, bomb(t), Limits{Memory: 256 << 20}, MemoryLimit, fmt.Sprintf(memoryText, "256 MiB"))
}

func TestBombOverTime(t *testing.T) {
	limitHit(t, bomb(t), Limits{Timeout: 2 * time.Second, Memory: 4 << 30}, TimeLimit, fmt.Sprintf(timeText, "2s"))
}

// TestAddressSpaceCap: without the parent's watch, the child's own cap
// on its address space stops it at about the same size (within 20 % of
// it: Go's address space and resident size do not grow alike).
func TestAddressSpaceCap(t *testing.T) {
	defer func(p time.Duration) { pollEvery = p }(pollEvery)
	pollEvery = 0
	limitHit(t, bomb(t), Limits{Memory: 256 << 20, Timeout: time.Minute}, MemoryLimit, fmt.Sprintf(memoryText, "256 MiB"))
}

// TestOutputLimit: an answer over the output limit is cut short and the
// child killed.
func TestOutputLimit(t *testing.T) {
	files := schema.Files{"hosts.cue": []byte(`package intents

import "list"

services: shop: {
	namespace: "shop"
	versions: v1: labels: version: "v1"
	hosts: [for i in list.Range(0, 20000, 1) {"tenant-\(i).shop.svc.cluster.local"}]
	routes: [{to: v1: 100}]
}
`)}
	if _, err := Load(t.Context(), files, Limits{}); err != nil {
		t.Fatalf("under the default output limit: %v", err)
	}
	limitHit(t, files, Limits{Output: 256 << 10}, OutputLimit,
		"evaluation result is larger than 256 KiB: the intents are rejected; look for a very long string or list, such as one that strings.Repeat or a comprehension makes")
}

// TestCanceledMidEvaluation: the caller's context ending (SIGTERM) kills
// the child at once, and the error says so.
func TestCanceledMidEvaluation(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	canceled := make(chan time.Time, 1)
	time.AfterFunc(time.Second, func() {
		canceled <- time.Now()
		cancel()
	})
	_, err := Load(ctx, bomb(t), Limits{})
	if !errors.Is(err, context.Canceled) || err.Error() != "evaluation stopped: context canceled" {
		t.Fatalf("Load: %v, want evaluation stopped: context canceled", err)
	}
	if late := time.Since(<-canceled); late > 500*time.Millisecond {
		t.Errorf("Load returned %s after its context ended", late)
	}
}

// TestCrash: a child that ends without an answer is a crash, with the
// first line of what it said.
func TestCrash(t *testing.T) {
	_, _, err := run(t.Context(), []byte("not json"), Limits{}.WithDefaults())
	var ce *CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("run: %v, want a crash", err)
	}
	want := "evaluation crashed (exit status 3): evaluation child: reading the request: invalid character 'o' in literal null (expecting 'u')"
	if err.Error() != want {
		t.Errorf("crash:\n%s\nwant\n%s", err, want)
	}
}

// measureEnv makes TestParentStaysSmall the measured process.
const measureEnv = "BOUNDED_TEST_MEASURE"

// TestParentStaysSmall: while the child of a fresh process takes the bomb
// up to the default memory limit, the process itself stays small. The
// measured process is this test binary again, so that no other test's
// memory counts.
func TestParentStaysSmall(t *testing.T) {
	if os.Getenv(measureEnv) != "" {
		_, err := Load(t.Context(), bomb(t), Limits{})
		var le *LimitError
		if !errors.As(err, &le) {
			t.Fatalf("Load: %v, want a limit", err)
		}
		var self syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("parent %d child %d\n", self.Maxrss>>10, le.Peak>>20)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestParentStaysSmall$")
	cmd.Env = append(os.Environ(), measureEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var parent, child int64
	if _, err := fmt.Sscanf(string(out), "parent %d child %d", &parent, &child); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	t.Logf("peak resident memory: the parent %d MiB, the child %d MiB", parent, child)
	if parent > 64 || child < 512 {
		t.Errorf("the parent peaked at %d MiB (want under 64), the child at %d MiB (want it near the limit)", parent, child)
	}
}
