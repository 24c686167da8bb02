package bounded

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

const (
	// childEnv marks a process that sailplan started to evaluate; its
	// value is the protocol the parent speaks.
	childEnv = "SAILPLAN_EVALUATE"
	protocol = "1"
	// exitProtocol is the child's exit status when it cannot take part
	// in the exchange at all.
	exitProtocol = 3
)

// RunIfChild makes this process an evaluation child if sailplan started it
// as one: it evaluates the request on its standard input, writes the
// answer on its standard output and exits. Otherwise it returns at once.
// Call it first in main, and first in TestMain of a package whose tests
// load intents through Load (testenv.Main does).
func RunIfChild() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if v != protocol {
		fmt.Fprintf(os.Stderr, "evaluation child: the parent speaks protocol %q, this binary %q\n", v, protocol)
		os.Exit(exitProtocol)
	}
	os.Exit(serve(os.Stdin, os.Stdout, os.Stderr))
}

// serve is the child's side of the exchange; it returns the exit status.
func serve(in io.Reader, out, errOut io.Writer) int {
	var req request
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		fmt.Fprintf(errOut, "evaluation child: reading the request: %v\n", err)
		return exitProtocol
	}
	confine(req)
	a := answerFor(req)
	if err := json.NewEncoder(out).Encode(&a); err != nil {
		fmt.Fprintf(errOut, "evaluation child: writing the answer: %v\n", err)
		return exitProtocol
	}
	return 0
}

// confine holds the child to its limits from the inside, on top of the
// parent's watch, which stays the rule:
//   - the garbage collector works to stay under 7/8 of the memory limit,
//     so that garbage alone does not cross it, and collects late
//     (CollectLate);
//   - the address space is capped at what the process maps now plus 1.25
//     times the limit, so that the runtime fails to allocate ("out of
//     memory") even if the parent's reading came late;
//   - the kernel's OOM killer takes the child before the daemon;
//   - the child exits by itself soon after its deadline, should nobody be
//     left to kill it.
func confine(req request) {
	CollectLate(req.Memory / 8 * 7)
	if err := capAddressSpace(req.Memory + req.Memory/4); err != nil {
		fmt.Fprintf(os.Stderr, "evaluation child: capping the address space: %v\n", err)
	}
	firstVictim()
	time.AfterFunc(req.Timeout+waitDelay, func() {
		fmt.Fprintln(os.Stderr, "evaluation child: past the time limit and not stopped: exiting")
		os.Exit(exitProtocol)
	})
}
