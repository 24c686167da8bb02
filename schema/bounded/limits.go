package bounded

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Limits bound one evaluation. A zero field takes its default.
type Limits struct {
	// Timeout is how long the evaluation may take, from starting the
	// child to its answer.
	Timeout time.Duration
	// Memory is the most the child may hold resident (its RSS, as top
	// shows it), in bytes.
	Memory int64
	// Output is the largest answer the child may send back, in bytes: the
	// decoded intents must fit in the parent too.
	Output int64
	// InProcess evaluates in this process with schema.Load, where nothing
	// can stop it: no limit holds. Only for tests that ask for it.
	InProcess bool
}

// The defaults, from measurements (docs/benchmarks.md, "Bounded
// evaluation"): the 1,000-service benchmark repository renders in 2.2 s at
// a peak of 170 MiB, and in 3.1 s at 470 MiB written as one file, its
// worst; so they leave it about 10 times the time and twice the memory on
// a busy machine, while the runaway comprehension of issue 10 is stopped
// within about 5 s, long before it takes a node's memory.
const (
	DefaultTimeout = 30 * time.Second
	DefaultMemory  = 1 << 30
	// DefaultOutput is 70 times what the 1,000-service repository decodes
	// to (0.9 MB of JSON).
	DefaultOutput = 64 << 20
)

// minMemory is what the child needs before it evaluates anything (the
// sailplan binary and Go's runtime), with room to spare: a smaller limit
// would reject every commit.
const minMemory = 64 << 20

// The flags that set the limits, named in the errors so that a user knows
// what to raise.
const (
	TimeoutFlag = "eval-timeout"
	MemoryFlag  = "eval-memory"
)

// WithDefaults fills in the defaults of the fields left zero.
func (l Limits) WithDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultMemory
	}
	if l.Output <= 0 {
		l.Output = DefaultOutput
	}
	return l
}

// AddFlags registers --eval-timeout and --eval-memory, which set l.
func AddFlags(f *pflag.FlagSet, l *Limits) {
	l.Memory = DefaultMemory // the flag's default, as sizeFlag shows it
	f.DurationVar(&l.Timeout, TimeoutFlag, DefaultTimeout,
		"longest a commit's intents may take to evaluate; longer ones are rejected")
	f.Var(sizeFlag{&l.Memory}, MemoryFlag,
		"most memory (resident) evaluating a commit's intents may use, such as 1GiB or 512MiB; more is rejected")
}

// sizeFlag is a byte size: a Kubernetes quantity (1Gi, 512Mi, 1G) with an
// optional B (1GiB).
type sizeFlag struct{ n *int64 }

func (f sizeFlag) Type() string { return "size" }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	s := formatBytes(*f.n)
	if n, ok := strings.CutSuffix(s, " bytes"); ok {
		return n
	}
	return strings.ReplaceAll(s, " ", "")
}

func (f sizeFlag) Set(s string) error {
	q, err := resource.ParseQuantity(strings.TrimSuffix(s, "B"))
	if err != nil {
		return fmt.Errorf("%q: want a size such as 1GiB or 512MiB", s)
	}
	if q.Value() < minMemory {
		return fmt.Errorf("%q: want at least %s, which sailplan needs before it evaluates anything", s, formatBytes(minMemory))
	}
	*f.n = q.Value()
	return nil
}

// formatBytes writes a size the way the flags take it, in the largest
// binary unit that divides it: 1 GiB, 1536 MiB, 100 bytes.
func formatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
