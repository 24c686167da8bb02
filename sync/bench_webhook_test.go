package sync

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/sync/webhook"
	"github.com/sailplan/sailplan/testenv"
)

// BenchmarkWebhookToApplied measures, on a fleet of 1,000 services in ten
// files and three clusters, the time from a push webhook announcing a
// one-service change to that change being served by all three
// apiservers (read back from each). It reports the median.
//
//	go test ./sync -run '^$' -bench BenchmarkWebhookToApplied -benchtime 5x -timeout 30m
func BenchmarkWebhookToApplied(b *testing.B) {
	if env == nil {
		b.Skip("-short: benchmark against real clusters skipped")
	}
	ctx := b.Context()
	ns := env.Namespace(b)
	srv := testenv.NewGitServer(b)
	repo := srv.NewRepo(b, "intents")
	files := map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 2, "c3": 2})}
	for f := 0; f < 10; f++ {
		files[fmt.Sprintf("services-%d.cue", f)] = benchFile(ns, f, 10)
	}
	first := repo.Commit(b, files, "1,000 services")
	var log testenv.LogBuffer

	r := newReconcilerLog(b, repo.URL(), ns, slog.New(slog.NewTextHandler(&log, nil)))
	evals := &evaluations{}
	r.bus.Subscribe(evals)
	runReconciler(b, r, time.Hour)
	const secret = "bench-secret"
	hook, err := webhook.New(webhook.Config{Provider: webhook.GitHub, Secret: []byte(secret), Ref: "refs/heads/main", Trigger: r.Trigger})
	if err != nil {
		b.Fatal(err)
	}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()

	deadline := time.Now().Add(5 * time.Minute)
	for applied(r.Status()) != first {
		if time.Now().After(deadline) {
			b.Fatalf("first commit not applied: %+v", r.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	clients := make([]istioclient.Interface, len(env.Clusters))
	for i, c := range env.Clusters {
		if clients[i], err = istioclient.NewForConfig(c.RESTConfig()); err != nil {
			b.Fatal(err)
		}
	}
	var lastSeen string
	served := func(weight int32) bool {
		for _, cs := range clients {
			vs, err := cs.NetworkingV1().VirtualServices(ns).Get(ctx, "svc-0000", metav1.GetOptions{})
			if err != nil {
				lastSeen = err.Error()
				return false
			}
			lastSeen = fmt.Sprint(vs.Spec.Http)
			got := int32(0)
			for _, d := range vs.Spec.Http[0].Route {
				if d.Destination.Subset == "v2" {
					got = d.Weight
				}
			}
			if got != weight {
				return false
			}
		}
		return true
	}

	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		weight := 20 + 10*(i%5)
		sha := repo.Commit(b, map[string]string{"services-0.cue": benchFile(ns, 0, weight)}, fmt.Sprintf("svc-0000: %d%%", weight))
		body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, sha)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hookSrv.URL, strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", i))
		req.Header.Set("X-Hub-Signature-256", "sha256="+fixture.HMACHex(secret, body))
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook answered %d", resp.StatusCode)
		}
		for !served(int32(weight)) {
			if time.Since(t0) > time.Minute {
				b.Fatalf("weight %d not served everywhere within a minute; last seen %s", weight, lastSeen)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
	// The evaluations of the changes alone (the first commit's is left
	// out): what the daemon's child took per commit.
	evals.mu.Lock()
	defer evals.mu.Unlock()
	if len(evals.took) > 1 {
		changes := slices.Clone(evals.took[1:])
		slices.Sort(changes)
		b.ReportMetric(float64(changes[len(changes)/2].Milliseconds()), "evaluate-median-ms")
	}
}

// evaluations records how long each commit's evaluation took.
type evaluations struct {
	mu   gosync.Mutex
	took []time.Duration
}

func (e *evaluations) Handle(ev notify.Event) {
	if ev, ok := ev.(notify.CommitEvaluated); ok {
		e.mu.Lock()
		e.took = append(e.took, ev.Duration)
		e.mu.Unlock()
	}
}

// benchFile is the f-th file of 100 services of the benchmark fleet; its
// first service sends v2Weight percent to v2, the others 10.
func benchFile(ns string, f, v2Weight int) string {
	var s strings.Builder
	s.WriteString("package intents\n")
	for i := f * 100; i < (f+1)*100; i++ {
		w := 10
		if i == f*100 {
			w = v2Weight
		}
		fmt.Fprintf(&s, `
services: "svc-%04d": {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: "10s"
	retries: {attempts: 2, perTryTimeout: "3s"}
	policy: outlierDetection: {consecutive5xxErrors: 5, interval: "30s", baseEjectionTime: "30s"}
	routes: [{to: {v1: %d, v2: %d}}]
}
`, i, ns, 100-w, w)
	}
	return s.String()
}
