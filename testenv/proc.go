package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// proc is a child process (etcd or kube-apiserver) that must never outlive us.
//
// Two mechanisms guarantee that:
//   - Setpgid puts the child in its own process group so that stop can signal
//     everything it may have spawned, and so that a terminal's Ctrl-C does not
//     hit it before we had the chance to stop it in order.
//   - Pdeathsig=SIGKILL makes the kernel kill the child when we die, even by
//     SIGKILL or a panic that skips every deferred Stop. The kernel ties
//     Pdeathsig to the OS thread that forked the child, not to the process, so
//     the child would also be killed if that thread exited early. The Go runtime
//     exits a thread when a goroutine that locked it returns, so startProc forks
//     from a goroutine that holds runtime.LockOSThread until the child has been
//     waited for: the thread lives exactly as long as the child.
type proc struct {
	name    string
	logPath string
	pid     int
	done    chan struct{} // closed once the child was reaped
	err     error         // wait result, valid after done
}

// startProc starts path with args, its output appended to logPath.
func startProc(name, path string, args []string, dir, logPath string) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: when this goroutine returns, the runtime retires
		// the thread, which is what we want once the child is gone.
		defer logFile.Close()
		cmd := exec.Command(path, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	return p, nil
}

// exited reports whether the child has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL after grace,
// and returns once the child has been reaped.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the child left in its group goes too.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// kill sends SIGKILL to the child's process group and waits for the child.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
}

// logTail returns the end of the child's log for error messages.
func (p *proc) logTail() string {
	return tailFile(p.logPath, 30)
}

func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	parts := bytes.Split(data, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// Alive reports whether a process with this pid exists and is not a zombie.
// It checks /proc for zombies because a child reparented to an init that does
// not reap would still answer kill(pid, 0).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name, which may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
