// Package bounded loads intents (schema.Load) with a time limit and a
// memory limit that hold, for intents sailplan does not trust: CUE's
// evaluator cannot be cancelled, and a comprehension over
// list.Range(0, 5000000, 1) takes gigabytes within seconds and minutes of
// CPU. So the evaluation runs where it can be stopped, in a child process:
// the running binary started again (/proc/self/exe) with SAILPLAN_EVALUATE
// in its environment, which RunIfChild, first in main, recognises.
//
// The protocol, one exchange per child:
//
//   - stdin, parent to child: one JSON request, the files (schema.Files)
//     and the limits;
//   - stdout, child to parent: one JSON answer, either the decoded intents
//     with what their own JSON leaves out (Sources, the raw objects' files,
//     which clusters have overrides, and every cluster's view), or
//     schema.Errors with their positions and hints, or another error's text;
//   - the exit status: 0 with an answer; anything else is a crash, whose
//     standard error (its first 16 KiB) says why.
//
// The limits, all enforced by the parent:
//
//   - time: the child is killed (SIGKILL) at the deadline, or as soon as the
//     caller's context ends (SIGINT, SIGTERM);
//   - memory: the parent reads the child's resident size every 10 ms and
//     kills it above the limit. Inside, the child keeps Go's garbage
//     collector under 7/8 of the limit, and caps its own address space
//     (RLIMIT_AS) at what it maps at start plus 1.25 times the limit, so
//     that it fails to allocate even if the parent's reading were late: Go
//     reserves about a gigabyte of address space it never touches, so an
//     RLIMIT_AS of the limit itself would stop every evaluation;
//   - output: the answer is read up to Limits.Output bytes, and the child
//     killed beyond.
//
// Rendering stays in the parent: it is pure and fast, and the daemon renders
// a commit again with new canary weights without evaluating it again.
package bounded
