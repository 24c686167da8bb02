package schema

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	gosync "sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"golang.org/x/sync/errgroup"
)

// The exported way to load a package, for repositories written the CUE
// way: a template applied to every service by a pattern constraint,
// comprehensions declaring the services from the teams' lists. Such a
// package evaluates in a seventh of the time it takes unified with the
// schema (docs/benchmarks.md), because the schema is what CUE spends its
// time on: every field of every service checked against closed
// definitions, on one core.
//
// So the package is evaluated with the defaults file (defaults.go) in
// place of the schema, which gives every value the schema would give; its
// intents are exported as JSON, checked against the schema in batches,
// each batch in a CUE context of its own so that they run on every core,
// and decoded from the JSON. A value that the schema accepts is the value
// unification gives: the schema only adds its defaults, which the
// defaults file added already. TestExportedMatchesUnified holds the two
// ways to the same results.
//
// The exported way declines (errDeclined) whatever it is not sure of:
// any error, incomplete value or conflict, a top-level field the schema
// does not know, overrides that are not a struct, a batch the schema
// rejects, a mistake or a warning the semantic checks find. The
// one-package way then evaluates the files again and reports what it
// finds, with positions.

// errDeclined says that the exported way does not load a package, which
// the one-package way then loads.
var errDeclined = errors.New("the exported way declines")

// exportBatch is how many intents are checked in one CUE evaluation:
// enough to spread the fixed cost of a check, few enough to keep every
// core busy on a repository of a few hundred.
const exportBatch = 32

// checkExported checks and decodes b.root, the user's package evaluated
// with the defaults file. Batches are checked as they are exported.
func (b *builder) checkExported() (*Intents, error) {
	if !concrete(b.root) {
		return nil, errDeclined
	}
	var (
		g, ctx = errgroup.WithContext(context.Background())
		next   = make(chan exportedBatch)
		mu     gosync.Mutex
		parts  = map[int]*Intents{}
	)
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			return checkBatches(ctx, next, func(i int, part *Intents) {
				mu.Lock()
				defer mu.Unlock()
				parts[i] = part
			})
		})
	}
	n := 0
	err := b.export(func(batch, check []byte) bool {
		select {
		case next <- exportedBatch{n, batch, check}:
			n++
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(next)
	if werr := g.Wait(); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}

	in := &Intents{}
	for i := range n {
		part := parts[i]
		if part.Fleet.Clusters != nil {
			in.Fleet = part.Fleet
		}
		for _, k := range Kinds {
			k.merge(in, part)
		}
	}
	in.WholeNumbers()
	// A mistake or a warning goes to the one-package way for its
	// position: a field only the user's files give has one conjunct
	// here, and CUE places it at its label, not its value as unified
	// with the schema. (validate also records each raw object's file.)
	if findings := validate(in, posIn(b.root)); len(findings) > 0 {
		return nil, errDeclined
	}
	if b.view == "" {
		in.Sources = sources(b.root)
	}
	return in, nil
}

// concrete says whether root, evaluated, is free of errors and concrete
// everywhere but in the clusters' overrides, which may be partial
// ([_, {...}]): exportFleet checks them, each cluster's view in full. It
// is the one-package way's check (decode, withoutPartialOverrides), and
// it finds what exporting intent by intent would not: a missing required
// field, an error in a struct that holds the intents.
func concrete(root cue.Value) bool {
	for _, e := range cueerrors.Errors(root.Validate(cue.Concrete(true))) {
		if !overridePath.MatchString(pathString(e.Path())) {
			return false
		}
	}
	return true
}

// exportedBatch is the index-th batch of exported intents: the data to
// decode, and what of it the schema has yet to check (sameFields).
type exportedBatch struct {
	index       int
	data, check []byte
}

// checkBatches checks the batches it is handed against the schema, in a
// CUE context of its own, and hands each one's intents to done.
func checkBatches(ctx context.Context, next <-chan exportedBatch, done func(int, *Intents)) error {
	cb := &builder{ctx: cuecontext.New()}
	schema, err := cb.schema()
	if err != nil {
		return err
	}
	for batch := range next {
		if ctx.Err() != nil {
			continue // drain: the exporter stops at the next batch
		}
		data := cb.ctx.CompileBytes(batch.check)
		if err := schema.Unify(data).Validate(cue.Concrete(true)); err != nil {
			return errDeclined
		}
		var part Intents
		if err := json.Unmarshal(batch.data, &part); err != nil {
			return errDeclined
		}
		done(batch.index, &part)
	}
	return nil
}

// export writes the intents of b.root as JSON objects of the schema's
// shape, each holding up to exportBatch intents, and sends them with what
// the schema has yet to check of them; it stops when send returns false.
// The fleet goes without its clusters' overrides, which may be partial
// ([_, {...}]) and which each cluster's view checks in full.
func (b *builder) export(send func(batch, check []byte) bool) error {
	var batch batchOf
	seen := sameFields{}
	flush := func() error {
		if batch.data == nil {
			return nil
		}
		js, err := json.Marshal(batch.data)
		if err != nil {
			return err
		}
		cjs, err := json.Marshal(batch.check)
		if err != nil {
			return err
		}
		batch = batchOf{}
		if !send(js, cjs) {
			return errDeclined
		}
		return nil
	}
	fields, err := b.root.Fields()
	if err != nil {
		return errDeclined
	}
	for fields.Next() {
		label, v := fields.Selector().Unquoted(), fields.Value()
		var items iterator
		switch {
		case label == "fleet":
			fleet, err := exportFleet(v)
			if err != nil {
				return err
			}
			batch.add("fleet", "", fleet, fleet)
			continue
		case label == "raw":
			var list cue.Iterator
			list, err = v.List()
			items = &list
		case isNamedKind(label):
			items, err = v.Fields()
		default:
			return errDeclined // the schema rejects it: let it say so
		}
		if err != nil {
			return errDeclined
		}
		batch.hold(label) // a kind with no intents is still there
		for items.Next() {
			js, err := items.Value().MarshalJSON()
			if err != nil {
				return errDeclined
			}
			name := ""
			if label != "raw" {
				name = items.Selector().Unquoted()
			}
			check := js
			if label == "services" {
				check = seen.unchecked(js)
			}
			if batch.add(label, name, js, check) == exportBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// iterator is what cue.Iterator offers for lists and structs alike.
type iterator interface {
	Next() bool
	Value() cue.Value
	Selector() cue.Selector
}

// batchOf is one batch of intents in the schema's shape, as data and as
// what is left to check: the fleet, named intents by kind and name, raw
// objects in their order.
type batchOf struct {
	data, check map[string]any
	n           int
}

// add files an intent in the batch and returns how many it holds. The
// fleet and raw objects have no name.
func (b *batchOf) add(kind, name string, data, check json.RawMessage) int {
	b.hold(kind)
	put(b.data, kind, name, data)
	put(b.check, kind, name, check)
	b.n++
	return b.n
}

// hold makes sure the batch holds kind, even with no intents of it.
func (b *batchOf) hold(kind string) {
	if b.data == nil {
		b.data, b.check = map[string]any{}, map[string]any{}
	}
	for _, batch := range []map[string]any{b.data, b.check} {
		if _, ok := batch[kind]; !ok {
			switch kind {
			case "raw":
				batch[kind] = []json.RawMessage{}
			case "fleet": // one value, which put sets
			default:
				batch[kind] = map[string]json.RawMessage{}
			}
		}
	}
}

// put files one intent's JSON in one side of a batch.
func put(batch map[string]any, kind, name string, js json.RawMessage) {
	switch kind {
	case "raw":
		objs, _ := batch[kind].([]json.RawMessage)
		batch[kind] = append(objs, js)
	case "fleet":
		batch[kind] = js
	default:
		named, _ := batch[kind].(map[string]json.RawMessage)
		if named == nil {
			named = map[string]json.RawMessage{}
			batch[kind] = named
		}
		named[name] = js
	}
}

// exportFleet exports the fleet without its clusters' overrides, after
// checking that they are a struct with no conflict in it.
func exportFleet(fleet cue.Value) (json.RawMessage, error) {
	out := map[string]map[string]map[string]json.RawMessage{}
	fields, err := fleet.Fields()
	if err != nil {
		return nil, errDeclined
	}
	for fields.Next() {
		if fields.Selector().Unquoted() != "clusters" {
			return nil, errDeclined
		}
		clusters, err := fields.Value().Fields()
		if err != nil {
			return nil, errDeclined
		}
		out["clusters"] = map[string]map[string]json.RawMessage{}
		for clusters.Next() {
			cluster := map[string]json.RawMessage{}
			attrs, err := clusters.Value().Fields()
			if err != nil {
				return nil, errDeclined
			}
			for attrs.Next() {
				v := attrs.Value()
				if attrs.Selector().Unquoted() == "overrides" {
					if v.IncompleteKind() != cue.StructKind || v.Validate() != nil {
						return nil, errDeclined
					}
					continue
				}
				js, err := v.MarshalJSON()
				if err != nil {
					return nil, errDeclined
				}
				cluster[attrs.Selector().Unquoted()] = js
			}
			out["clusters"][clusters.Selector().Unquoted()] = cluster
		}
	}
	return json.Marshal(out)
}

// sameFields remembers the fields of services that the schema checks,
// by name and content. A templated repository gives most services the
// same policy, retries and canary: each is checked once, which halves the
// checking of such a repository. A field can be checked apart from the
// rest of its service because no field of #Service refers to another
// (TestServiceFieldsStandAlone), and none is required, so a service
// without the fields checked already is still a service.
type sameFields map[string]bool

// unchecked returns a service's JSON without the fields already checked.
func (c sameFields) unchecked(js json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(js, &fields) != nil {
		return js
	}
	for name, v := range fields {
		key := name + "\x00" + string(v)
		if c[key] {
			delete(fields, name)
		}
		c[key] = true
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return js
	}
	return out
}
