package sync

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/testenv"
)

// bombCUE is issue 10's file: a comprehension over list.Range(0, 5000000,
// 1) building structs with interpolated strings.
func bombCUE(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../schema/bounded/testdata/bomb/tenants.cue")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// limited is a reconciler of a new repository whose evaluations may take
// 256 MiB, in a namespace of the test's, with the events it publishes.
func limited(t *testing.T) (string, *testenv.Repo, *testReconciler, *eventLog) {
	ns := env.Namespace(t)
	repo := testenv.NewGitServer(t).NewRepo(t, "intents")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.EvalLimits = bounded.Limits{Memory: 256 << 20}
	events := &eventLog{}
	r.bus.Subscribe(events)
	return ns, repo, r, events
}

// TestCommitOverLimits: a commit whose evaluation goes over the memory
// limit is rejected once, with reason limits and the limit in words;
// nothing changes in the clusters, later syncs do not evaluate it again,
// and the next good commit is applied.
func TestCommitOverLimits(t *testing.T) {
	env.Need(t)
	ns, repo, r, events := limited(t)

	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "reviews: 90/10")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := checkClusters(t, ns, 90, 10)
	r.bus.Flush()
	events.take()

	bomb := repo.Commit(t, map[string]string{"tenants.cue": bombCUE(t)}, "tenants")
	start := time.Now()
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("the commit over the limit was rejected in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for range 2 {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if again := time.Since(start); again > 2*time.Second {
		t.Errorf("two more syncs took %s: the rejected commit was evaluated again?", again)
	}
	r.bus.Flush()
	lines, _ := events.take()
	want := []string{
		"seen " + bomb[:7],
		"fetched " + bomb[:7],
		"evaluated " + bomb[:7],
		"rejected " + bomb[:7] + " (limits): evaluation used more than 256 MiB (--eval-memory): the intents are rejected; " +
			"look for a comprehension that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string, " +
			"or raise --eval-memory if they really need the memory",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("events of three syncs of a commit over the limit (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, checkClusters(t, ns, 90, 10), cmp.AllowUnexported(observed{})); diff != "" {
		t.Errorf("the clusters changed (-before +after):\n%s", diff)
	}

	fixed := repo.Commit(t, map[string]string{"tenants.cue": "", "reviews.cue": serviceCUE(ns, 80, 20)}, "reviews: 80/20")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkClusters(t, ns, 80, 20)
	if got := applied(r.Status()); got != fixed {
		t.Errorf("applied %s, want the next good commit %s", got, fixed)
	}
}

// TestStopMidEvaluation: a daemon that stops while a commit evaluates
// stops at once and does not reject the commit: started again, it
// evaluates it once more, under the same limits.
func TestStopMidEvaluation(t *testing.T) {
	env.Need(t)
	ns, repo, r, events := limited(t)
	bomb := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10), "tenants.cue": bombCUE(t)}, "tenants")

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan time.Time, 1)
	time.AfterFunc(500*time.Millisecond, func() {
		stopped <- time.Now()
		cancel()
	})
	err := r.Sync(ctx)
	if late := time.Since(<-stopped); late > time.Second {
		t.Errorf("Sync returned %s after its context ended", late)
	}
	if err == nil {
		t.Error("Sync stopped mid-evaluation without an error")
	}
	r.bus.Flush()
	lines, _ := events.take()
	// Fetched, but not evaluated: the daemon's stop is no evaluation.
	if diff := cmp.Diff([]string{"seen " + bomb[:7], "fetched " + bomb[:7]}, lines); diff != "" {
		t.Errorf("events of a sync stopped mid-evaluation (-want +got):\n%s", diff)
	}

	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.bus.Flush()
	lines, _ = events.take()
	if len(lines) != 4 || lines[3][:len("rejected ")+7+len(" (limits)")] != "rejected "+bomb[:7]+" (limits)" {
		t.Errorf("events of the next sync: %q, want the commit seen, fetched, evaluated and rejected for its limits", lines)
	}
}
