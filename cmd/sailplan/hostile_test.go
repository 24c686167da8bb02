package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/testenv"
)

// tenantsCUE is the commit of issue 10: a comprehension meant to build 50
// tenants, typed as five million.
const tenantsCUE = `package intents

import "list"

_tenants: [for i in list.Range(0, 5000000, 1) {
	name: "tenant-\(i)"
	host: "tenant-\(i).shop.svc.cluster.local"
}]
`

// peakRSS is a process's high-water resident memory, from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestHostileCommit is issue 10's first failure, end to end: a commit
// whose evaluation would take gigabytes is rejected at the memory limit
// with the error that says so; meanwhile the daemon stays small and its
// probes answer; the good commit pushed after it is applied; and SIGTERM
// in the middle of such an evaluation stops the daemon at once.
func TestHostileCommit(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	fleet := testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2})
	good := repo.Commit(t, map[string]string{"fleet.cue": fleet, "reviews.cue": testenv.ReviewsCUE(ns, 90, 10)}, "reviews 90/10")
	d := startDaemon(t, "run", "--repo", repo.URL(), "--interval", "300ms", "--listen", "127.0.0.1:0", "--applyset-namespace", ns,
		"--eval-memory", "256MiB", "--eval-timeout", "20s")
	at := []string{"--applyset-namespace", ns}
	applied := func(commit string) func(statusOutput, string, int) bool {
		return func(js statusOutput, _ string, code int) bool {
			c, ok := js.Status.Applied()
			return code == 0 && ok && c.Commit.Hash == commit
		}
	}
	waitStatus(t, "first commit applied", applied(good), at...)

	pushed := time.Now()
	bad := repo.Commit(t, map[string]string{"tenants.cue": tenantsCUE}, "tenants")
	// The probes answer while the child evaluates.
	for range 5 {
		start := time.Now()
		if code, body := d.get(t, "/livez"); code != 200 || time.Since(start) > time.Second {
			t.Errorf("/livez during the evaluation = %d %q after %s", code, body, time.Since(start))
		}
		time.Sleep(200 * time.Millisecond)
	}
	js, text, _, _ := waitStatus(t, "hostile commit rejected", func(js statusOutput, _ string, _ int) bool {
		c, ok := js.Status.Commit(bad)
		return ok && c.Fate == notify.FateRejected
	}, at...)
	toReject := time.Since(pushed)
	c, _ := js.Status.Commit(bad)
	want := "evaluation used more than 256 MiB (--eval-memory): the intents are rejected; look for a comprehension that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string, or raise --eval-memory if they really need the memory"
	if c.Reason != notify.RejectedLimits || len(c.Errors) != 1 || c.Errors[0] != want {
		t.Errorf("rejection: %s %q, want limits: %q\n%s", c.Reason, c.Errors, want, text)
	}
	if a, _ := js.Status.Applied(); a.Commit.Hash != good {
		t.Errorf("applied %s after the rejection, want the last good %s", a.Commit.Hash, good)
	}
	daemonPeak := peakRSS(t, d.cmd.Process.Pid)
	if daemonPeak > 200<<20 {
		t.Errorf("the daemon's own memory peaked at %d MiB; the evaluation is the child's", daemonPeak>>20)
	}

	pushed = time.Now()
	fixed := repo.Commit(t, map[string]string{"tenants.cue": "", "reviews.cue": testenv.ReviewsCUE(ns, 50, 50)}, "tenants removed, 50/50")
	waitStatus(t, "the next good commit applied", applied(fixed), at...)
	toNext := time.Since(pushed)
	t.Logf("issue 10: hostile commit rejected %s after the push; daemon peak RSS %d MiB; next good commit applied %s after its push",
		toReject.Round(100*time.Millisecond), daemonPeak>>20, toNext.Round(100*time.Millisecond))

	// Another one, and SIGTERM while it is evaluated.
	repo.Commit(t, map[string]string{"tenants.cue": tenantsCUE}, "tenants again")
	time.Sleep(time.Second) // polled, fetched, evaluating
	stopped := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the daemon did not stop within 5s of SIGTERM during an evaluation:\n%s", d.log())
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("the daemon took %s to stop during an evaluation, want about a second", took)
	}
}
