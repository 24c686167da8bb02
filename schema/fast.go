package schema

import (
	"maps"
	"runtime"
	"slices"
	"strings"
	gosync "sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/token"
)

// loadSplit is the fast way to load a repository whose files do not depend
// on each other, which is how large repositories are written (a file per
// service or team): each file is evaluated against the schema on its own,
// on every core, and its CUE state is dropped once decoded, so memory
// stays at about one file's worth. The intents are then merged and
// checked as a whole.
//
// It declines (ok false) whenever that could differ from evaluating the
// files as one package: a file refers to a field another file declares,
// two files declare the same intent (CUE would unify them), a top-level
// field is not plain, a cluster has overrides, or anything at all is
// wrong, so that errors always come from the one-package path, with
// their positions.
func loadSplit(files Files) (*Intents, bool) {
	in, ok, _ := LoadSplit(files, nil, func(alone Files) (map[string]*Intents, error) {
		return EvaluateAlone(alone), nil
	})
	return in, ok
}

// LoadSplit is the file-by-file load with the evaluation of each file
// handed to evaluate (a child process, in the daemon) and its results kept
// in cache, keyed by each file's content: a commit that changes one file
// evaluates that file only. evaluate returns the intents of each file it
// is given, leaving out those that decline. ok is false, with no error,
// whenever Load must take the one-package path instead; an error is
// evaluate's. A nil cache keeps nothing.
func LoadSplit(files Files, cache *SplitCache, evaluate func(Files) (map[string]*Intents, error)) (in *Intents, ok bool, err error) {
	if cache == nil {
		cache = NewSplitCache()
	}
	defer cache.keepOnly(files)
	if len(files) < 2 {
		return nil, false, nil
	}
	names := slices.Sorted(maps.Keys(files))
	owners := map[string]string{} // intent path -> file
	labels := map[string]map[string]bool{}
	shapes := map[string]*fileShape{}
	for _, name := range names {
		sh := cache.shape(name, files[name])
		if sh == nil || sh.pkg != cache.shape(names[0], files[names[0]]).pkg {
			return nil, false, nil
		}
		shapes[name] = sh
		labels[name] = map[string]bool{}
		for _, p := range sh.paths {
			if _, taken := owners[p.path]; taken {
				return nil, false, nil
			}
			owners[p.path] = name
			labels[name][p.label] = true
		}
	}
	for _, name := range names {
		// A reference to a top-level field that another file declares too
		// (services, say) means the merged field, which this file alone
		// does not have: a comprehension over it would silently differ.
		for other, ls := range labels {
			if other == name {
				continue
			}
			for l := range ls {
				if shapes[name].refs[l] {
					return nil, false, nil
				}
			}
		}
	}

	parts := make([]*Intents, len(names))
	missing := Files{}
	for i, name := range names {
		if parts[i] = cache.part(name, files[name]); parts[i] == nil {
			missing[name] = files[name]
		}
	}
	if len(missing) > 0 {
		evaluated, err := evaluate(missing)
		if err != nil {
			return nil, false, err
		}
		for i, name := range names {
			if parts[i] != nil {
				continue
			}
			if parts[i] = evaluated[name]; parts[i] == nil {
				return nil, false, nil
			}
			cache.keepPart(name, files[name], parts[i])
		}
	}

	in = &Intents{Sources: map[string]string{}}
	for _, part := range parts {
		if len(part.Fleet.Clusters) > 0 {
			in.Fleet = Fleet{Clusters: maps.Clone(part.Fleet.Clusters)}
		}
		for _, k := range Kinds {
			k.merge(in, part)
		}
	}
	for path, file := range owners {
		if strings.Contains(path, "/") { // named intents, as the one-package path records them
			in.Sources[path] = file
		}
	}
	// Positions are only needed for errors, which come from the
	// one-package path; file names are all the merged intents need.
	fileOf := func(path ...any) token.Position {
		if len(path) >= 2 {
			if kind, ok := path[0].(string); ok && isNamedKind(kind) {
				if name, ok := path[1].(string); ok {
					return token.Position{Filename: owners[kind+"/"+name]}
				}
			}
		}
		if len(path) >= 1 {
			if label, ok := path[0].(string); ok {
				return token.Position{Filename: owners[label]}
			}
		}
		return token.Position{}
	}
	// Warnings too send the load the one-package way, for their positions.
	if errs := validate(in, fileOf); len(errs) > 0 {
		return nil, false, nil
	}
	return in, true, nil
}

// EvaluateAlone evaluates each file against the schema on its own, on
// every core, and returns the intents of those that are fine alone and
// declare no cluster overrides.
func EvaluateAlone(files Files) map[string]*Intents {
	names := slices.Sorted(maps.Keys(files))
	parts := make([]*Intents, len(names))
	next := make(chan int)
	var wg gosync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(names)); w++ {
		wg.Go(func() {
			for i := range next {
				parts[i], _ = evaluateAlone(names[i], files[names[i]])
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	out := map[string]*Intents{}
	for i, name := range names {
		if parts[i] != nil {
			out[name] = parts[i]
		}
	}
	return out
}

// evaluateAlone unifies one file with the schema and decodes it; false
// when anything is wrong with it, or it declares cluster overrides.
func evaluateAlone(name string, src []byte) (*Intents, bool) {
	b := &builder{ctx: cuecontext.New(), files: Files{name: src}}
	user, errs := b.parse(false)
	if len(errs) > 0 || user.Err() != nil {
		return nil, false
	}
	schema, err := b.schema()
	if err != nil {
		return nil, false
	}
	root := schema.Unify(user)
	if root.Validate(cue.Concrete(true)) != nil {
		return nil, false
	}
	clusters, _ := root.LookupPath(cue.ParsePath("fleet.clusters")).Fields()
	for clusters != nil && clusters.Next() {
		if clusters.Value().LookupPath(cue.MakePath(cue.Str("overrides"))).Exists() {
			return nil, false
		}
	}
	var in Intents
	if decodeValue(root, &in) != nil {
		return nil, false
	}
	return &in, true
}

// identifiers lists the names f uses other than as a field's own label.
// It errs on the side of more: a selector such as x.services counts,
// which only costs the fast way.
func identifiers(f *ast.File) map[string]bool {
	found := map[string]bool{}
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.Field:
			ast.Walk(x.Value, visit, nil)
			return false
		case *ast.Ident:
			found[x.Name] = true
		}
		return true
	}
	ast.Walk(f, visit, nil)
	return found
}

type intentPath struct {
	path  string // "services/reviews", "fleet", "#Common"
	label string // the top-level label, which other files could refer to
}

// topLevelPaths lists what a file declares: an intent by kind and name
// for the named kinds, the top-level label for anything else. It fails
// for anything but plain fields.
func topLevelPaths(f *ast.File) ([]intentPath, bool) {
	var out []intentPath
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.Package, *ast.ImportDecl, *ast.Attribute, *ast.CommentGroup:
			continue
		case *ast.Field:
			label, _, err := ast.LabelName(d.Label)
			if err != nil || label == "" {
				return nil, false
			}
			if !isNamedKind(label) {
				out = append(out, intentPath{path: label, label: label})
				continue
			}
			st, ok := d.Value.(*ast.StructLit)
			if !ok {
				return nil, false
			}
			for _, e := range st.Elts {
				field, ok := e.(*ast.Field)
				if !ok {
					if _, comment := e.(*ast.CommentGroup); comment {
						continue
					}
					return nil, false
				}
				name, _, err := ast.LabelName(field.Label)
				if err != nil || name == "" {
					return nil, false
				}
				out = append(out, intentPath{path: label + "/" + name, label: label})
			}
		default: // embeddings, comprehensions, file-level lets
			return nil, false
		}
	}
	return out, true
}

func mergeInto[V any](dst *map[string]V, src map[string]V) {
	if src == nil {
		return // an empty map stays: the kind was there, with no intents
	}
	if *dst == nil {
		*dst = map[string]V{}
	}
	for k, v := range src {
		(*dst)[k] = v
	}
}
