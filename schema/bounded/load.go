package bounded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/sailplan/sailplan/schema"
)

// errNoHook is a child that went on to evaluate again: its main (or
// TestMain) does not call RunIfChild first.
var errNoHook = errors.New("evaluation: this process was started to evaluate, but its main does not call bounded.RunIfChild first")

// Load is schema.Load in a child process, under l (zero fields take their
// defaults). It returns what schema.Load returns (schema.Errors when the
// intents are invalid), or a *LimitError when a limit stopped it, a
// *CrashError when the child died without an answer, or the context's
// error as soon as ctx ends, the child killed either way.
func Load(ctx context.Context, files schema.Files, l Limits) (*schema.Intents, error) {
	l = l.WithDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluation stopped: %w", context.Cause(ctx))
	}
	if l.InProcess {
		return schema.Load(files)
	}
	if _, ok := os.LookupEnv(childEnv); ok {
		return nil, errNoHook
	}
	req, err := json.Marshal(request{Files: files, Timeout: l.Timeout, Memory: l.Memory})
	if err != nil {
		return nil, fmt.Errorf("evaluation: encoding the request: %w", err)
	}
	out, err := run(ctx, req, l)
	if err != nil {
		return nil, err
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, fmt.Errorf("evaluation: reading the answer: %w", err)
	}
	return a.result()
}
