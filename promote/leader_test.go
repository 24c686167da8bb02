package promote

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// TestOneLeaderAndHandOver: of two replicas only one leads; when the
// leader stops (its process ends: its context is cancelled), the standby
// takes over within the lease time.
func TestOneLeaderAndHandOver(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	client, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	var leading atomic.Int32
	var mu sync.Mutex
	leaders := []string{}
	replica := func(ctx context.Context, id string) {
		RunAsLeader(ctx, client, LeaderOptions{Namespace: ns, Name: "sailplan", Identity: id, LeaseDuration: 3 * time.Second}, func(ctx context.Context) {
			if n := leading.Add(1); n > 1 {
				t.Errorf("%s leads while %d others lead", id, n-1)
			}
			mu.Lock()
			leaders = append(leaders, id)
			mu.Unlock()
			<-ctx.Done()
			leading.Add(-1)
		})
	}
	ctxA, stopA := context.WithCancel(t.Context())
	ctxB, stopB := context.WithCancel(t.Context())
	defer stopB()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); replica(ctxA, "a") }()
	go func() { defer wg.Done(); replica(ctxB, "b") }()

	first := waitLeader(t, &mu, &leaders, 1)
	if first == "b" {
		stopA, stopB = stopB, stopA
	}
	time.Sleep(2 * time.Second) // the standby keeps trying meanwhile
	if n := leading.Load(); n != 1 {
		t.Fatalf("%d replicas lead, want 1", n)
	}
	stopA() // the leader goes away
	second := waitLeader(t, &mu, &leaders, 2)
	if second == first {
		t.Fatalf("leaders %v: the standby did not take over", leaders)
	}
	stopB()
	wg.Wait()
}

func waitLeader(t *testing.T, mu *sync.Mutex, leaders *[]string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		if len(*leaders) >= n {
			l := (*leaders)[n-1]
			mu.Unlock()
			return l
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no leader number %d within 20s", n)
	return ""
}
