package schema

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// The schema is every .cue file of this directory, one CUE package.
//
//go:embed *.cue
var schemaFS embed.FS

// schemaDir prefixes the names of the schema's files in positions; errors
// never point a user there when a position in their own files exists.
const schemaDir = "sailplan-schema/"

func inSchema(pos token.Position) bool { return strings.HasPrefix(pos.Filename, schemaDir) }

// Files holds an intent repository's CUE files, keyed by slash-separated
// path relative to the intent root.
type Files map[string][]byte

// Load unifies files with the schema, validates the result and decodes it.
// It is pure: the files are in memory, and every call uses a fresh CUE
// context so a long-running daemon does not accumulate CUE state. It takes
// the quickest way that gives the same result: file by file (fast.go),
// the exported way (exported.go), or the files as one package, which is
// where errors are reported from.
//
// On failure the error is Errors, listing every problem found.
func Load(files Files) (*Intents, error) {
	if in, ok := loadSplit(files); ok {
		return in, nil
	}
	b := &builder{ctx: cuecontext.New(), files: files}
	return b.build()
}

// LoadCluster is Load for one cluster of the fleet: the intents as that
// cluster sees them, with its overrides, and nothing else evaluated. A
// cluster with overrides costs one evaluation instead of one for the
// fleet plus one per cluster with overrides; the price is that mistakes
// only the fleet's intents or another cluster's overrides make are not
// reported: Load, which sync and validate use, reports them. The
// result's ForCluster(cluster) is the cluster's view. Errors of the view
// name the cluster, as Load's do.
func LoadCluster(files Files, cluster string) (*Intents, error) {
	if in, ok := loadSplit(files); ok {
		return in, nil
	}
	b := &builder{ctx: cuecontext.New(), files: files, only: cluster}
	return b.build()
}

type builder struct {
	ctx     *cue.Context
	files   Files
	intents cue.Value // #Intents, once compiled
	user    cue.Value // the user's intents alone
	root    cue.Value // the user's intents unified with #Intents
	// view, when set, is the cluster whose overrides the package embeds
	// (viewFile): the builder evaluates that cluster's view.
	view string
	// only, when set, is the one cluster to evaluate the intents for
	// (LoadCluster): no other cluster's view is evaluated.
	only string
	// exported, when set, evaluates the package the exported way
	// (exported.go).
	exported bool
}

// schema compiles the embedded schema and returns #Intents. It is built as
// an instance, not compiled as an expression, so that its standard library
// imports resolve.
func (b *builder) schema() (cue.Value, error) {
	if b.intents.Exists() {
		return b.intents, nil
	}
	err := func() error {
		entries, err := schemaFS.ReadDir(".")
		if err != nil {
			return err
		}
		inst := build.NewContext().NewInstance("", nil)
		for _, e := range entries {
			src, err := schemaFS.ReadFile(e.Name())
			if err != nil {
				return err
			}
			f, err := parser.ParseFile(schemaDir+e.Name(), src)
			if err != nil {
				return err
			}
			if err := inst.AddSyntax(f); err != nil {
				return err
			}
		}
		v := b.ctx.BuildInstance(inst)
		b.intents = v.LookupPath(cue.MakePath(cue.Def("Intents")))
		return v.Err()
	}()
	if err != nil {
		// The schema is embedded and tested: this is a bug, not bad input.
		return cue.Value{}, fmt.Errorf("sailplan schema: %w", err)
	}
	return b.intents, nil
}

func (b *builder) build() (*Intents, error) {
	// The exported way first; when it declines, the one-package way
	// evaluates everything again, in a context of its own so that the
	// exported way's values can go, and reports what is wrong.
	fast := &builder{ctx: cuecontext.New(), files: b.files, only: b.only, exported: true}
	if in, err := fast.load(); err == nil {
		return in, nil
	}
	return b.load()
}

func (b *builder) load() (*Intents, error) {
	if b.only != "" && mentionsOverrides(b.files) {
		if b.exported {
			if view, err := b.onlyView(); err != errNoOverrides {
				return view, err
			}
		} else {
			user, errs := b.parse(false)
			if len(errs) > 0 {
				return nil, errs
			}
			if hasOverrides(user, b.only) {
				view, err := b.viewOf(b.only)
				if err != nil {
					return nil, err
				}
				return b.withOverrides(view, sources(user)), nil
			}
			return b.fleet(user)
		}
	}
	user, errs := b.parse(b.exported)
	if len(errs) > 0 {
		return nil, errs
	}
	return b.fleet(user)
}

// withOverrides completes the view of b.only, which has overrides: the
// cluster sees its view alone, and the shared intents need not be
// evaluated. A view names the files the fleet's intents do (sources), as
// in clusterViews: overrides change intents, they do not declare them.
func (b *builder) withOverrides(view *Intents, sources map[string]string) *Intents {
	c := view.Fleet.Clusters[b.only]
	c.HasOverrides = true
	view.Fleet.Clusters[b.only] = c
	view.Sources = sources
	return view
}

// errNoOverrides says that b.only has no overrides: its view is the
// fleet's.
var errNoOverrides = errors.New("the cluster has no overrides")

// onlyView is, the exported way, the view of b.only when it has
// overrides. Whether it has, and the files that declare the fleet's
// intents, take an evaluation of the files without the view: that runs
// on another core, in a context of its own, while this one evaluates the
// view, which is thrown away if the cluster has no overrides after all.
func (b *builder) onlyView() (*Intents, error) {
	type fleetSide struct {
		overrides bool
		sources   map[string]string
	}
	side := make(chan fleetSide, 1)
	go func() {
		fb := &builder{ctx: cuecontext.New(), files: b.files}
		user, errs := fb.parse(false)
		if len(errs) > 0 || !hasOverrides(user, b.only) {
			side <- fleetSide{}
			return
		}
		side <- fleetSide{overrides: true, sources: sources(user)}
	}()
	view, err := b.viewOf(b.only)
	fleet := <-side
	switch {
	case !fleet.overrides:
		return nil, errNoOverrides
	case err != nil:
		return nil, err
	}
	return b.withOverrides(view, fleet.sources), nil
}

// mentionsOverrides says whether any file could give cluster overrides.
func mentionsOverrides(files Files) bool {
	for _, src := range files {
		if bytes.Contains(src, []byte("overrides")) {
			return true
		}
	}
	return false
}

// fleet evaluates the fleet's intents and the views of the clusters with
// overrides.
func (b *builder) fleet(user cue.Value) (*Intents, error) {
	in, err := b.evaluate(user)
	if err != nil {
		return nil, err
	}
	if err := b.clusterViews(in); err != nil {
		return nil, err
	}
	return in, nil
}

// evaluate evaluates the builder's package, the fleet's intents or
// b.view's, validates and decodes it. The exported way, whose user value
// holds the defaults file already, returns errDeclined for anything it
// does not take. A view's sources are left to the caller.
func (b *builder) evaluate(user cue.Value) (*Intents, error) {
	b.user = user
	if err := user.Err(); err != nil {
		if b.exported {
			return nil, errDeclined
		}
		return nil, b.convert(err)
	}
	if b.exported {
		b.root = user
		return b.checkExported()
	}
	schema, err := b.schema()
	if err != nil {
		return nil, err
	}
	b.root = schema.Unify(user)
	in, errs := b.decode(b.root)
	if len(errs) > 0 {
		return nil, errs
	}
	if b.view == "" {
		in.Sources = sources(user)
	}
	return in, nil
}

// decode validates a value against the schema and the semantic checks,
// then decodes it.
func (b *builder) decode(v cue.Value) (*Intents, Errors) {
	if err := v.Validate(cue.Concrete(true)); err != nil {
		if errs := withoutPartialOverrides(b.convert(err)); len(errs) > 0 {
			return nil, errs
		}
	}
	var in Intents
	if err := decodeValue(v, &in); err != nil {
		return nil, b.convert(err)
	}
	errs, warnings := validate(&in, posIn(v)).split()
	if len(errs) > 0 {
		return nil, errs
	}
	in.Warnings = warnings
	return &in, nil
}

// withoutPartialOverrides drops the errors about values that overrides
// leave open, such as _ in routes: [_, {...}]: they are placeholders, and
// each cluster's view is validated in full.
func withoutPartialOverrides(errs Errors) Errors {
	out := errs[:0]
	for _, e := range errs {
		if overridePath.MatchString(e.Path) && strings.HasPrefix(e.Msg, "incomplete value") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// clusterWarnings are the warnings of a cluster's view that the shared
// intents do not have, which its overrides cause: named after the cluster.
func clusterWarnings(cluster string, shared, view Errors) Errors {
	seen := map[string]bool{}
	for _, w := range shared {
		seen[w.Error()] = true
	}
	var out Errors
	for _, w := range view {
		if !seen[w.Error()] {
			w.Msg = fmt.Sprintf("cluster %s: %s", cluster, w.Msg)
			out = append(out, w)
		}
	}
	return out
}

var overridePath = regexp.MustCompile(`^fleet\.clusters\.[^.]+\.overrides\b`)

// clusterViews evaluates, for every cluster with overrides, the intents
// unified with its overrides: plain CUE unification, so an override can
// fill in or narrow a value, or replace a default (*90 | int), but never
// contradict a concrete value of the base.
func (b *builder) clusterViews(in *Intents) error {
	var errs Errors
	for _, name := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
		if b.only != "" && name != b.only {
			continue
		}
		if !hasOverrides(b.user, name) {
			continue
		}
		c := in.Fleet.Clusters[name]
		c.HasOverrides = true
		in.Fleet.Clusters[name] = c
		view, err := b.viewOf(name)
		var verrs Errors
		if err != nil && !errors.As(err, &verrs) {
			return err
		}
		errs = append(errs, verrs...)
		if view != nil {
			in.Warnings = append(in.Warnings, clusterWarnings(name, in.Warnings, view.Warnings)...)
			view.Sources = in.Sources
			if in.clusters == nil {
				in.clusters = map[string]*Intents{}
			}
			in.clusters[name] = view
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return errs
	}
	return nil
}

// hasOverrides says whether the user's intents give cluster overrides.
// From the user's value, not the unified one: there the overrides are
// closed by the schema's #Cluster, and they must not be. It evaluates no
// more than the fleet.
func hasOverrides(user cue.Value, cluster string) bool {
	return user.LookupPath(cue.MakePath(cue.Str("fleet"), cue.Str("clusters"), cue.Str(cluster), cue.Str("overrides"))).Exists()
}

// viewOf evaluates the intents as cluster sees them, in one evaluation of
// the files with the cluster's overrides embedded (viewFile). Unifying
// the evaluated intents with the overrides instead evaluated everything
// again, and took half as long again as this (docs/benchmarks.md). Its
// errors name the cluster.
func (b *builder) viewOf(cluster string) (*Intents, error) {
	vb := &builder{ctx: b.ctx, files: b.files, intents: b.intents, view: cluster, exported: b.exported}
	view, err := func() (*Intents, error) {
		user, errs := vb.parse(vb.exported)
		if len(errs) > 0 {
			return nil, errs
		}
		return vb.evaluate(user)
	}()
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		return nil, err
	}
	for i := range errs {
		e := &errs[i]
		if e.Hint == "" && strings.HasPrefix(e.Msg, "conflicting values") {
			e.Hint = "an override can only replace a default: write the base value as *VALUE | TYPE (such as *90 | int)"
		}
		e.Msg = fmt.Sprintf("cluster %s: %s", cluster, e.Msg)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return view, nil
}

// viewFile is the file that makes the package the view of one cluster:
// it embeds the cluster's overrides at the top of the package.
func viewFile(pkg, cluster string) []byte {
	return fmt.Appendf(nil, "package %s\n\nfleet.clusters[%s].overrides\n", pkg, strconv.Quote(cluster))
}

// viewFileName names viewFile in positions; no file of a repository has
// such a name.
const viewFileName = "(the cluster's overrides)"

// parse builds all files as one CUE package. Every .cue file under the
// intent root belongs to it, whatever directory it is in, so a repository
// can be organised in folders without CUE imports.
func (b *builder) parse(withDefaults bool) (cue.Value, Errors) {
	names := make([]string, 0, len(b.files))
	for name := range b.files {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return cue.Value{}, Errors{{Msg: "no .cue files found", Hint: "point sailplan at the directory that holds your intent files"}}
	}
	var (
		errs         Errors
		pkg, pkgFile string
		parsed       []*ast.File
	)
	for _, name := range names {
		f, err := parser.ParseFile(name, b.files[name], parser.ParseComments)
		if err != nil {
			errs = append(errs, b.convert(err)...)
			continue
		}
		if p := f.PackageName(); p != pkg {
			if pkgFile == "" {
				pkg, pkgFile = p, name
			} else {
				errs = append(errs, Error{
					Pos:  positionOf(f.Pos(), name),
					Msg:  fmt.Sprintf("package %q differs from package %q in %s", p, pkg, pkgFile),
					Hint: "all intent files form one package; use the same package clause in every file",
				})
				continue
			}
		}
		for imp := range f.ImportSpecs() {
			if path := strings.Trim(imp.Path.Value, `"`); strings.Contains(strings.Split(path, "/")[0], ".") {
				errs = append(errs, Error{
					Pos:  positionOf(imp.Pos(), name),
					Msg:  fmt.Sprintf("import %q is not supported", path),
					Hint: "intents may import CUE's standard library only; put shared definitions in any .cue file of the repository instead",
				})
			}
		}
		parsed = append(parsed, f)
	}
	inst := build.NewContext().NewInstance("", nil)
	// The defaults come first: a value's position (Value.Pos) is its last
	// conjunct's, which is then the user's, as unified with the schema.
	if withDefaults {
		src, err := defaultsFile(pkg)
		if err != nil {
			return cue.Value{}, Errors{{Msg: err.Error()}}
		}
		errs = append(errs, b.addFile(inst, defaultsFileName, src)...)
	}
	for _, f := range parsed {
		if err := inst.AddSyntax(f); err != nil {
			errs = append(errs, b.convert(err)...)
		}
	}
	if b.view != "" && len(errs) == 0 {
		errs = append(errs, b.addFile(inst, viewFileName, viewFile(pkg, b.view))...)
	}
	if len(errs) > 0 {
		return cue.Value{}, errs
	}
	return b.ctx.BuildInstance(inst), nil
}

// addFile adds a file of sailplan's own making to the package.
func (b *builder) addFile(inst *build.Instance, name string, src []byte) Errors {
	f, err := parser.ParseFile(name, src)
	if err == nil {
		err = inst.AddSyntax(f)
	}
	if err != nil {
		return b.convert(err)
	}
	return nil
}

func positionOf(p token.Pos, file string) token.Position {
	pos := p.Position()
	if pos.Filename == "" {
		pos.Filename = file
	}
	return pos
}

// sources records which file declares each named intent, keyed by
// Kind.Intent (services/reviews, gateways/main, ...), from the user's
// value, never unified with the schema (the exported way's holds the
// defaults file, whose positions posIn skips): an intent's position
// there is where the user declared it, and takes little evaluation to
// tell. Raw objects are a list: each records its own.
func sources(user cue.Value) map[string]string {
	declared := posIn(user)
	out := map[string]string{}
	for _, k := range Kinds {
		if !k.Named {
			continue
		}
		names, err := user.LookupPath(cue.MakePath(cue.Str(k.Field))).Fields()
		if err != nil {
			continue // none of this kind
		}
		for names.Next() {
			name := names.Selector().Unquoted()
			if pos := declared(k.Field, name); pos.IsValid() {
				out[k.Intent(name)] = pos.Filename
			}
		}
	}
	return out
}

// parentPos finds the closest enclosing field of a CUE error path that the
// user wrote.
func (b *builder) parentPos(path []string) token.Position {
	if !b.root.Exists() {
		return token.Position{}
	}
	if len(path) > 0 && path[0] == "#Intents" {
		path = path[1:]
	}
	for n := len(path) - 1; n > 0; n-- {
		sels := make([]any, n)
		for i, p := range path[:n] {
			if u, err := strconv.Unquote(p); err == nil {
				p = u
			}
			if idx, err := strconv.Atoi(strings.Trim(p, "[]")); err == nil {
				sels[i] = idx
			} else {
				sels[i] = p
			}
		}
		if pos := b.pos(sels...); pos.IsValid() {
			return pos
		}
	}
	return token.Position{}
}

// pos finds where a field of the intents is declared in the user's files.
func (b *builder) pos(path ...any) token.Position { return posIn(b.root)(path...) }

// posIn finds where a field of v is declared in the user's files.
// Selectors are strings (field names) or ints (list indexes).
func posIn(root cue.Value) posFunc {
	return func(path ...any) token.Position {
		sels := make([]cue.Selector, 0, len(path))
		for _, p := range path {
			switch p := p.(type) {
			case string:
				sels = append(sels, cue.Str(p))
			case int:
				sels = append(sels, cue.Index(p))
			}
		}
		v := root.LookupPath(cue.MakePath(sels...))
		if !v.Exists() {
			return token.Position{}
		}
		// The value's own position first: finding the others is most of
		// the cost.
		if pp := v.Pos().Position(); pp.IsValid() && !inSchema(pp) {
			return pp
		}
		for _, p := range userPositions(v) {
			if pp := p.Position(); pp.IsValid() && !inSchema(pp) {
				return pp
			}
		}
		return token.Position{}
	}
}

// userPositions lists the positions of the conjuncts that make a value, so
// a field defined both by the schema and by the user is found in the user's
// file.
func userPositions(v cue.Value) []token.Pos {
	var out []token.Pos
	_, args := v.Expr()
	for _, a := range args {
		out = append(out, a.Pos())
	}
	if src := v.Source(); src != nil {
		out = append(out, src.Pos())
	}
	return out
}

// convert turns CUE's errors into Errors located in the user's files.
func (b *builder) convert(err error) Errors {
	var out Errors
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		ce := Error{
			Pos:  userPosition(e),
			Path: pathString(e.Path()),
			Msg:  explainPattern(fmt.Sprintf(format, args...)),
		}
		if !ce.Pos.IsValid() {
			// A required field that is missing has no position of its
			// own: point at the struct that lacks it.
			ce.Pos = b.parentPos(e.Path())
		}
		ce.Hint = b.hint(e, ce)
		key := ce.Error()
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, ce)
	}
	out = pruneDisjunctions(out)
	sortErrors(out)
	return out
}

// pruneDisjunctions turns CUE's report of a value that fits none of the
// alternatives of a disjunction (an enum such as "ROUND_ROBIN" | "RANDOM",
// or a field with a default such as wave: *1 | int & >=1) into one error:
// CUE gives a header counting the alternatives and one conflict per
// alternative.
func pruneDisjunctions(es Errors) Errors {
	disj := map[string]bool{}
	for _, e := range es {
		if strings.Contains(e.Msg, "errors in empty disjunction") {
			disj[e.Path] = true
		}
	}
	var out Errors
	conflicts := map[string][]Error{}
	var order []string
	for _, e := range es {
		switch {
		case !disj[e.Path]:
			out = append(out, e)
		case strings.Contains(e.Msg, "errors in empty disjunction"):
		case conflictRE.MatchString(e.Msg):
			if conflicts[e.Path] == nil {
				order = append(order, e.Path)
			}
			conflicts[e.Path] = append(conflicts[e.Path], e)
		default: // a bound or a type error: telling on its own
			out = append(out, e)
			delete(disj, e.Path)
		}
	}
	for _, path := range order {
		if !disj[path] {
			continue // a more telling error for this field is already there
		}
		out = append(out, mergeConflicts(conflicts[path]))
	}
	return out
}

var conflictRE = regexp.MustCompile(`^conflicting values (.+?) and (.+?)(?: \(mismatched types .*\))?$`)

// mergeConflicts makes one error from "conflicting values A and X", "...
// B and X", ...: X, the value found in every message, is the user's; the
// others are what the schema allows.
func mergeConflicts(es []Error) Error {
	count := map[string]int{}
	var seen []string
	for _, e := range es {
		m := conflictRE.FindStringSubmatch(e.Msg)
		for _, v := range m[1:3] {
			if count[v] == 0 {
				seen = append(seen, v)
			}
			count[v]++
		}
	}
	got := ""
	var allowed []string
	for _, v := range seen {
		if count[v] == len(es) && got == "" && len(es) > 1 {
			got = v
			continue
		}
		allowed = append(allowed, v)
	}
	if got == "" {
		return es[0]
	}
	sort.Strings(allowed)
	e := es[0]
	e.Msg = fmt.Sprintf("%s is not allowed here; want one of %s", got, strings.Join(allowed, ", "))
	var quoted []string
	for _, a := range allowed {
		quoted = append(quoted, strings.Trim(a, `"`))
	}
	if s := closest(strings.Trim(got, `"`), quoted); s != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", s)
	}
	return e
}

func userPosition(e cueerrors.Error) token.Position {
	candidates := append([]token.Pos{e.Position()}, e.InputPositions()...)
	for _, p := range candidates {
		if pp := p.Position(); pp.IsValid() && !inSchema(pp) {
			return pp
		}
	}
	return token.Position{}
}

// pathString prints a CUE error path the way a user writes it in a file.
func pathString(p []string) string {
	if len(p) > 0 && p[0] == "#Intents" {
		p = p[1:]
	}
	path := make([]any, len(p))
	for i, s := range p {
		if u, err := strconv.Unquote(s); err == nil {
			path[i] = u
		} else if n, err := strconv.Atoi(strings.Trim(s, "[]")); err == nil {
			path[i] = n
		} else {
			path[i] = s
		}
	}
	return pathOf(path)
}

func isIndex(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
