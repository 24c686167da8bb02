package apply

import "errors"

// Outcome is what one sync of a cluster did, also when it failed part way.
type Outcome struct {
	// Kinds counts the objects by kind and by what the sync did to them;
	// unchanged objects are only counted, not listed in Results.
	Kinds map[string]map[Action]int
	// Results are the objects written: created, configured or pruned.
	Results []Result
	// Conflicts counts, by kind, the objects left as they were because
	// another field manager owns fields of theirs (a *ConflictError).
	Conflicts map[string]int
}

// done records what was done to an object of kind; unchanged ones are
// counted only.
func (o *Outcome) done(r Result) {
	if o.Kinds == nil {
		o.Kinds = map[string]map[Action]int{}
	}
	if o.Kinds[r.Kind] == nil {
		o.Kinds[r.Kind] = map[Action]int{}
	}
	o.Kinds[r.Kind][r.Action]++
	if r.Action != Unchanged {
		o.Results = append(o.Results, r)
	}
}

// failed records an object of kind that was not applied, counting it if
// another field manager was in the way.
func (o *Outcome) failed(kind string, err error) {
	var ce *ConflictError
	if !errors.As(err, &ce) {
		return
	}
	if o.Conflicts == nil {
		o.Conflicts = map[string]int{}
	}
	o.Conflicts[kind]++
}

// Counts are the objects by action, over every kind.
func (o Outcome) Counts() map[Action]int {
	out := map[Action]int{}
	for _, byAction := range o.Kinds {
		for a, n := range byAction {
			out[a] += n
		}
	}
	return out
}
