package apply

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// objectError is what went wrong with one object: its message starts with
// the object, then says the cause. Errors of many objects with the same
// cause are said once (joinLimited).
type objectError struct {
	key objKey
	err error
}

// objErr is an objectError of key whose cause is format and args, with %w
// kept.
func objErr(key objKey, format string, args ...any) error {
	return &objectError{key: key, err: fmt.Errorf(format, args...)}
}

func (e *objectError) Error() string { return e.key.String() + ": " + e.err.Error() }
func (e *objectError) Unwrap() error { return e.err }

// sameCause is the error of objects that failed for one cause (a missing
// namespace, a kind the cluster does not serve): said once, with how many
// objects, the first few of them, and the cause.
type sameCause struct {
	keys  []objKey
	cause string
	errs  []error
}

// namedObjects is how many of the objects of a sameCause are named.
const namedObjects = 3

func (e *sameCause) Error() string {
	names := make([]string, 0, namedObjects)
	for _, k := range e.keys[:min(len(e.keys), namedObjects)] {
		names = append(names, k.String())
	}
	list := strings.Join(names, ", ")
	if more := len(e.keys) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return fmt.Sprintf("%d objects (%s): %s", len(e.keys), list, e.cause)
}

// Unwrap gives every object's error, so that errors.Is and errors.As see
// each (the unreachable mark, a *ConflictError).
func (e *sameCause) Unwrap() []error { return e.errs }

// maxErrors is how many errors of one cluster are spelled out, once those
// of one cause are folded into one.
const maxErrors = 10

// joinLimited joins errs: the errors of objects that failed for the same
// cause become one error that counts them, and of the rest, the first
// maxErrors (in order) are kept and the others counted. It keeps the
// unreachable mark if any error has it.
func joinLimited(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var out []error
	groups := map[string]*sameCause{}
	for _, err := range errs {
		var oe *objectError
		if !errors.As(err, &oe) {
			out = append(out, err)
			continue
		}
		cause := oe.err.Error()
		g := groups[cause]
		if g == nil {
			g = &sameCause{cause: cause}
			groups[cause] = g
		}
		g.keys = append(g.keys, oe.key)
		g.errs = append(g.errs, err)
	}
	for _, g := range groups {
		if len(g.errs) == 1 {
			out = append(out, g.errs[0])
			continue
		}
		sort.Slice(g.keys, func(i, j int) bool { return g.keys[i].String() < g.keys[j].String() })
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	if len(out) <= maxErrors {
		return errors.Join(out...)
	}
	kept := append(out[:maxErrors:maxErrors], fmt.Errorf("and %d more errors", len(out)-maxErrors))
	return errors.Join(kept...)
}
