package bounded

import (
	"fmt"
	"strings"
	"time"
)

// Limit names one limit of an evaluation.
type Limit string

const (
	TimeLimit   Limit = "time"
	MemoryLimit Limit = "memory"
	OutputLimit Limit = "output"
)

// LimitError says that an evaluation was stopped at one of its limits.
// The same files under the same limits are stopped again, so a commit that
// hits a limit is rejected, not tried again.
type LimitError struct {
	// Limit is the limit that was hit.
	Limit Limit
	// Limits are those the evaluation ran with.
	Limits Limits
	// Took is how long the child ran; Peak the most memory it held
	// resident, when the system says (Linux does).
	Took time.Duration
	Peak int64
}

// culprit is what runs into the time and memory limits in practice.
const culprit = "look for a comprehension that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string"

func (e *LimitError) Error() string {
	switch e.Limit {
	case TimeLimit:
		return fmt.Sprintf("evaluation took longer than %s (--%s): the intents are rejected; %s, or raise --%s if they really need the time",
			e.Limits.Timeout, TimeoutFlag, culprit, TimeoutFlag)
	case MemoryLimit:
		return fmt.Sprintf("evaluation used more than %s (--%s): the intents are rejected; %s, or raise --%s if they really need the memory",
			formatBytes(e.Limits.Memory), MemoryFlag, culprit, MemoryFlag)
	}
	return fmt.Sprintf("evaluation result is larger than %s: the intents are rejected; look for a very long string or list, such as one that strings.Repeat or a comprehension makes",
		formatBytes(e.Limits.Output))
}

// CrashError says that the child ended without an answer and without
// being stopped at a limit: CUE panicked, say. The same files crash it
// again.
type CrashError struct {
	// Status is how the child ended, such as "exit status 2".
	Status string
	// Stderr is the start of what the child wrote on its standard error.
	Stderr string
}

func (e *CrashError) Error() string {
	line, _, _ := strings.Cut(strings.TrimSpace(e.Stderr), "\n")
	if line == "" {
		return fmt.Sprintf("evaluation crashed (%s)", e.Status)
	}
	return fmt.Sprintf("evaluation crashed (%s): %s", e.Status, line)
}
