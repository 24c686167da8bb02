package bounded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

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
	in, _, err := Evaluate(ctx, files, l)
	return in, err
}

// LoadCluster is schema.LoadCluster in a child process, as Load is
// schema.Load: the intents as one cluster sees them, evaluating no other
// cluster's view (what `sailplan render --cluster` needs).
func LoadCluster(ctx context.Context, files schema.Files, cluster string, l Limits) (*schema.Intents, error) {
	in, _, err := evaluate(ctx, request{Files: files, Cluster: cluster}, l)
	return in, err
}

// Usage is what one evaluation took.
type Usage struct {
	// Took is how long it ran.
	Took time.Duration
	// Peak is the most memory the child held resident, when the system
	// says (Linux does); 0 otherwise, and in process.
	Peak int64
}

// Evaluate is Load that also says what the evaluation took, whatever its
// outcome (over a limit, the same as the LimitError's). Usage is zero
// when no evaluation ran.
func Evaluate(ctx context.Context, files schema.Files, l Limits) (*schema.Intents, Usage, error) {
	return evaluate(ctx, request{Files: files}, l)
}

// evaluate loads what req asks for (request.load) in a child under l, or
// in process when l says so.
func evaluate(ctx context.Context, req request, l Limits) (*schema.Intents, Usage, error) {
	l = l.WithDefaults()
	if err := ctx.Err(); err != nil {
		return nil, Usage{}, fmt.Errorf("evaluation stopped: %w", context.Cause(ctx))
	}
	if l.InProcess {
		start := time.Now()
		in, err := req.load()
		return in, Usage{Took: time.Since(start)}, err
	}
	a, u, err := ask(ctx, req, l)
	if err != nil {
		return nil, u, err
	}
	in, err := a.result()
	return in, u, err
}

// ask sends req to a child under l (with its defaults) and reads its
// answer.
func ask(ctx context.Context, req request, l Limits) (answer, Usage, error) {
	if _, ok := os.LookupEnv(childEnv); ok {
		return answer{}, Usage{}, errNoHook
	}
	req.Timeout, req.Memory = l.Timeout, l.Memory
	body, err := json.Marshal(req)
	if err != nil {
		return answer{}, Usage{}, fmt.Errorf("evaluation: encoding the request: %w", err)
	}
	out, u, err := run(ctx, body, l)
	if err != nil {
		return answer{}, u, err
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		return answer{}, u, fmt.Errorf("evaluation: reading the answer: %w", err)
	}
	return a, u, nil
}
