package render

import (
	"fmt"

	"github.com/sailplan/sailplan/schema"
)

// renderer renders the intents of one kind (schema.Kinds).
type renderer struct {
	render func(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error)
	// outputs are the Istio kinds it writes, with the phase each is
	// applied in.
	outputs map[string]phase
}

var (
	// renderers are by schema kind (schema.Kind.Field). Each render file
	// registers the kinds it renders; tests fail when a kind has none.
	renderers = map[string]renderer{}
	// applyOrder is the phase of every Istio kind any renderer writes.
	applyOrder = map[string]phase{}
)

// register makes render the renderer of the intents in the schema's field,
// writing the Istio kinds in outputs. It runs at init: a field with two
// renderers, or an Istio kind given two phases, stops every program and
// test that links render.
func register(field string, render func(in *schema.Intents, kind schema.Kind, opts Options) ([]Object, error), outputs map[string]phase) {
	if _, dup := renderers[field]; dup {
		panic(fmt.Sprintf("render: two renderers for %s", field))
	}
	for kind, p := range outputs {
		if q, ok := applyOrder[kind]; ok && q != p {
			panic(fmt.Sprintf("render: the renderer of %s applies %s in phase %d, another one in phase %d", field, kind, p, q))
		}
		applyOrder[kind] = p
	}
	renderers[field] = renderer{render: render, outputs: outputs}
}
