package testenv_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/testenv"
)

// helperEnv makes the test binary act as a short-lived parent that starts a
// cluster and is then killed, for TestChildrenDieWithParent.
const helperEnv = "SAILPLAN_TESTENV_HELPER"

var env *testenv.Env

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		testenv.Main(m, 2, &env)
	case helperMain:
		testenv.Main(m, 1, &env)
	default:
		os.Exit(m.Run())
	}
}

// Helper modes: helperStart calls Start in a test, helperMain goes through
// Main; helperBinaries only calls Binaries. Each runs TestHelperProcess.
const (
	helperStart    = "start"
	helperMain     = "main"
	helperBinaries = "binaries"
)

func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("needs clusters, which -short does not start")
	}
}

func TestClusters(t *testing.T) {
	needEnv(t)
	if got := len(env.Clusters); got != 2 {
		t.Fatalf("clusters: got %d, want 2", got)
	}
	for i, c := range env.Clusters {
		if want := "c" + strconv.Itoa(i+1); c.Name != want {
			t.Errorf("cluster %d: name %q, want %q", i, c.Name, want)
		}
		t.Run(c.Name, func(t *testing.T) {
			ctx := t.Context()
			cs, err := kubernetes.NewForConfig(c.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			v, err := cs.Discovery().ServerVersion()
			if err != nil {
				t.Fatalf("server version: %v", err)
			}
			if v.GitVersion != "v1.36.3" {
				t.Errorf("gitVersion %q, want v1.36.3", v.GitVersion)
			}

			ic, err := istioclient.NewForConfig(c.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			vs, err := ic.NetworkingV1().VirtualServices("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list VirtualServices as admin: %v", err)
			}
			if len(vs.Items) != 0 {
				t.Errorf("VirtualServices: got %d, want none", len(vs.Items))
			}
			if _, err := ic.SecurityV1().AuthorizationPolicies("").List(ctx, metav1.ListOptions{}); err != nil {
				t.Errorf("list AuthorizationPolicies as admin: %v", err)
			}

			// A REST mapper built right after Start must already know the Istio kinds.
			dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			groups, err := restmapper.GetAPIGroupResources(dc)
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			mapper := restmapper.NewDiscoveryRESTMapper(groups)
			for _, gk := range []struct{ group, kind string }{
				{"networking.istio.io", "VirtualService"},
				{"networking.istio.io", "DestinationRule"},
				{"security.istio.io", "AuthorizationPolicy"},
			} {
				m, err := mapper.RESTMapping(schemaGK(gk.group, gk.kind), "v1")
				if err != nil {
					t.Errorf("REST mapping %s/%s: %v", gk.group, gk.kind, err)
					continue
				}
				dyn, err := dynamic.NewForConfig(c.RESTConfig())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dyn.Resource(m.Resource).Namespace("default").List(ctx, metav1.ListOptions{}); err != nil {
					t.Errorf("dynamic list %s: %v", m.Resource, err)
				}
			}

			uc, err := istioclient.NewForConfig(c.UserRESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			_, err = uc.NetworkingV1().VirtualServices("default").List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("list VirtualServices as %s: got %v, want 403 Forbidden", testenv.UserName, err)
			}
		})
	}
}

func TestIstioCRDsEstablished(t *testing.T) {
	needEnv(t)
	names, err := testenv.IstioCRDNames(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("istio CRDs: only %d: %v", len(names), names)
	}
	for _, c := range env.Clusters {
		dyn, err := dynamic.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			crd, err := dyn.Resource(crdGVR).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("cluster %s: CRD %s: %v", c.Name, name, err)
				continue
			}
			if !established(crd.Object) {
				t.Errorf("cluster %s: CRD %s not Established", c.Name, name)
			}
		}
	}
}

func TestKubeconfig(t *testing.T) {
	needEnv(t)
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "c1" {
		t.Errorf("current context %q, want c1", cfg.CurrentContext)
	}
	if len(cfg.Contexts) != len(env.Clusters) {
		t.Errorf("contexts: %d, want %d", len(cfg.Contexts), len(env.Clusters))
	}
	for _, c := range env.Clusters {
		rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, c.Name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			t.Fatalf("context %s: %v", c.Name, err)
		}
		if rc.Host != c.Host {
			t.Errorf("context %s: host %s, want %s", c.Name, rc.Host, c.Host)
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("context %s: get namespace default: %v", c.Name, err)
		}
	}
}

func TestNamespace(t *testing.T) {
	needEnv(t)
	var ns string
	t.Run("Inner/With Odd_Chars.And-a-very-long-name-that-does-not-fit-in-a-dns-label", func(t *testing.T) {
		ns = env.Namespace(t)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			t.Fatalf("namespace %q: %v", ns, errs)
		}
		if !strings.HasPrefix(ns, "testnamespace-inner-with-odd-chars") {
			t.Errorf("namespace %q does not derive from the test name", ns)
		}
		for _, c := range env.Clusters {
			cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
			if _, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); err != nil {
				t.Errorf("cluster %s: %v", c.Name, err)
			}
		}
		if again := env.Namespace(t); again == ns {
			t.Errorf("second namespace %q repeats the first", again)
		}
	})
	// Without a namespace controller, deletion leaves the namespace Terminating.
	for _, c := range env.Clusters {
		cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
		got, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if err == nil && got.DeletionTimestamp == nil {
			t.Errorf("cluster %s: namespace %s not deleted after its test", c.Name, ns)
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("cluster %s: %v", c.Name, err)
		}
	}
}

func TestAPIServerRestartKeepsData(t *testing.T) {
	needEnv(t)
	ns := env.Namespace(t)
	c := env.Clusters[1]
	ctx := t.Context()
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"stop", "kill"} {
		oldPID := c.APIServerPID()
		t0 := time.Now()
		if how == "stop" {
			if err := c.StopAPIServer(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			c.KillAPIServer()
		}
		t.Logf("%s apiserver: %s", how, time.Since(t0).Round(time.Millisecond))
		if testenv.Alive(oldPID) || c.APIServerPID() != 0 {
			t.Fatalf("%s: apiserver %d still running", how, oldPID)
		}
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{}); err == nil {
			t.Fatalf("%s: apiserver answered while stopped", how)
		}
		t0 = time.Now()
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("restart apiserver after %s: %s", how, time.Since(t0).Round(time.Millisecond))
		got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("after %s and start: %v", how, err)
		}
		if got.Data["k"] != "v" {
			t.Errorf("after %s and start: data %v", how, got.Data)
		}
		// The Istio CRDs live in etcd too and must come back with the apiserver.
		ic := istioclient.NewForConfigOrDie(c.RESTConfig())
		if _, err := ic.NetworkingV1().VirtualServices(ns).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("after %s and start: list VirtualServices: %v", how, err)
		}
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	needEnv(t)
	dir := t.TempDir()
	t0 := time.Now()
	e, err := testenv.Start(t.Context(), testenv.Options{N: 1, Dir: dir, Prefix: "stop", Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start N=1: %s", time.Since(t0).Round(time.Millisecond))
	c := e.Clusters[0]
	if c.Name != "stop1" {
		t.Errorf("name %q, want stop1", c.Name)
	}
	pids := []int{c.APIServerPID(), c.EtcdPID()}
	for _, pid := range pids {
		if !testenv.Alive(pid) {
			t.Fatalf("pid %d not running before Stop", pid)
		}
	}
	t0 = time.Now()
	if err := e.Stop(); err != nil {
		t.Error(err)
	}
	t.Logf("stop N=1: %s", time.Since(t0).Round(time.Millisecond))
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d after Stop: kill 0 = %v, want ESRCH", pid, err)
		}
	}
	for _, p := range []string{filepath.Join(dir, "stop1"), filepath.Join(dir, "kubeconfig")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Stop: %v, want it removed", p, err)
		}
	}
}

// TestChildrenDieWithParent kills a test process that runs a cluster, with
// SIGKILL so that no deferred cleanup runs, and checks that the kernel took
// etcd and the apiserver down with it.
func TestChildrenDieWithParent(t *testing.T) {
	needEnv(t)
	h := startHelper(t, helperStart, nil)
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitAllGone(t, h.pids, 10*time.Second)
	// Only the files stay behind; the next Start would remove them as stale.
	if err := os.RemoveAll(h.dir); err != nil {
		t.Error(err)
	}
}

// TestSignalStopsClusters interrupts a test binary that runs its clusters
// through Main and checks that Main stopped them and removed their state.
func TestSignalStopsClusters(t *testing.T) {
	needEnv(t)
	h := startHelper(t, helperMain, nil)
	if err := h.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := h.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("helper exit: %v, want exit status 1", err)
	}
	// Main waited for its children, so they are reaped, not merely dying.
	for _, pid := range h.pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("pid %d after SIGINT: kill 0 = %v, want ESRCH", pid, err)
		}
	}
	if _, err := os.Stat(h.dir); !os.IsNotExist(err) {
		t.Errorf("state dir %s after SIGINT: %v, want it removed", h.dir, err)
	}
}

type helper struct {
	cmd  *exec.Cmd
	pids []int
	dir  string
}

// startHelper runs this test binary as TestHelperProcess in mode and waits
// for the line with its children's pids.
func startHelper(t *testing.T, mode string, extraEnv []string) *helper {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), extraEnv...)
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			f := strings.Fields(rest)
			h.dir = f[0]
			for _, p := range f[1:] {
				pid, _ := strconv.Atoi(p)
				h.pids = append(h.pids, pid)
			}
			break
		}
	}
	if len(h.pids) != 2 {
		t.Fatalf("helper did not report its children's pids (scan: %v)", sc.Err())
	}
	for _, pid := range h.pids {
		if !testenv.Alive(pid) {
			t.Fatalf("child %d not running", pid)
		}
	}
	// Drain the rest so that the helper never blocks on a full pipe.
	go io.Copy(io.Discard, out)
	return h
}

func waitAllGone(t *testing.T, pids []int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, pid := range pids {
		for testenv.Alive(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d still running %s after its parent was killed", pid, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestKubectl: the kubectl testenv builds is of the apiserver's release,
// bundles kustomize, and reaches the clusters with the env's kubeconfig.
func TestKubectl(t *testing.T) {
	needEnv(t) // a first build takes minutes, as the apiserver's does
	bin, err := testenv.Kubectl(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := testenv.Binaries(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl version: %v", err)
	}
	var v struct {
		Client    struct{ GitVersion string } `json:"clientVersion"`
		Kustomize string                      `json:"kustomizeVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, out)
	}
	if v.Client.GitVersion != bins.KubeVersion || v.Kustomize == "" {
		t.Errorf("kubectl version: %s, want client %s with a kustomize version", out, bins.KubeVersion)
	}
	out, err = exec.Command(bin, "--kubeconfig", env.Kubeconfig, "get", "namespace", "default", "-o", "name").CombinedOutput()
	if string(out) != "namespace/default\n" || err != nil {
		t.Errorf("kubectl get namespace default: %q, %v", out, err)
	}
}

// TestBinariesBuildOnce builds into an empty cache from two processes at
// once: exactly one of them must build, the other wait and reuse its result.
func TestBinariesBuildOnce(t *testing.T) {
	needEnv(t) // the package's Start has warmed the Go build cache, so this costs a link, not a build
	cache := t.TempDir()
	type result struct {
		out string
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), helperEnv+"="+helperBinaries, "SAILPLAN_CACHE="+cache)
			out, err := cmd.CombinedOutput()
			results <- result{string(out), err}
		}()
	}
	var out string
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("helper: %v\n%s", r.err, r.out)
		}
		out += r.out
	}
	t.Log(out)
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if n := strings.Count(out, "testenv: building "+name+" "); n != 1 {
			t.Errorf("%s built %d times, want once", name, n)
		}
		if n := strings.Count(out, "BIN "+filepath.Join(cache, "bin", name)); n != 2 {
			t.Errorf("%s: %d helpers got the cached path, want 2", name, n)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, "bin", "*.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestHelperProcess is not a test: the tests above run it in a subprocess.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case helperStart:
		e, err := testenv.Start(t.Context(), testenv.Options{N: 1, Log: os.Stderr})
		if err != nil {
			t.Fatal(err)
		}
		c := e.Clusters[0]
		fmt.Printf("PIDS %s %d %d\n", e.Dir, c.APIServerPID(), c.EtcdPID())
	case helperMain:
		c := env.Clusters[0]
		fmt.Printf("PIDS %s %d %d\n", env.Dir, c.APIServerPID(), c.EtcdPID())
	case helperBinaries:
		b, err := testenv.Binaries(t.Context(), os.Stdout)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("BIN %s\nBIN %s\n", b.APIServer, b.Etcd)
		return
	default:
		// Not a test of its own: the body of the subprocesses that
		// TestChildrenDieWithParent and the build-lock test start.
		return
	}
	// Wait to be killed; the timeout keeps a broken parent from leaving us around.
	time.Sleep(2 * time.Minute)
	t.Fatal("helper was not killed")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
