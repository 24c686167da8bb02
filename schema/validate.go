package schema

import (
	"fmt"

	"cuelang.org/go/cue/token"
)

// posFunc locates a field path in the user's files.
type posFunc func(path ...any) token.Position

// validate checks what CUE's types cannot express, kind by kind, then
// across kinds. It reports every problem, in a stable order.
func validate(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, k := range Kinds {
		errs = append(errs, k.validate(in, pos)...)
	}
	errs = append(errs, validateObjectNames(in, pos)...)
	for _, check := range analyses {
		errs = append(errs, check(in, pos)...)
	}
	sortErrors(errs)
	return errs
}

// analyses are the checks across intents that mirror istioctl analyze
// (and one warning of istiod's webhook): what sailplan can know from the
// intents alone, reported at the intent before anything is applied. Each
// says which of Istio's codes it mirrors; docs/intents.md lists them.
var analyses = []func(in *Intents, pos posFunc) Errors{
	analyzeRoutes,
	analyzeGatewayHosts,
	analyzeMeshHosts,
	analyzeClaimRoutes,
	analyzeTLSOrigination,
	analyzeDenyPorts,
}

// meshWarning is meshError for a problem that does not stop the intents
// from being applied.
func meshWarning(pos posFunc, msg, hint string, path ...any) Error {
	e := meshError(pos, msg, hint, path...)
	e.Warning = true
	return e
}

// validateObjectNames rejects two intents that would write the same Istio
// object: the later one would silently replace the earlier one.
func validateObjectNames(in *Intents, pos posFunc) Errors {
	var errs Errors
	owners := map[string]string{}
	for _, k := range Kinds {
		for _, o := range k.objects(in) {
			key := o.kind + " " + o.namespace + "/" + o.name
			if first, ok := owners[key]; ok {
				errs = append(errs, meshError(pos, fmt.Sprintf("%s %s/%s is also rendered from %s", o.kind, o.namespace, o.name, first),
					"two intents would write the same Istio object; rename one of them", o.path...))
				continue
			}
			owners[key] = pathOf(o.path)
		}
	}
	return errs
}
