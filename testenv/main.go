package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/schema/bounded"
)

// Main runs a package's tests against n clusters, to be called from TestMain:
//
//	var env *testenv.Env
//	func TestMain(m *testing.M) { testenv.Main(m, 2, &env) }
//
// It starts the clusters once, stores them in *env, runs the tests, stops the
// clusters and exits with the tests' code. If the clusters cannot start it
// prints why and exits 1: an e2e package never passes by skipping silently.
// With -short it starts nothing and leaves *env nil; tests that need clusters
// call env.Need(t) first, which skips them then. SIGINT and SIGTERM stop the clusters
// before the process exits; if the process dies otherwise (a panic, a test
// timeout, SIGKILL) the kernel kills the children through Pdeathsig.
//
// A test binary that Main runs is also what schema/bounded starts to
// evaluate intents in a child process: that child evaluates and exits
// here, first.
func Main(m *testing.M, n int, env **Env) {
	bounded.RunIfChild()
	// TestMain runs before the testing package parses flags, and -short must be known now.
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		started *Env
	)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping clusters\n", sig)
		cancel()
		mu.Lock()
		if started == nil {
			// Start sees the canceled ctx, cleans up and main exits.
			mu.Unlock()
			return
		}
		started.Stop()
		os.Exit(1)
	}()
	e, err := Start(ctx, Options{N: n})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: cannot start %d cluster(s): %v\n", n, err)
		os.Exit(1)
	}
	mu.Lock()
	started = e
	if ctx.Err() != nil {
		// The signal came after Start succeeded but before started was set.
		e.Stop()
		os.Exit(1)
	}
	mu.Unlock()
	*env = e
	code := m.Run()
	mu.Lock()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Need skips t when there are no clusters, which is only with -short: an
// end-to-end test calls it first, so that -short skips it explicitly and
// says why. It is safe on a nil *Env.
func (e *Env) Need(t testing.TB) {
	t.Helper()
	if e == nil {
		t.Skip("-short: end-to-end test against real clusters skipped")
	}
}

// Namespace creates a namespace named after the test, unique per call, in
// every cluster, and deletes it when the test ends. There is no namespace
// controller, so a deleted namespace stays Terminating with its objects; the
// unique name keeps that from leaking into other tests.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := namespaceName(t.Name())
	ctx := t.Context()
	for _, c := range e.Clusters {
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatalf("cluster %s: namespace %s: %v", c.Name, name, err)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatalf("cluster %s: namespace %s: %v", c.Name, name, err)
		}
		t.Cleanup(func() {
			// t.Context is already canceled during Cleanup.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("cluster %s: delete namespace %s: %v", c.Name, name, err)
			}
		})
	}
	return name
}

// namespaceName makes a DNS label (RFC 1123, at most 63 characters) from a
// test name, with a random suffix so that reruns (-count) do not collide
// with namespaces still Terminating.
func namespaceName(test string) string {
	var b strings.Builder
	dash := true // no leading dash
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	const maxBase = 63 - 1 - 6
	base := strings.TrimRight(b.String(), "-")
	if len(base) > maxBase {
		base = strings.TrimRight(base[:maxBase], "-")
	}
	if base == "" {
		base = "test"
	}
	return base + "-" + hex.EncodeToString(suffix)
}
