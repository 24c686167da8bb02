package writeback

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	sailsync "github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

// passing is an analyzer for a test about write-back, where Prometheus is
// not the subject (promote's e2e tests walk candidates on a real one).
type passing struct{}

func (passing) Analyze(ctx context.Context, t promote.Target, a schema.Analysis) promote.Analysis {
	return promote.Analysis{Verdict: promote.Pass, Summary: "test: pass"}
}

// virtualServices reads service's VirtualService spec from every cluster.
func virtualServices(t *testing.T, ns, service string) []string {
	t.Helper()
	var out []string
	for _, c := range env.Clusters {
		cs, err := istioclient.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		vs, err := cs.NetworkingV1().VirtualServices(ns).Get(t.Context(), service, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", c.Name, err)
		}
		b, err := json.Marshal(&vs.Spec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Name+": "+string(b))
	}
	return out
}

// TestDaemonWritesBack: wired as the daemon wires them, through one bus,
// sync applies a canary to the real clusters, the controller walks it to
// Promoted, the writer commits it back to the real Git server, the
// controller publishes that once (and the log says it), and the sync of
// the write-back's commit writes nothing to the clusters: every
// VirtualService stays as the promotion left it.
func TestDaemonWritesBack(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"intents/fleet.cue": fleetCUE, "intents/reviews.cue": strings.Replace(reviewsCUE, `"shop"`, `"`+ns+`"`, 1)}, "reviews: promote v2")
	home, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	var logged testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	clock := testenv.NewClock(t0)
	bus := notify.NewBus()
	store := promote.NewStore(home, ns)
	ctrl := &promote.Controller{Store: store, Analyzer: passing{}, Now: clock.Now, Log: log, Events: bus}
	rec := &sailsync.Reconciler{
		Source:     &source.GitSource{URL: repo.URL(), Branch: "main", Path: "intents"},
		Kubeconfig: env.Kubeconfig,
		Events:     bus,
		Options:    apply.Options{ParentNamespace: ns},
	}
	t.Cleanup(rec.Close)
	w := &Writer{URL: repo.URL(), Branch: "main", Path: "intents", Store: store, Limits: bounded.Limits{InProcess: true}, Now: clock.Now, Log: log}
	var mu sync.Mutex
	var written []notify.PromotionWrittenBack
	applied := map[string]notify.CommitApplied{}
	bus.Subscribe(logs.New(log))
	bus.Subscribe(rec)
	bus.Subscribe(ctrl)
	bus.Subscribe(w)
	bus.Subscribe(notify.HandlerFunc(func(e notify.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e := e.(type) {
		case notify.PromotionWrittenBack:
			written = append(written, e)
		case notify.CommitApplied:
			applied[e.Commit.Hash] = e
		}
	}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(2 * time.Minute)
	var promoted []string
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not written back within 2 minutes\n%s", logged.String())
		}
		if _, err := ctrl.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := rec.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		st, err := store.Get(t.Context(), "reviews")
		if err != nil {
			t.Fatal(err)
		}
		if st != nil && st.Phase == promote.WaitingForApproval {
			d := promote.Decision{What: notify.DecisionApprove, By: "U0ALICE", Via: "slack"}
			if _, _, err := promote.Decide(t.Context(), store, "reviews", d, clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if st != nil && st.Phase == promote.Promoted && promoted == nil {
			promoted = virtualServices(t, ns, "reviews")
		}
		if st != nil && st.WriteBack != nil {
			break
		}
		clock.Tick(10 * time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	head := repo.Git(t, "rev-parse", "main")
	if !strings.Contains(repo.Git(t, "log", "-1", "--format=%B", head), TrailerKey+"reviews v2") {
		t.Fatalf("main's head %s is not the write-back", head)
	}
	// The next looks and syncs take the write-back's commit.
	for range 3 {
		if _, err := ctrl.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := rec.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		clock.Tick(10 * time.Second)
	}
	if diff := cmp.Diff(promoted, virtualServices(t, ns, "reviews")); diff != "" {
		t.Errorf("VirtualServices after the sync of the write-back (-promoted +after):\n%s", diff)
	}
	if !strings.Contains(promoted[0], `"weight":100`) || !strings.Contains(promoted[0], `"subset":"v2"`) {
		t.Errorf("promoted: %s, want v2 at 100", promoted[0])
	}
	bus.Flush()
	mu.Lock()
	got := slices.Clone(written)
	// Sync took the write-back's commit and had nothing to write.
	a, ok := applied[head]
	mu.Unlock()
	if !ok || len(a.Clusters) != len(env.Clusters) {
		t.Errorf("the write-back %s applied: %v %+v, want in every cluster", head, ok, a.Clusters)
	}
	for cluster, n := range a.Clusters {
		if n.Created+n.Configured+n.Pruned != 0 {
			t.Errorf("cluster %s: the sync of the write-back wrote %+v, want nothing", cluster, n)
		}
	}
	if len(got) != 1 || got[0].Commit != head || got[0].Branch != "main" {
		t.Errorf("published %+v, want one PromotionWrittenBack of %s on main", got, head)
	}
	want := `level=INFO msg="promotion written back to git" service=reviews candidate=v2 phase=Promoted commit=` + notify.Short(head) + ` branch=main review=false message="v2 made stable in Git by commit ` + notify.Short(head) + ` on main"`
	if !strings.Contains(logged.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logged.String())
	}
}
