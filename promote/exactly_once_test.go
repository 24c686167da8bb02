package promote

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

func loadIntents(t testing.TB, ns string) *schema.Intents {
	t.Helper()
	return loadIntentsEvery(t, ns, "10s")
}

// loadIntentsEvery is loadIntents with another interval.
func loadIntentsEvery(t testing.TB, ns, every string) *schema.Intents {
	t.Helper()
	src := fmt.Sprintf(`package intents
fleet: clusters: c1: wave: 1
services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 50, 100], every: %q}
}
`, ns, every)
	in, err := schema.Load(schema.Files{"a.cue": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func homeStore(t testing.TB, ns string) *Store {
	t.Helper()
	client, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(client, ns)
}

// due is when the first step of loadIntents' plan is due, for a promotion
// started at t0: an interval (10s) later.
var due = t0.Add(10 * time.Second)

// stepEvents counts the history entries that took wave 1 to weight.
func stepEvents(st *State, weight int) int {
	n := 0
	for _, e := range st.History {
		if e.Phase == Progressing && e.Wave == 1 && e.Weight == weight && strings.HasPrefix(e.Message, "wave 1:") {
			n++
		}
	}
	return n
}

// TestTwoWritersOneTransition: replicas that decide the same step at the
// same moment write it once; the others lose on the precondition.
func TestTwoWritersOneTransition(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	in := loadIntents(t, ns)
	first := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: func() time.Time { return t0 }}
	if _, err := step(t, first, in); err != nil { // creates the state
		t.Fatal(err)
	}
	now := func() time.Time { return due }
	var wg sync.WaitGroup
	changed := make(chan bool, 8)
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: now}
			ch, err := step(t, c, in)
			if err != nil {
				t.Error(err)
			}
			changed <- ch
		})
	}
	wg.Wait()
	close(changed)
	wins := 0
	for ch := range changed {
		if ch {
			wins++
		}
	}
	st, err := first.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if wins != 1 || stepEvents(st.State, 10) != 1 || st.Waves[0].Weight != 10 {
		t.Errorf("8 concurrent writers: %d took the step, history has it %d times, weight %d; want 1, 1, 10", wins, stepEvents(st.State, 10), st.Waves[0].Weight)
	}
}

const (
	crashEnv = "SAILPLAN_PROMOTE_CRASH_NS"
	// crashPlanEnv, when set, is the interval of the plan the crashing
	// replica takes in: it dies amending the promotion to it.
	crashPlanEnv = "SAILPLAN_PROMOTE_CRASH_EVERY"
)

// TestCrashMidTransition kills (SIGKILL) a process that has decided a
// transition but not stored it; the next controller finds the promotion
// where it was, takes the step once, and the history holds it once.
func TestCrashMidTransition(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	in := loadIntents(t, ns)
	clock := testenv.NewClock(t0)
	c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: clock.Now}
	if _, err := step(t, c, in); err != nil { // the promotion starts
		t.Fatal(err)
	}
	clock.Tick(due.Sub(t0))

	crashReplica(t, ns, "")
	st, err := c.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if st.Waves[0].Weight != 0 || stepEvents(st.State, 10) != 0 {
		t.Fatalf("after the crash: weight %d, step in history %d times; want the promotion where it was", st.Waves[0].Weight, stepEvents(st.State, 10))
	}
	for i := 0; i < 3; i++ { // the restarted replica, stepping at the same moment
		if _, err := step(t, c, in); err != nil {
			t.Fatal(err)
		}
	}
	st, err = c.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if st.Waves[0].Weight != 10 || stepEvents(st.State, 10) != 1 {
		t.Errorf("after the restart: weight %d, step in history %d times; want 10, once", st.Waves[0].Weight, stepEvents(st.State, 10))
	}
}

// crashReplica runs TestCrashingReplica in a process of its own, with the
// plan's interval every ("" for loadIntents' own), and fails the test
// unless it died of SIGKILL, between deciding a transition and storing it.
func crashReplica(t *testing.T, ns, every string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashingReplica$")
	cmd.Env = append(os.Environ(), crashEnv+"="+ns, crashPlanEnv+"="+every, "SAILPLAN_KUBECONFIG="+env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the replica was not killed mid-transition: %v\n%s", err, out)
	}
}

// TestCrashingReplica is the body of the process that TestCrashMidTransition
// kills; in a normal run it has nothing to do.
func TestCrashingReplica(t *testing.T) {
	ns := os.Getenv(crashEnv)
	if ns == "" {
		return
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("SAILPLAN_KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &Controller{Store: NewStore(client, ns), Analyzer: passing{}, Now: func() time.Time { return due }}
	c.beforeSave = func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	in := loadIntents(t, ns)
	if every := os.Getenv(crashPlanEnv); every != "" {
		in = loadIntentsEvery(t, ns, every)
	}
	step(t, c, in)
	t.Fatal("the transition was stored without crashing first")
}

// TestCrashBetweenPlanCommitAndLook kills (SIGKILL) the leader after a plan
// commit reached it and it decided to amend the paused promotion, before
// it stored that; the next leader, looking with the same commit, amends
// the promotion once: still paused at its weight, the amendment in the
// history once.
func TestCrashBetweenPlanCommitAndLook(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	clock := testenv.NewClock(t0)
	c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: clock.Now}
	in := loadIntents(t, ns)
	step(t, c, in) // starts
	clock.Tick(due.Sub(t0))
	step(t, c, in) // 10 %
	if _, _, err := Decide(t.Context(), c.Store, "reviews", Decision{What: notify.DecisionPause, By: "admin", Via: "cli"}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	paused, err := c.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}

	crashReplica(t, ns, "6s")
	st, err := c.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != paused.Version {
		t.Fatalf("the killed replica stored something: version %s, want %s", st.Version, paused.Version)
	}

	amended := loadIntentsEvery(t, ns, "6s")
	for range 3 { // the next leader, with the same commit, at the same moment and later
		if _, err := step(t, c, amended); err != nil {
			t.Fatal(err)
		}
		clock.Tick(10 * time.Second)
	}
	st, err = c.Store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range st.History {
		if e.Kind == KindAmended {
			n++
		}
	}
	if st.Phase != Paused || st.Waves[0].Weight != 10 || n != 1 || stepEvents(st.State, 10) != 1 {
		t.Errorf("after the restart: %s at %d%%, amended %d times, step to 10 taken %d times; want Paused at 10, 1, 1",
			st.Phase, st.Waves[0].Weight, n, stepEvents(st.State, 10))
	}
}
