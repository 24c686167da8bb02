//go:build linux

package bounded

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// self is the running binary. /proc/self/exe is the file that runs, even
// when a newer sailplan has replaced it on disk since the daemon started:
// the child always speaks the parent's protocol.
func self() (string, error) { return "/proc/self/exe", nil }

// sysProcAttr makes the kernel kill the child when the parent dies, so a
// daemon killed hard (SIGKILL, its own OOM kill) leaves no evaluation
// running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// meter reads a process's resident memory from /proc/PID/statm. The file
// is opened once, while the process is known to be the child: a reading
// after the child is gone fails instead of measuring whichever process
// took its PID.
type meter struct {
	f   *os.File
	buf []byte
}

func openMeter(pid int) (*meter, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return nil, err
	}
	return &meter{f: f, buf: make([]byte, 256)}, nil
}

// resident is the process's resident set size in bytes.
func (m *meter) resident() (int64, bool) {
	n, _ := m.f.ReadAt(m.buf, 0)
	return statmPages(m.buf[:n], 1)
}

func (m *meter) Close() error { return m.f.Close() }

// statmPages is field i of statm (0: size, 1: resident), in bytes.
func statmPages(statm []byte, i int) (int64, bool) {
	fields := bytes.Fields(statm)
	if len(fields) <= i {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(fields[i]), 10, 64)
	return pages * int64(os.Getpagesize()), err == nil
}

// peakOf is the most memory a finished child held resident.
func peakOf(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // KiB on Linux
	}
	return 0
}

// capAddressSpace limits this process's address space (RLIMIT_AS) to what
// it maps now plus extra. Go reserves about a gigabyte it never touches
// before main runs, so the cap must start from there.
func capAddressSpace(extra int64) error {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return err
	}
	size, ok := statmPages(statm, 0)
	if !ok {
		return fmt.Errorf("/proc/self/statm: no size in %q", statm)
	}
	limit := uint64(size + extra)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
}

// firstVictim asks the kernel's OOM killer to take this process first
// should the machine run out of memory, rather than the daemon: an
// evaluation is worth less, and is tried again.
func firstVictim() {
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
}
