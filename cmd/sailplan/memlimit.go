package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where a container's memory limit shows (cgroup v2).
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitShare is the share of the container's limit that the Go
// collector aims to stay under: the rest is for what Go does not count
// (the binary's pages, C libraries) and for the moment a sync needs more.
const memoryLimitShare = 0.9

// setMemoryLimit gives the Go collector a soft limit below the
// container's, so that it collects harder instead of letting the heap
// double before it does (GOGC=100) and the kernel killing the daemon in
// the middle of a rollout. GOMEMLIMIT, when set, is the operator's
// choice and wins. It returns the limit set, 0 when none.
func setMemoryLimit(maxFile string) (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	b, err := os.ReadFile(maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", maxFile, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a number of bytes", maxFile, s)
	}
	limit := int64(float64(n) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return limit, nil
}
