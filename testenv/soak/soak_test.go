package soak

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/testenv"
)

// The defaults are the short run that `make test` does; docs/benchmarks.md
// gives the record run's flags.
var (
	services  = flag.Int("soak.services", 30, "services in the templated repository")
	commits   = flag.Int("soak.commits", 5, "commits to push after the first sync")
	every     = flag.Duration("soak.every", 3*time.Second, "time from one push to the next (longer when a commit takes longer to apply)")
	binary    = flag.String("soak.binary", "", "sailplan binary to run; empty: build ./cmd/sailplan")
	csvOut    = flag.String("soak.csv", "", "file to write the series to (CSV)")
	mdOut     = flag.String("soak.summary", "", "file to write the summary to (a Markdown table, as docs/benchmarks.md shows it)")
	profiles  = flag.String("soak.profiles", "", "directory for heap profiles of the daemon, idle and during a sync, at the middle commit (needs --pprof-listen)")
	extra     = flag.String("soak.args", "", "more flags for sailplan run, space-separated")
	daemonEnv = flag.String("soak.env", "", "more environment for the daemon, space-separated NAME=VALUE (such as GOMEMLIMIT=120MiB)")
)

var vsResource = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// TestSoak runs the real daemon against three clusters and a Git server,
// pushes a small commit to a templated repository every few seconds, and
// records the daemon's memory and goroutines after each. It fails when a
// commit is not applied within two minutes; the memory targets are read
// from its summary, not asserted (they depend on the machine).
func TestSoak(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	dir := t.TempDir()
	bin := *binary
	if bin == "" {
		bin = filepath.Join(dir, "sailplan")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/sailplan").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	dyns := make([]dynamic.Interface, len(env.Clusters))
	for i, c := range env.Clusters {
		cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
		for tm := 0; tm < Teams; tm++ {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace(tm)}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("cluster %s: %v", c.Name, err)
			}
		}
		dyns[i] = dynamic.NewForConfigOrDie(c.RESTConfig())
	}
	git := testenv.NewGitServer(t)
	repo := git.NewRepo(t, "intents")
	repo.Commit(t, Repo(*services), "the templated repository")

	listen, pprof := freeAddr(t), freeAddr(t)
	args := []string{"run", "--repo", repo.URL(), "--branch", "main", "--interval", "2s", "--kubeconfig", env.Kubeconfig, "--listen", listen}
	if *profiles != "" {
		args = append(args, "--pprof-listen", pprof)
	}
	args = append(args, strings.Fields(*extra)...)
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), strings.Fields(*daemonEnv)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf(format+"\ndaemon log (last lines):\n%s", append(a, tail(logPath, 30))...)
	}

	var samples []Sample
	for k := 0; k <= *commits; k++ {
		push := time.Now()
		if k > 0 {
			repo.Commit(t, map[string]string{"change.cue": Change(k, *services)}, fmt.Sprintf("commit %d", k))
		}
		if k == *commits/2 && *profiles != "" {
			go heapProfile(ctx, t, pprof, filepath.Join(*profiles, "heap-sync.pb.gz"), time.Second)
		}
		svc, w := Changed(k, *services)
		limit := 2 * time.Minute
		if k == 0 {
			limit = 15 * time.Minute
		}
		s := Sample{Commit: k}
		applied := false
		for !applied {
			select {
			case err := <-done:
				fail("the daemon exited: %v", err)
			default:
			}
			st, err := ProcStatus(cmd.Process.Pid, "VmRSS")
			if err != nil {
				fail("%v", err)
			}
			s.PeakRSS = max(s.PeakRSS, st["VmRSS"])
			applied = weightsAre(ctx, dyns, NamespaceOf(svc), Service(svc), int64(w))
			if time.Since(push) > limit {
				fail("commit %d: %s/%s does not send %d %% to v2 on every cluster after %s", k, NamespaceOf(svc), Service(svc), w, limit)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.ApplySeconds = time.Since(push).Seconds()
		// Idle until the next push, still watching the peak.
		for time.Since(push) < *every {
			st, err := ProcStatus(cmd.Process.Pid, "VmRSS")
			if err != nil {
				fail("%v", err)
			}
			s.PeakRSS = max(s.PeakRSS, st["VmRSS"])
			time.Sleep(100 * time.Millisecond)
		}
		st, err := ProcStatus(cmd.Process.Pid, "VmRSS")
		if err != nil {
			fail("%v", err)
		}
		m, err := Metrics(ctx, "http://"+listen+"/metrics", "go_goroutines", "go_memstats_heap_alloc_bytes")
		if err != nil {
			fail("%v", err)
		}
		s.RSS, s.PeakRSS = st["VmRSS"], max(s.PeakRSS, st["VmRSS"])
		s.Goroutines, s.HeapAlloc = int(m["go_goroutines"]), uint64(m["go_memstats_heap_alloc_bytes"])
		s.Seconds = time.Since(started).Seconds()
		samples = append(samples, s)
		t.Logf("commit %d: applied in %.1f s, RSS %.1f MiB (peak %.1f), heap %.1f MiB, %d goroutines", k, s.ApplySeconds,
			float64(s.RSS)/mib, float64(s.PeakRSS)/mib, float64(s.HeapAlloc)/mib, s.Goroutines)
		if k == *commits/2-1 && *profiles != "" {
			heapProfile(ctx, t, pprof, filepath.Join(*profiles, "heap-idle.pb.gz"), 0)
		}
	}
	if st, err := ProcStatus(cmd.Process.Pid, "VmHWM"); err == nil {
		t.Logf("the daemon's peak RSS over the run (VmHWM): %.1f MiB", float64(st["VmHWM"])/mib)
	}
	var csv, md bytes.Buffer
	if err := WriteCSV(&csv, samples); err != nil {
		t.Fatal(err)
	}
	if *csvOut != "" {
		if err := os.WriteFile(*csvOut, csv.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteSummary(&md, samples); err != nil {
		t.Fatal(err)
	}
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, md.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d services, %d commits:\n%s", *services, *commits, md.String())
}

// weightsAre says whether service in ns sends weight % to v2 in its
// first route on every cluster.
func weightsAre(ctx context.Context, dyns []dynamic.Interface, ns, service string, weight int64) bool {
	for _, d := range dyns {
		vs, err := d.Resource(vsResource).Namespace(ns).Get(ctx, service, metav1.GetOptions{})
		if err != nil {
			return false
		}
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		if len(http) == 0 {
			return false
		}
		routes, _, _ := unstructured.NestedSlice(http[0].(map[string]any), "route")
		found := false
		for _, r := range routes {
			r := r.(map[string]any)
			subset, _, _ := unstructured.NestedString(r, "destination", "subset")
			w, _, _ := unstructured.NestedInt64(r, "weight")
			if subset == "v2" && w == weight {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// heapProfile saves the daemon's heap profile to path after wait.
func heapProfile(ctx context.Context, t *testing.T, addr, path string, wait time.Duration) {
	time.Sleep(wait)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("heap profile: %s: %s", resp.Status, b)
		return
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Errorf("heap profile: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
