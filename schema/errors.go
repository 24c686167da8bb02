package schema

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"
)

// Error is one problem in a repository's intents, located at the place a
// user has to edit.
type Error struct {
	// Pos is the file (relative to the intent root), line and column.
	Pos token.Position
	// Path is the field path, such as services.reviews.routes[0].to.
	Path string
	// Msg says what is wrong and what was expected.
	Msg string
	// Hint says what to do about it; empty when the message says it all.
	Hint string
	// Warning marks a problem that does not stop the intents from being
	// applied: Istio accepts what they render, but it probably does not
	// do what the author meant. `sailplan validate --strict` treats
	// warnings as errors.
	Warning bool `json:",omitempty"`
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Pos.IsValid() {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in one load. A commit with errors must not
// be applied, and loading it again gives the same errors: it is permanent.
type Errors []Error

func (es Errors) Error() string {
	lines := es.Strings()
	if len(es) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d errors in intents:\n  %s", len(es), strings.Join(lines, "\n  "))
}

// Permanent reports that retrying the same input cannot succeed.
func (Errors) Permanent() bool { return true }

// Strings is one line per problem, as Error prints it.
func (es Errors) Strings() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}

// split separates the errors, which stop the intents from being applied,
// from the warnings, which do not.
func (es Errors) split() (errs, warnings Errors) {
	for _, e := range es {
		if e.Warning {
			warnings = append(warnings, e)
		} else {
			errs = append(errs, e)
		}
	}
	return errs, warnings
}

// valueError is a problem with a value that only Go finds while decoding,
// reported like CUE's own errors: at the value's path and position.
type valueError struct {
	v   cue.Value
	msg string
}

func (e *valueError) Position() token.Pos         { return e.v.Pos() }
func (e *valueError) InputPositions() []token.Pos { return userPositions(e.v) }
func (e *valueError) Error() string               { return e.msg }
func (e *valueError) Msg() (string, []any)        { return "%s", []any{e.msg} }
func (e *valueError) Path() []string {
	var out []string
	for _, s := range e.v.Path().Selectors() {
		out = append(out, s.String())
	}
	return out
}
