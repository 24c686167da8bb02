package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bins holds the paths of the binaries a cluster runs.
type Bins struct {
	APIServer string // kube-apiserver
	Etcd      string // etcd
	// KubeVersion is the kube-apiserver's gitVersion, e.g. "v1.36.3".
	KubeVersion string
	// EtcdVersion is etcd's module version, e.g. "v3.6.7".
	EtcdVersion string
}

// binary describes one binary built from a nested module under testenv/bins.
type binary struct {
	name    string // file name prefix in the cache
	module  string // nested module directory under testenv/bins
	dep     string // the module whose version keys the cache
	pkg     string // package to build
	ldflags func(version string) string
}

var (
	apiserverBinary = binary{
		name:   "kube-apiserver",
		module: "apiserver",
		dep:    "k8s.io/kubernetes",
		pkg:    "k8s.io/kubernetes/cmd/kube-apiserver",
		ldflags: func(v string) string {
			major, minor := majorMinor(v)
			var b strings.Builder
			b.WriteString("-s -w")
			for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
				fmt.Fprintf(&b, " -X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s", p, v, p, major, p, minor)
			}
			b.WriteString(" -X k8s.io/component-base/version.gitTreeState=clean")
			return b.String()
		},
	}
	// kubectl, for tests that run what an operator runs (`kubectl
	// kustomize`, `kubectl apply --dry-run=server`): from the same module
	// and version as kube-apiserver, so it is the kubectl of that release,
	// with the kustomize it bundles.
	kubectlBinary = binary{
		name:    "kubectl",
		module:  "apiserver",
		dep:     "k8s.io/kubernetes",
		pkg:     "k8s.io/kubernetes/cmd/kubectl",
		ldflags: apiserverBinary.ldflags,
	}
	etcdBinary = binary{
		name:    "etcd",
		module:  "etcd",
		dep:     "go.etcd.io/etcd/server/v3",
		pkg:     "go.etcd.io/etcd/server/v3",
		ldflags: func(string) string { return "-s -w" },
	}
)

// majorMinor turns "v1.36.3" into "1", "36" as kube's version package expects.
func majorMinor(v string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// Binaries caches one result per process: the build is expensive and the files do not change under us.
var binaries struct {
	mu   sync.Mutex
	bins *Bins
}

// Binaries returns kube-apiserver and etcd, building them from the nested
// modules under testenv/bins into the cache ($SAILPLAN_CACHE, else the user's
// cache dir + "/sailplan") the first time. A file lock makes concurrent test
// packages build once and reuse the result. Progress goes to log (nil: os.Stderr)
// because a first build takes minutes.
func Binaries(ctx context.Context, log io.Writer) (Bins, error) {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.bins != nil {
		return *binaries.bins, nil
	}
	var b Bins
	for _, bin := range []binary{etcdBinary, apiserverBinary} {
		path, version, err := bin.build(ctx, log)
		if err != nil {
			return Bins{}, err
		}
		switch bin.name {
		case apiserverBinary.name:
			b.APIServer, b.KubeVersion = path, version
		case etcdBinary.name:
			b.Etcd, b.EtcdVersion = path, version
		}
	}
	binaries.bins = &b
	return b, nil
}

// Kubectl returns the kubectl of kube-apiserver's release, building it
// into the cache the first time as Binaries does. Only the tests that run
// kubectl ask for it, so the other packages never wait for its build.
func Kubectl(ctx context.Context, log io.Writer) (string, error) {
	path, _, err := kubectlBinary.build(ctx, log)
	return path, err
}

// build returns the path and version of bin in the cache, building it
// first if it is not there. Progress goes to log (nil: os.Stderr).
func (bin binary) build(ctx context.Context, log io.Writer) (path, version string, err error) {
	if log == nil {
		log = os.Stderr
	}
	src, err := SourceDir()
	if err != nil {
		return "", "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", "", err
	}
	binDir := filepath.Join(cache, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", "", fmt.Errorf("binaries: %w", err)
	}
	modDir := filepath.Join(src, "bins", bin.module)
	version, err = moduleVersion(filepath.Join(modDir, "go.mod"), bin.dep)
	if err != nil {
		return "", "", fmt.Errorf("binaries: %s: %w", bin.name, err)
	}
	path = filepath.Join(binDir, bin.name+"-"+version)
	if err := ensureBuilt(ctx, log, bin, modDir, version, path); err != nil {
		return "", "", fmt.Errorf("binaries: %s %s: %w", bin.name, version, err)
	}
	return path, version, nil
}

// CacheDir is where built binaries live: outside the repo so that they
// survive `git clean` and are shared by every checkout on the machine.
func CacheDir() (string, error) {
	if d := os.Getenv("SAILPLAN_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache dir: %w (set SAILPLAN_CACHE)", err)
	}
	return filepath.Join(d, "sailplan"), nil
}

// SourceDir returns the testenv source directory. It is found from this
// file's compile-time path so that it works from any test package's working
// directory; binaries built with -trimpath fall back to searching upward from
// the working directory.
func SourceDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(dir, "bins", "apiserver", "go.mod")); err == nil {
			return dir, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv source dir: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "testenv")
		if _, err := os.Stat(filepath.Join(cand, "bins", "apiserver", "go.mod")); err == nil {
			return cand, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("testenv source dir: not found from %s (run inside the sailplan repo)", wd)
		}
	}
}

// moduleVersion reads the required version of dep from a go.mod without
// pulling in a go.mod parser: the nested modules' require lines are simple.
func moduleVersion(gomod, dep string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == dep {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no requirement on %s", gomod, dep)
}

func ensureBuilt(ctx context.Context, log io.Writer, bin binary, modDir, version, path string) error {
	if isExecutable(path) {
		return nil
	}
	unlock, err := lockFile(ctx, log, path+".lock", bin.name)
	if err != nil {
		return err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if isExecutable(path) {
		return nil
	}
	// Holding the lock, any temporary file is a dead builder's leftover.
	if stale, _ := filepath.Glob(path + ".tmp-*"); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	defer os.Remove(tmp)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building needs the go command: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags", bin.ldflags(version), "-o", tmp, bin.pkg)
	cmd.Dir = modDir
	// The nested module must not be pulled into a go.work of the caller.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	// A process group lets cancellation stop the compilers that go build
	// started, not just go itself; Pdeathsig stops the build when we die
	// (see proc for why the goroutine below keeps its thread locked).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	fmt.Fprintf(log, "testenv: building %s %s into %s (first run only; kube-apiserver takes several minutes)\n", bin.name, version, filepath.Dir(path))
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			fmt.Fprintf(log, "testenv: still building %s (%s)...\n", bin.name, time.Since(start).Round(time.Second))
			continue
		case err = <-done:
		}
		break
	}
	if err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", bin.pkg, modDir, err, out.String())
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	fmt.Fprintf(log, "testenv: built %s %s in %s\n", bin.name, version, time.Since(start).Round(time.Second))
	return nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock, polling so that ctx can cancel the wait
// and so that the waiter can tell the user why it is idle.
func lockFile(ctx context.Context, log io.Writer, path, what string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	start := time.Now()
	lastSay := time.Time{}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Since(lastSay) >= 15*time.Second {
			fmt.Fprintf(log, "testenv: waiting for another process building %s (%s)...\n", what, time.Since(start).Round(time.Second))
			lastSay = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
