// Command kubeenv runs sailplan's test clusters in the background for
// manual use and for make:
//
//	kubeenv up -n 2 -dir .kubeenv   # start 2 clusters, return when they are ready
//	kubeenv down -dir .kubeenv      # stop them
//
// up re-executes kubeenv as a detached supervisor (own session) that holds
// the clusters, so they outlive up but never the supervisor. The state
// directory holds kubeconfig, kubeenv.pid, kubeenv.log and the clusters' data.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sailplan/sailplan/testenv"
)

const (
	pidFile      = "kubeenv.pid"
	logFile      = "kubeenv.log"
	childrenFile = "kubeenv.children"
	kubeconfig   = "kubeconfig"
	superviseCmd = "supervise"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 2, "number of clusters (up)")
	dir := fs.String("dir", ".kubeenv", "state directory")
	timeout := fs.Duration("timeout", 20*time.Minute, "how long up waits, including a first build of the binaries")
	_ = fs.Parse(os.Args[2:])
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeenv: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	switch os.Args[1] {
	case "up":
		err = up(ctx, *n, abs, *timeout)
	case "down":
		err = down(ctx, abs)
	case superviseCmd:
		err = supervise(ctx, *n, abs)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeenv %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubeenv up [-n N] [-dir DIR] [-timeout D] | kubeenv down [-dir DIR]")
	os.Exit(2)
}

// up starts the supervisor unless one runs, then relays its log until the
// kubeconfig appears.
func up(ctx context.Context, n int, dir string, timeout time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kc := filepath.Join(dir, kubeconfig)
	if pid := runningSupervisor(dir); pid != 0 {
		if _, err := os.Stat(kc); err == nil {
			fmt.Printf("kubeenv: already running (pid %d); export KUBECONFIG=%s\n", pid, kc)
			return nil
		}
		fmt.Printf("kubeenv: already starting (pid %d), waiting\n", pid)
		return waitReady(ctx, pid, nil, dir, 0, timeout)
	}
	// A kubeconfig left by a supervisor that was killed must not pass for readiness.
	for _, f := range []string{kubeconfig, pidFile, childrenFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	log, err := os.OpenFile(filepath.Join(dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, superviseCmd, "-n", strconv.Itoa(n), "-dir", dir)
	// Its own session: no terminal signals, and it outlives us (and go run).
	// No Pdeathsig here: the supervisor must survive up's exit; its
	// children die with it, not with us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Not our stdout: a caller reading our output (make, CI) would otherwise
	// wait for the supervisor to close it.
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	fmt.Printf("kubeenv: starting %d cluster(s) in the background (pid %d, log %s)\n", n, pid, filepath.Join(dir, logFile))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return waitReady(ctx, pid, exited, dir, 0, timeout)
}

// waitReady copies the supervisor's log to stdout from offset until the
// kubeconfig exists, the supervisor exits, ctx ends or timeout passes. On
// interrupt or timeout it stops the supervisor so that nothing half-started stays.
func waitReady(ctx context.Context, pid int, exited <-chan error, dir string, offset int64, timeout time.Duration) error {
	kc := filepath.Join(dir, kubeconfig)
	deadline := time.After(timeout)
	relay := func() {
		f, err := os.Open(filepath.Join(dir, logFile))
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
		m, _ := io.Copy(os.Stdout, f)
		offset += m
	}
	for {
		relay()
		if _, err := os.Stat(kc); err == nil && testenv.Alive(pid) {
			fmt.Printf("kubeenv: ready; export KUBECONFIG=%s\n", kc)
			return nil
		}
		select {
		case err := <-exited:
			relay()
			return fmt.Errorf("supervisor exited before the clusters were ready: %v (see %s)", err, filepath.Join(dir, logFile))
		case <-ctx.Done():
			fmt.Println("kubeenv: interrupted, stopping")
			return errors.Join(ctx.Err(), stopSupervisor(context.Background(), pid, dir))
		case <-deadline:
			return errors.Join(fmt.Errorf("not ready after %s", timeout), stopSupervisor(context.Background(), pid, dir))
		case <-time.After(200 * time.Millisecond):
			if exited == nil && !testenv.Alive(pid) {
				relay()
				return fmt.Errorf("supervisor %d exited before the clusters were ready (see %s)", pid, filepath.Join(dir, logFile))
			}
		}
	}
}

func down(ctx context.Context, dir string) error {
	pid := runningSupervisor(dir)
	if pid == 0 {
		fmt.Println("kubeenv: not running")
	} else if err := stopSupervisor(ctx, pid, dir); err != nil {
		return err
	}
	// Children outlive a supervisor only if it was killed before Pdeathsig was set; check anyway.
	if err := reapChildren(ctx, dir); err != nil {
		return err
	}
	for _, f := range []string{pidFile, childrenFile, kubeconfig} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if pid != 0 {
		fmt.Println("kubeenv: stopped")
	}
	return nil
}

// stopSupervisor asks the supervisor to stop its clusters and waits, killing
// it if it takes too long (its children then die through Pdeathsig).
func stopSupervisor(ctx context.Context, pid int, dir string) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("supervisor %d: %w", pid, err)
	}
	if waitGone(ctx, pid, 60*time.Second) {
		return nil
	}
	fmt.Fprintf(os.Stderr, "kubeenv: supervisor %d did not stop in 60s, killing it\n", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(ctx, pid, 10*time.Second) {
		return fmt.Errorf("supervisor %d: still running after SIGKILL", pid)
	}
	return nil
}

func reapChildren(ctx context.Context, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, childrenFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var left []string
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil || !isOurChild(pid, dir) {
			continue
		}
		if waitGone(ctx, pid, 10*time.Second) {
			continue
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if !waitGone(ctx, pid, 5*time.Second) {
			left = append(left, f)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("processes still running: %s", strings.Join(left, " "))
	}
	return nil
}

func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for testenv.Alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// runningSupervisor returns the pid in the pid file if that process is a
// kubeenv supervisor for dir (a stale file may name a reused pid), else 0.
func runningSupervisor(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !testenv.Alive(pid) {
		return 0
	}
	args := cmdline(pid)
	if len(args) < 2 || args[1] != superviseCmd || !containsArg(args, dir) {
		return 0
	}
	return pid
}

// isOurChild tells whether pid is still etcd or kube-apiserver with state in dir.
func isOurChild(pid int, dir string) bool {
	if !testenv.Alive(pid) {
		return false
	}
	for _, a := range cmdline(pid) {
		if strings.HasPrefix(a, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func cmdline(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
}

func containsArg(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}

// supervise runs in the background: it starts the clusters, records its
// children for down, and stops everything on SIGTERM or SIGINT.
func supervise(ctx context.Context, n int, dir string) error {
	signal.Ignore(syscall.SIGHUP)
	fmt.Printf("kubeenv: supervisor %d starting %d cluster(s) in %s\n", os.Getpid(), n, dir)
	e, err := testenv.Start(ctx, testenv.Options{N: n, Dir: dir, Log: os.Stdout})
	if err != nil {
		_ = os.Remove(filepath.Join(dir, pidFile))
		return err
	}
	var pids []string
	for _, c := range e.Clusters {
		pids = append(pids, strconv.Itoa(c.APIServerPID()), strconv.Itoa(c.EtcdPID()))
	}
	if err := os.WriteFile(filepath.Join(dir, childrenFile), []byte(strings.Join(pids, "\n")+"\n"), 0o644); err != nil {
		return errors.Join(err, e.Stop())
	}
	for _, c := range e.Clusters {
		fmt.Printf("kubeenv: context %s: %s\n", c.Name, c.Host)
	}
	<-ctx.Done()
	fmt.Println("kubeenv: stopping")
	err = e.Stop()
	_ = os.Remove(filepath.Join(dir, pidFile))
	fmt.Println("kubeenv: stopped")
	return err
}
