package schema

import (
	"cuelang.org/go/cue/token"
)

// posFunc locates a field path in the user's files.
type posFunc func(path ...any) token.Position

// validate checks what CUE's types cannot express. It reports every
// problem, in a stable order.
func validate(in *Intents, pos posFunc) Errors {
	var errs Errors
	errs = append(errs, validateServices(in, pos)...)
	errs = append(errs, validateMesh(in, pos)...)
	sortErrors(errs)
	return errs
}
