package bounded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

const (
	// stderrKept is how much of the child's standard error is kept for a
	// CrashError: a Go panic or fatal error says what it is first.
	stderrKept = 16 << 10
	// waitDelay bounds the wait for the child's pipes once it is killed.
	// Nothing else holds them, so they close with it.
	waitDelay = time.Second
)

// hit is the cause of a context that a limit ended.
type hit Limit

func (h hit) Error() string { return string(h) + " limit" }

// run starts a child, writes req on its standard input and returns what it
// writes on its standard output, or why it was stopped, and what the child
// took (zero when it did not start).
func run(ctx context.Context, req []byte, l Limits) ([]byte, Usage, error) {
	exe, err := self()
	if err != nil {
		return nil, Usage{}, fmt.Errorf("evaluation: finding sailplan's binary: %w", err)
	}
	limited, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	limited, stopTimer := context.WithTimeoutCause(limited, l.Timeout, hit(TimeLimit))
	defer stopTimer()

	// Killed (SIGKILL, the default Cancel) when limited ends: the
	// deadline, a limit, or the caller's context.
	cmd := exec.CommandContext(limited, exe)
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), childEnv+"="+protocol)
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	cmd.Stdin = bytes.NewReader(req)
	stdout := &capped{max: l.Output, full: func() { stop(hit(OutputLimit)) }}
	stderr := &head{max: stderrKept}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, Usage{}, fmt.Errorf("evaluation: starting %s: %w", exe, err)
	}
	unwatch := watch(limited, cmd.Process.Pid, l.Memory, func() { stop(hit(MemoryLimit)) })
	err = cmd.Wait()
	unwatch()
	ps := cmd.ProcessState
	u := Usage{Took: time.Since(start)}
	if ps != nil {
		u.Peak = peakOf(ps)
	}
	if err == nil {
		// A complete answer, even if a limit came just after it.
		return stdout.buf.Bytes(), u, nil
	}
	var h hit
	switch {
	case errors.As(context.Cause(limited), &h):
		return nil, u, &LimitError{Limit: Limit(h), Limits: l, Took: u.Took, Peak: u.Peak}
	case ctx.Err() != nil:
		return nil, u, fmt.Errorf("evaluation stopped: %w", context.Cause(ctx))
	case ps == nil:
		return nil, u, fmt.Errorf("evaluation: %w", err)
	case outOfMemory(stderr.buf.String()):
		// The child's own cap on its address space, before the parent's
		// next reading.
		return nil, u, &LimitError{Limit: MemoryLimit, Limits: l, Took: u.Took, Peak: u.Peak}
	case !ps.Exited():
		return nil, u, fmt.Errorf("evaluation ended by %s, which sailplan did not send (the system's out-of-memory killer?)", ps)
	}
	return nil, u, &CrashError{Status: ps.String(), Stderr: stderr.buf.String()}
}

// outOfMemory reports a Go runtime that could not allocate.
func outOfMemory(stderr string) bool {
	return strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "cannot allocate memory")
}

// capped keeps up to max bytes and calls full, and fails, beyond.
type capped struct {
	buf  bytes.Buffer
	max  int64
	full func()
}

var errFull = errors.New("answer over the output limit")

func (c *capped) Write(p []byte) (int, error) {
	if int64(c.buf.Len()+len(p)) > c.max {
		c.full()
		return 0, errFull
	}
	return c.buf.Write(p)
}

// head keeps the first max bytes and drops the rest, so that a child
// writing without end costs nothing.
type head struct {
	buf bytes.Buffer
	max int
}

func (h *head) Write(p []byte) (int, error) {
	h.buf.Write(p[:max(0, min(len(p), h.max-h.buf.Len()))])
	return len(p), nil
}
