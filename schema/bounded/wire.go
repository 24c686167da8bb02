package bounded

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/sailplan/sailplan/schema"
)

// request is what the parent writes on the child's standard input.
type request struct {
	Files schema.Files `json:"files"`
	// Timeout and Memory are the limits the child holds itself to, besides
	// the parent's enforcing them.
	Timeout time.Duration `json:"timeout"`
	Memory  int64         `json:"memory"`
	// Alone asks for each file evaluated on its own (schema.EvaluateAlone)
	// rather than the files as intents.
	Alone bool `json:"alone,omitempty"`
	// Cluster asks for the intents as that one cluster sees them
	// (schema.LoadCluster).
	Cluster string `json:"cluster,omitempty"`
}

// answer is what the child writes on its standard output: the intents, or
// why there are none.
type answer struct {
	Intents *wireIntents  `json:"intents,omitempty"`
	Errors  schema.Errors `json:"errors,omitempty"`
	// Error is the text of an error of schema.Load that is not Errors.
	Error string `json:"error,omitempty"`
	// Parts are the files evaluated alone, for a request with Alone.
	Parts map[string]*wireIntents `json:"parts,omitempty"`
}

// wireIntents is schema.Intents with what its JSON leaves out, being for
// the objects and state that hold intents, not for a copy of them.
type wireIntents struct {
	Intents *schema.Intents   `json:"intents"`
	Sources map[string]string `json:"sources"`
	// RawSources are the files of the raw objects, in the order of Raw.
	RawSources []string `json:"rawSources,omitempty"`
	// Overrides lists the clusters that have overrides.
	Overrides []string                `json:"overrides,omitempty"`
	Views     map[string]*wireIntents `json:"views,omitempty"`
	Warnings  schema.Errors           `json:"warnings,omitempty"`
}

// load is the load req asks for: the whole fleet's intents, or one
// cluster's view.
func (req request) load() (*schema.Intents, error) {
	if req.Cluster != "" {
		return schema.LoadCluster(req.Files, req.Cluster)
	}
	return schema.Load(req.Files)
}

// answerFor loads files, in the child.
func answerFor(req request) answer {
	files := req.Files
	if req.Alone {
		a := answer{Parts: map[string]*wireIntents{}}
		for name, in := range schema.EvaluateAlone(files) {
			a.Parts[name] = toWire(in)
		}
		return a
	}
	in, err := req.load()
	var errs schema.Errors
	switch {
	case errors.As(err, &errs):
		return answer{Errors: errs}
	case err != nil:
		return answer{Error: err.Error()}
	}
	return answer{Intents: toWire(in)}
}

func toWire(in *schema.Intents) *wireIntents {
	w := &wireIntents{Intents: in, Sources: in.Sources, Warnings: in.Warnings}
	for _, o := range in.Raw {
		w.RawSources = append(w.RawSources, o.Source)
	}
	for _, name := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
		if in.Fleet.Clusters[name].HasOverrides {
			w.Overrides = append(w.Overrides, name)
		}
	}
	for name, view := range in.ClusterViews() {
		if w.Views == nil {
			w.Views = map[string]*wireIntents{}
		}
		w.Views[name] = toWire(view)
	}
	return w
}

// result is the answer as schema.Load returns it, in the parent.
func (a *answer) result() (*schema.Intents, error) {
	switch {
	case len(a.Errors) > 0:
		return nil, a.Errors
	case a.Error != "":
		return nil, errors.New(a.Error)
	case a.Intents == nil || a.Intents.Intents == nil:
		return nil, errors.New("evaluation: the child answered neither intents nor errors")
	}
	return a.Intents.intents(), nil
}

func (w *wireIntents) intents() *schema.Intents {
	in := w.Intents
	in.Sources = w.Sources
	in.Warnings = w.Warnings
	for i := range min(len(in.Raw), len(w.RawSources)) {
		in.Raw[i].Source = w.RawSources[i]
	}
	for _, name := range w.Overrides {
		if c, ok := in.Fleet.Clusters[name]; ok {
			c.HasOverrides = true
			in.Fleet.Clusters[name] = c
		}
	}
	for name, view := range w.Views {
		if view.Intents != nil {
			in.SetClusterView(name, view.intents())
		}
	}
	in.WholeNumbers()
	return in
}
