package schema

import (
	"embed"
	"fmt"
	"sort"
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
// context so a long-running daemon does not accumulate CUE state.
//
// On failure the error is Errors, listing every problem found.
func Load(files Files) (*Intents, error) {
	b := &builder{ctx: cuecontext.New(), files: files}
	return b.build()
}

type builder struct {
	ctx     *cue.Context
	files   Files
	intents cue.Value // #Intents, once compiled
	root    cue.Value // the user's intents unified with #Intents
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
	user, errs := b.parse()
	if len(errs) > 0 {
		return nil, errs
	}
	schema, err := b.schema()
	if err != nil {
		return nil, err
	}
	if err := user.Err(); err != nil {
		return nil, b.convert(err)
	}
	b.root = schema.Unify(user)
	if err := b.root.Validate(cue.Concrete(true)); err != nil {
		return nil, b.convert(err)
	}
	var in Intents
	if err := b.root.Decode(&in); err != nil {
		return nil, b.convert(err)
	}
	in.Sources = b.sources()
	if errs := validate(&in, b.pos); len(errs) > 0 {
		return nil, errs
	}
	return &in, nil
}

// parse builds all files as one CUE package. Every .cue file under the
// intent root belongs to it, whatever directory it is in, so a repository
// can be organised in folders without CUE imports.
func (b *builder) parse() (cue.Value, Errors) {
	names := make([]string, 0, len(b.files))
	for name := range b.files {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return cue.Value{}, Errors{{Msg: "no .cue files found", Hint: "point sailplan at the directory that holds your intent files"}}
	}
	inst := build.NewContext().NewInstance("", nil)
	var errs Errors
	var pkg, pkgFile string
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
		if err := inst.AddSyntax(f); err != nil {
			errs = append(errs, b.convert(err)...)
		}
	}
	if len(errs) > 0 {
		return cue.Value{}, errs
	}
	return b.ctx.BuildInstance(inst), nil
}

func positionOf(p token.Pos, file string) token.Position {
	pos := p.Position()
	if pos.Filename == "" {
		pos.Filename = file
	}
	return pos
}

// sources records which file declares each intent, keyed "KIND/NAME"
// (services/reviews, gateways/main, ...), for every named intent under
// the top level except the fleet.
func (b *builder) sources() map[string]string {
	out := map[string]string{}
	kinds, err := b.root.Fields()
	if err != nil {
		return out
	}
	for kinds.Next() {
		kind := kinds.Selector().Unquoted()
		if kind == "fleet" {
			continue
		}
		names, err := kinds.Value().Fields()
		if err != nil {
			continue // a list, such as raw objects: they carry no name here
		}
		for names.Next() {
			name := names.Selector().Unquoted()
			if pos := b.pos(kind, name); pos.IsValid() {
				out[kind+"/"+name] = pos.Filename
			}
		}
	}
	return out
}

// pos finds where a field is declared in the user's files. Selectors are
// strings (field names) or ints (list indexes).
func (b *builder) pos(path ...any) token.Position {
	sels := make([]cue.Selector, 0, len(path))
	for _, p := range path {
		switch p := p.(type) {
		case string:
			sels = append(sels, cue.Str(p))
		case int:
			sels = append(sels, cue.Index(p))
		}
	}
	v := b.root.LookupPath(cue.MakePath(sels...))
	if !v.Exists() {
		return token.Position{}
	}
	for _, p := range append([]token.Pos{v.Pos()}, userPositions(v)...) {
		if pp := p.Position(); pp.IsValid() && !inSchema(pp) {
			return pp
		}
	}
	return token.Position{}
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
			Msg:  fmt.Sprintf(format, args...),
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

// pruneDisjunctions drops the noise CUE reports for a field with a default
// (such as wave: *1 | int & >=1): a header counting the failed alternatives,
// and the conflict with the default when a more telling error exists.
func pruneDisjunctions(es Errors) Errors {
	disj := map[string]bool{}
	specific := map[string]bool{}
	for _, e := range es {
		switch {
		case strings.Contains(e.Msg, "errors in empty disjunction"):
			disj[e.Path] = true
		case !strings.HasPrefix(e.Msg, "conflicting values"):
			specific[e.Path] = true
		}
	}
	out := es[:0]
	for _, e := range es {
		if disj[e.Path] && (strings.Contains(e.Msg, "errors in empty disjunction") ||
			(specific[e.Path] && strings.HasPrefix(e.Msg, "conflicting values"))) {
			continue
		}
		out = append(out, e)
	}
	return out
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
	var b strings.Builder
	for _, s := range p {
		if strings.HasPrefix(s, "[") || (len(s) > 0 && s[0] >= '0' && s[0] <= '9' && isIndex(s)) {
			b.WriteString("[" + strings.Trim(s, "[]") + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if ast.IsValidIdent(s) {
			b.WriteString(s)
		} else {
			b.WriteString(fmt.Sprintf("%q", s))
		}
	}
	return b.String()
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
