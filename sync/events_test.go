package sync

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/testenv"
)

// eventLog writes down, in a few words, the events it hears.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) Handle(e notify.Event) {
	var line string
	switch e := e.(type) {
	case notify.CommitSeen:
		line = "seen " + e.Commit.Short()
	case notify.CommitFetched:
		line = "fetched " + e.Commit.Short() + took(e.Duration)
	case notify.CommitEvaluated:
		line = "evaluated " + e.Commit.Short() + took(e.Duration)
		if e.PeakBytes <= 0 {
			line += " at no peak"
		}
	case notify.CommitRejected:
		line = fmt.Sprintf("rejected %s (%s): %s", e.Commit.Short(), e.Reason, strings.Join(e.Errors, "; "))
	case notify.CommitApplying:
		line = "applying " + e.Commit.Short() + " by " + e.Commit.Author
	case notify.CommitApplied:
		line = fmt.Sprintf("applied %s: c1 %+v, c2 %+v, c3 %+v", e.Commit.Short(), e.Clusters["c1"], e.Clusters["c2"], e.Clusters["c3"])
	case notify.ClusterSynced:
		line = fmt.Sprintf("synced %s %s created=%d unchanged=%d kinds=%s committed=%d", e.Cluster, notify.Short(e.Commit), e.Counts.Created, e.Counts.Unchanged,
			kinds(e.Kinds), e.Committed.Unix())
	case notify.ClusterFailed:
		line = fmt.Sprintf("failed %s %s kinds=%s conflicts=%v", e.Cluster, notify.Short(e.Commit), kinds(e.Kinds), e.Conflicts)
	case notify.DriftCorrected:
		line = fmt.Sprintf("drift %s %s kind=%s %s", e.Cluster, e.Object, e.Kind, e.Drift)
	default:
		line = fmt.Sprintf("%T", e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// took says how long something took, when it took no time.
func took(d time.Duration) string {
	if d <= 0 {
		return " in no time"
	}
	return ""
}

// kinds writes counts by kind as Kind:created/configured/unchanged/pruned.
func kinds(by map[string]notify.Counts) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		c := by[k]
		out = append(out, fmt.Sprintf("%s:%d/%d/%d/%d", k, c.Created, c.Configured, c.Unchanged, c.Pruned))
	}
	return strings.Join(out, ",")
}

// has reports whether a line was heard, and keeps the lines.
func (l *eventLog) has(line string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.lines, line)
}

// take returns the lines so far, without the cluster lines, and counts those.
func (l *eventLog) take() ([]string, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	clusters := map[string]int{}
	for _, line := range l.lines {
		if strings.HasPrefix(line, "synced ") {
			clusters[line]++
			continue
		}
		out = append(out, line)
	}
	l.lines = nil
	return out, clusters
}

// TestEventsOfCommits: a new commit is seen, fetched, evaluated, applying
// and applied once, with what each cluster got, by kind, and the commit's
// time; syncs that change nothing publish only that each cluster is still
// synced; a rejected commit is rejected once, with its error at its file
// and line, and the clusters stay at the good one.
func TestEventsOfCommits(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	events := &eventLog{}
	r.bus.Subscribe(events)

	good := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "reviews: 90/10")
	committed := commitTime(t, repo, good)
	for range 3 {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	r.bus.Flush()
	g := good[:7]
	lines, clusters := events.take()
	want := []string{
		"seen " + g,
		"fetched " + g,
		"evaluated " + g,
		"applying " + g + " by " + testenv.GitAuthorName,
		"applied " + g + ": c1 {Created:2 Configured:0 Unchanged:0 Pruned:0}, c2 {Created:2 Configured:0 Unchanged:0 Pruned:0}, c3 {Created:2 Configured:0 Unchanged:0 Pruned:0}",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("events of three syncs of a new commit (-want +got):\n%s", diff)
	}
	wantClusters := map[string]int{}
	for _, c := range []string{"c1", "c2", "c3"} {
		wantClusters["synced "+c+" "+g+" created=2 unchanged=0 kinds=DestinationRule:1/0/0/0,VirtualService:1/0/0/0 committed="+committed] = 1
		wantClusters["synced "+c+" "+g+" created=0 unchanged=2 kinds=DestinationRule:0/0/1/0,VirtualService:0/0/1/0 committed="+committed] = 2
	}
	if diff := cmp.Diff(wantClusters, clusters); diff != "" {
		t.Errorf("cluster events (-want +got):\n%s", diff)
	}

	bad := repo.Commit(t, map[string]string{"reviews.cue": strings.Replace(serviceCUE(ns, 90, 10), "namespace:", "namespce:", 1)}, "typo")
	for range 3 {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	r.bus.Flush()
	lines, clusters = events.take()
	want = []string{
		"seen " + bad[:7],
		"fetched " + bad[:7],
		"evaluated " + bad[:7],
		"rejected " + bad[:7] + " (invalid): reviews.cue:4:2: services.reviews.namespce: field not allowed (hint: did you mean \"namespace\"?)",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("events of three syncs of a rejected commit (-want +got):\n%s", diff)
	}
	wantClusters = map[string]int{}
	for _, c := range []string{"c1", "c2", "c3"} {
		wantClusters["synced "+c+" "+g+" created=0 unchanged=2 kinds=DestinationRule:0/0/1/0,VirtualService:0/0/1/0 committed="+committed] = 3
	}
	if diff := cmp.Diff(wantClusters, clusters); diff != "" {
		t.Errorf("cluster events while the bad commit is the head (-want +got):\n%s", diff)
	}
}

// commitTime is a commit's committer time in Unix seconds, as git says.
func commitTime(t *testing.T, repo *testenv.Repo, commit string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "git", "-C", repo.Dir, "log", "-1", "--format=%ct", commit).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// applyingWarnings keeps the warnings of every CommitApplying it hears.
type applyingWarnings struct {
	mu       sync.Mutex
	warnings []string
}

func (a *applyingWarnings) Handle(e notify.Event) {
	if e, ok := e.(notify.CommitApplying); ok {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.warnings = append(a.warnings, e.Warnings...)
	}
}

// TestWarningsDoNotHoldACommit: a commit whose intents have a warning is
// applied everywhere, and the warning, at its file and line, is in the
// CommitApplying event and in the log.
func TestWarningsDoNotHoldACommit(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	heard := &applyingWarnings{}
	r.bus.Subscribe(heard)

	payments := "package intents\n\nservices: payments: {\n\tnamespace: \"" + ns + "\"\n\tversions: v1: labels: version: \"v1\"\n\tpolicy: tls: mode: \"SIMPLE\"\n\troutes: [{to: v1: 100}]\n}\n"
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "payments.cue": payments}, "payments over TLS")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := applied(r.Status()); got != commit {
		t.Errorf("applied commit %q, want %q: a warning must not hold it back", got, commit)
	}
	warning := `payments.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates, so the server's certificate may not be verified (IST0128) (hint: set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true)`
	heard.mu.Lock()
	got := heard.warnings
	heard.mu.Unlock()
	if diff := cmp.Diff([]string{warning}, got); diff != "" {
		t.Errorf("warnings of CommitApplying (-want +got):\n%s", diff)
	}
	if !strings.Contains(log.String(), `level=WARN msg="intent warning, applied anyway" commit=`+commit[:7]) {
		t.Errorf("the log has no line for the warning:\n%s", log.String())
	}
}
