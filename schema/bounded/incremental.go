package bounded

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	gosync "sync"

	"github.com/sailplan/sailplan/schema"
)

// Evaluator is Evaluate for a daemon that evaluates commit after commit:
// it keeps what it evaluated, keyed by content, and reuses it.
//   - Files identical to the last ones (a commit that changes no intent
//     file) cost no evaluation: the last result is returned, Usage zero.
//   - Where the files can be loaded one by one (schema.LoadSplit), only
//     the files whose content changed are evaluated, in a child, each on
//     its own; the others' intents come from the cache and the whole is
//     merged and checked here, as Load does.
//   - Otherwise everything is evaluated in a child, as Evaluate does.
//
// A service equal to the last result's is the last result's pointer
// (schema.Intents.Intern), whichever way it was evaluated.
//
// The result is always what Evaluate gives for the same files
// (TestEvaluatorMatchesEvaluate). Safe for one caller at a time.
type Evaluator struct {
	// Limits bound each child, as Evaluate's.
	Limits Limits

	mu     gosync.Mutex
	cache  *schema.SplitCache
	last   [sha256.Size]byte
	lastIn *schema.Intents
	// lastErr is the last result's error when it was the intents' own
	// (schema.Errors, or another error of Load): the same files give it
	// again. A limit, a crash or a stopped context is not remembered.
	lastErr error
	valid   bool
	// good is the last result without an error: the next one shares its
	// unchanged services (schema.Intents.Intern).
	good *schema.Intents
	// alone, when set, sees the files evaluated one by one (for tests).
	alone func(schema.Files)
}

// Evaluate loads files as Evaluate does, reusing what earlier calls
// evaluated. Usage is what the children took, zero when none ran.
func (e *Evaluator) Evaluate(ctx context.Context, files schema.Files) (*schema.Intents, Usage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sum := filesSum(files)
	if e.valid && sum == e.last {
		return e.lastIn, Usage{}, e.lastErr
	}
	e.valid = false
	in, u, err := e.evaluate(ctx, files)
	if err == nil {
		in.Intern(e.good)
		e.good = in
	}
	if err == nil || isIntentsError(err) {
		e.last, e.lastIn, e.lastErr, e.valid = sum, in, err, true
	}
	return in, u, err
}

func (e *Evaluator) evaluate(ctx context.Context, files schema.Files) (*schema.Intents, Usage, error) {
	l := e.Limits.WithDefaults()
	if e.cache == nil {
		e.cache = schema.NewSplitCache()
	}
	var used Usage
	in, ok, err := schema.LoadSplit(files, e.cache, func(changed schema.Files) (map[string]*schema.Intents, error) {
		if e.alone != nil {
			e.alone(changed)
		}
		if l.InProcess {
			return schema.EvaluateAlone(changed), nil
		}
		a, u, err := ask(ctx, request{Files: changed, Alone: true}, l)
		used = u
		if err != nil {
			return nil, err
		}
		parts := map[string]*schema.Intents{}
		for name, w := range a.Parts {
			if w != nil && w.Intents != nil {
				parts[name] = w.intents()
			}
		}
		return parts, nil
	})
	switch {
	case ok:
		return in, used, nil
	case err != nil && ctx.Err() != nil:
		return nil, used, fmt.Errorf("evaluation stopped: %w", context.Cause(ctx))
	}
	// The files depend on each other, something is wrong with them, or
	// evaluating them alone failed: the whole evaluation decides, with
	// its errors and their positions.
	in, u, err := Evaluate(ctx, files, l)
	u.Took += used.Took
	u.Peak = max(u.Peak, used.Peak)
	return in, u, err
}

// isIntentsError reports an error that the files themselves cause, which
// the same files cause again: not a limit, a crash or a stopped context.
func isIntentsError(err error) bool {
	var errs schema.Errors
	return errors.As(err, &errs)
}

// filesSum identifies a set of files by their names and contents.
func filesSum(files schema.Files) [sha256.Size]byte {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%d:%s%d:", len(name), name, len(files[name]))
		h.Write(files[name])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
