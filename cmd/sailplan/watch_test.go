package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
)

// watcher is `sailplan ... --watch` running into a pipe, as into a log,
// started as the tests start a daemon.
type watcher struct{ *daemon }

func startWatch(t *testing.T, args ...string) *watcher {
	t.Helper()
	return &watcher{startDaemon(t, args...)}
}

var frameHeader = regexp.MustCompile(`(?m)^--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// frames are the frames drawn so far.
func (w *watcher) frames() []string {
	out := w.log()
	idx := frameHeader.FindAllStringIndex(out, -1)
	var frames []string
	for i, loc := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		frames = append(frames, out[loc[1]:end])
	}
	return frames
}

// waitFrames waits until there are n frames, the last one containing want.
func (w *watcher) waitFrames(t *testing.T, n int, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f := w.frames(); len(f) >= n && strings.Contains(f[n-1], want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("want frame %d to contain %q within 30s; drawn:\n%s", n, want, w.log())
}

// stop interrupts the watch, as Ctrl-C does, which ends it with 0.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("watch interrupted: %v, want exit 0\n%s", err, w.log())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("watch did not stop within 10s of an interrupt")
	}
}

// TestWatchRedraws: `status --watch` and `promote status SERVICE --watch`
// draw at once, again when the status or the promotion changes, and not
// while nothing does; an interrupt ends them cleanly.
func TestWatchRedraws(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)

	// The status, kept in both clusters by a writer as the daemon's.
	bus, model := notify.NewBus(), notify.NewModel()
	writer := &status.Writer{Place: &status.Place{Kubeconfig: env.Kubeconfig, Namespace: ns, Name: status.NamePlace("sailplan"), Timeout: 5 * time.Second}, Model: model, By: "test"}
	bus.Subscribe(model)
	bus.Subscribe(writer)
	good := notify.Commit{Hash: strings.Repeat("a", 40), Author: "alice", Message: "reviews 90/10"}
	bad := notify.Commit{Hash: strings.Repeat("b", 40), Author: "bob", Message: "reviews 40/50"}
	in := &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}, "c2": {Wave: 2}}}}
	now := time.Now()
	for _, e := range []notify.Event{
		notify.CommitSeen{At: notify.At{Time: now}, Commit: good},
		notify.CommitApplying{At: notify.At{Time: now}, Commit: good, Intents: in},
		notify.ClusterSynced{At: notify.At{Time: now}, Cluster: "c1", Wave: 1, Commit: good.Hash},
		notify.ClusterSynced{At: notify.At{Time: now}, Cluster: "c2", Wave: 2, Commit: good.Hash},
		notify.CommitApplied{At: notify.At{Time: now}, Commit: good},
	} {
		bus.Publish(e)
	}
	if retry := writer.Write(ctx); retry != 0 {
		t.Fatal("status not written")
	}
	st := startWatch(t, "status", "--watch", "--applyset-namespace", ns)
	st.waitFrames(t, 1, `HEAD     aaaaaaa "reviews 90/10" by alice: applied`)
	bus.Publish(notify.CommitSeen{At: notify.At{Time: now.Add(time.Second)}, Commit: bad})
	bus.Publish(notify.CommitRejected{At: notify.At{Time: now.Add(time.Second)}, Commit: bad, Reason: notify.RejectedInvalid,
		Errors: []string{"reviews.cue:8:15: weights add up to 90, want 100"}})
	if retry := writer.Write(ctx); retry != 0 {
		t.Fatal("status not written")
	}
	st.waitFrames(t, 2, "HEAD     bbbbbbb \"reviews 40/50\" by bob: rejected (invalid)\n           reviews.cue:8:15: weights add up to 90, want 100\n")

	// The promotion of reviews, in the home cluster.
	home, err := kubernetes.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	store := promote.NewStore(home, ns)
	state := &promote.State{Service: "reviews", Namespace: ns, Stable: "v1", Candidate: "v2", Steps: []int{20, 50, 100}, Phase: promote.Progressing,
		Waves: []promote.Wave{{Wave: 1, Step: 0, Weight: 20, Since: now}, {Wave: 2, Step: -1, Since: now}}, Started: now}
	version, err := store.Save(ctx, state, "")
	if err != nil {
		t.Fatal(err)
	}
	pr := startWatch(t, "promote", "status", "reviews", "--watch", "--context", "c1", "--namespace", ns)
	pr.waitFrames(t, 1, "reviews  v2 (from v1)  Progressing  1:20% 2:0%")
	state.Waves[1] = promote.Wave{Wave: 2, Step: 0, Weight: 20, Since: now}
	if _, err := store.Save(ctx, state, version); err != nil {
		t.Fatal(err)
	}
	pr.waitFrames(t, 2, "reviews  v2 (from v1)  Progressing  1:20% 2:20%")

	// Nothing changes for two reads: nothing is drawn.
	time.Sleep(2*watchEvery + 500*time.Millisecond)
	if n, m := len(st.frames()), len(pr.frames()); n != 2 || m != 2 {
		t.Errorf("frames drawn while nothing changed: status %d, promote status %d; want 2 each\n%s\n%s", n, m, st.log(), pr.log())
	}
	st.stop(t)
	pr.stop(t)
}
