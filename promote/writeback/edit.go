package writeback

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/sailplan/sailplan/schema"
)

// UnsafeError is an intent that write-back does not edit, with why: a
// person reads it and makes the candidate stable by hand.
type UnsafeError struct{ Reason string }

func (e *UnsafeError) Error() string { return e.Reason }

func unsafe(format string, args ...any) error {
	return &UnsafeError{Reason: fmt.Sprintf(format, args...)}
}

// Edit makes candidate the stable version of service's canary and leaves
// the candidate out, in the one file that declares them, and returns that
// file's path and new content. The canary then rests, its plan kept for
// the next candidate.
//
// The file is parsed with CUE's parser and edited at the positions it
// reports: the stable version's string and the candidate's field (with its
// own comments) are the only bytes that change, so every other comment and
// the file's formatting stay as they were, whether or not it is in cue fmt's
// format. What it cannot see through it does not edit, and says why with
// an *UnsafeError: stable and candidate must be plain strings declared
// once, in one struct literal reached from services by plain fields, with
// no comprehension, embedded value, pattern ([string]: ...) or computed
// field on the way that could declare them too. Other fields of the plan
// may come from anywhere. The caller still loads and renders the result
// (see check): a declaration Edit cannot see (a cluster's overrides) shows
// there.
func Edit(files schema.Files, service, stable, candidate string) (string, []byte, error) {
	path := []string{"services", service, "canary"}
	f := &finder{path: path}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		file, err := parser.ParseFile(name, files[name], parser.ParseComments)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		f.walk(file.Decls, 0)
	}
	site, err := f.site(stable)
	if err != nil {
		return "", nil, err
	}
	src := files[site.file]
	out, err := splice(src, site, candidate)
	if err != nil {
		return "", nil, err
	}
	// The edit must read back as intended: the same one declaration, now
	// naming the candidate stable, and no candidate.
	file, err := parser.ParseFile(site.file, out, parser.ParseComments)
	if err != nil {
		return "", nil, fmt.Errorf("%s: the edit does not parse: %w", site.file, err)
	}
	back := &finder{path: path}
	back.walk(file.Decls, 0)
	if len(back.sites) != 1 || back.sites[0].candidate != nil || back.sites[0].stable == nil || stringValue(back.sites[0].stable) != candidate {
		return "", nil, unsafe("%s: the edit of %s does not read back as %s stable without a candidate", site.file, strings.Join(path, "."), candidate)
	}
	return site.file, out, nil
}

// site is a struct literal that declares the canary, or part of it.
type site struct {
	file              string
	lit               *ast.StructLit
	stable, candidate *ast.Field
}

// finder collects the declarations of path (services.NAME.canary) in
// files, and what could declare it without being one.
type finder struct {
	path  []string
	sites []*site
	// blocked says, per place, what could declare the canary unseen.
	blocked []string
}

func (f *finder) at(n ast.Node) string {
	p := n.Pos().Position()
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// walk looks for path[depth] among decls, the elements of a struct that
// path[:depth] leads to.
func (f *finder) walk(decls []ast.Decl, depth int) {
	under := strings.Join(f.path[:depth], ".")
	if under == "" {
		under = "the top level"
	}
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			name, _, err := ast.LabelName(d.Label)
			if err != nil {
				f.blocked = append(f.blocked, fmt.Sprintf("a pattern or computed field in %s (%s)", under, f.at(d)))
				continue
			}
			if name != f.path[depth] {
				continue
			}
			lit, ok := d.Value.(*ast.StructLit)
			if !ok {
				f.blocked = append(f.blocked, fmt.Sprintf("%s is not written as a struct {...} (%s)", strings.Join(f.path[:depth+1], "."), f.at(d.Value)))
				continue
			}
			if depth+1 < len(f.path) {
				f.walk(lit.Elts, depth+1)
				continue
			}
			f.canary(d, lit)
		case *ast.Comprehension:
			f.blocked = append(f.blocked, fmt.Sprintf("a comprehension in %s (%s)", under, f.at(d)))
		case *ast.EmbedDecl:
			f.blocked = append(f.blocked, fmt.Sprintf("an embedded value in %s (%s)", under, f.at(d)))
		}
	}
}

// canary notes a struct literal of the canary and its stable and
// candidate fields.
func (f *finder) canary(field *ast.Field, lit *ast.StructLit) {
	s := &site{file: field.Pos().Filename(), lit: lit}
	f.sites = append(f.sites, s)
	name := strings.Join(f.path, ".")
	for _, d := range lit.Elts {
		switch d := d.(type) {
		case *ast.Field:
			label, _, err := ast.LabelName(d.Label)
			switch {
			case err != nil:
				f.blocked = append(f.blocked, fmt.Sprintf("a pattern or computed field in %s (%s)", name, f.at(d)))
			case label == "stable" && s.stable == nil:
				s.stable = d
			case label == "candidate" && s.candidate == nil:
				s.candidate = d
			case label == "stable" || label == "candidate":
				f.blocked = append(f.blocked, fmt.Sprintf("%s.%s declared twice in one struct (%s)", name, label, f.at(d)))
			}
		case *ast.Comprehension:
			f.blocked = append(f.blocked, fmt.Sprintf("a comprehension in %s (%s)", name, f.at(d)))
		case *ast.EmbedDecl:
			f.blocked = append(f.blocked, fmt.Sprintf("an embedded value in %s (%s)", name, f.at(d)))
		}
	}
}

// site returns the one struct literal that declares both stable and
// candidate, as plain strings, stable the one Git names, or says why
// there is none to edit.
func (f *finder) site(stable string) (*site, error) {
	name := strings.Join(f.path, ".")
	if len(f.blocked) > 0 {
		return nil, unsafe("%s: %s could declare it too, and sailplan does not edit what it cannot see", name, f.blocked[0])
	}
	var stables, candidates []*site
	for _, s := range f.sites {
		if s.stable != nil {
			stables = append(stables, s)
		}
		if s.candidate != nil {
			candidates = append(candidates, s)
		}
	}
	switch {
	case len(stables) == 0 || len(candidates) == 0:
		return nil, unsafe("%s: stable and candidate are not both fields of a struct {...} in the files (a reference or a template declares them)", name)
	case len(stables) > 1:
		return nil, unsafe("%s.stable: declared in several places (%s, %s)", name, f.at(stables[0].stable), f.at(stables[1].stable))
	case len(candidates) > 1:
		return nil, unsafe("%s.candidate: declared in several places (%s, %s)", name, f.at(candidates[0].candidate), f.at(candidates[1].candidate))
	case stables[0] != candidates[0]:
		return nil, unsafe("%s: stable (%s) and candidate (%s) are declared apart", name, f.at(stables[0].stable), f.at(candidates[0].candidate))
	}
	s := stables[0]
	for _, fd := range []*ast.Field{s.stable, s.candidate} {
		if _, ok := fd.Value.(*ast.BasicLit); !ok || stringValue(fd) == "" || fd.Constraint != token.ILLEGAL || fd.Alias != nil {
			return nil, unsafe("%s: %s is not a plain string field (%s)", name, fd.Label, f.at(fd))
		}
	}
	if got := stringValue(s.stable); got != stable {
		return nil, unsafe("%s.stable: %s names %q, not %q (%s)", name, s.file, got, stable, f.at(s.stable))
	}
	return s, nil
}

// stringValue is a field's value when it is a plain string literal; ""
// otherwise.
func stringValue(fd *ast.Field) string {
	lit, ok := fd.Value.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := literal.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// cut is bytes [from, to) of a file replaced by with.
type cut struct {
	from, to int
	with     string
}

// splice replaces the stable version's string with candidate's and cuts
// the candidate's field out of src.
func splice(src []byte, s *site, candidate string) ([]byte, error) {
	value := s.stable.Value
	cuts := []cut{{value.Pos().Offset(), value.End().Offset(), literal.String.Quote(candidate)}}
	c, err := fieldCut(src, s.lit, s.candidate)
	if err != nil {
		return nil, err
	}
	cuts = append(cuts, c)
	// From the end, so that each cut's offsets still hold.
	slices.SortFunc(cuts, func(a, b cut) int { return b.from - a.from })
	out := bytes.Clone(src)
	for _, c := range cuts {
		out = slices.Concat(out[:c.from], []byte(c.with), out[c.to:])
	}
	return out, nil
}

// fieldCut is the cut that takes field out of the struct literal lit:
// its whole lines, with the comments above it and beside it, when it has
// its lines to itself; else the field and what separates it from its
// neighbour on the line.
func fieldCut(src []byte, lit *ast.StructLit, field *ast.Field) (cut, error) {
	from, to := field.Pos().Offset(), field.End().Offset()
	lineStart := bytes.LastIndexByte(src[:from], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[to:], '\n'); i >= 0 {
		lineEnd = to + i
	}
	tail := bytes.TrimLeft(src[to:lineEnd], " \t")
	tail = bytes.TrimLeft(bytes.TrimPrefix(tail, []byte(",")), " \t")
	alone := len(bytes.TrimSpace(src[lineStart:from])) == 0 && (len(tail) == 0 || bytes.HasPrefix(tail, []byte("//")))
	if alone {
		start := lineStart
		// Comments on the lines right above it are about it.
		for _, cg := range slices.Backward(ast.Comments(field)) {
			if !cg.Doc || cg.Position != 0 {
				continue
			}
			end := cg.End().Offset()
			cgStart := bytes.LastIndexByte(src[:cg.Pos().Offset()], '\n') + 1
			if len(bytes.TrimSpace(src[cgStart:cg.Pos().Offset()])) == 0 && len(bytes.TrimSpace(src[end:start])) == 0 && bytes.Count(src[end:start], []byte("\n")) == 1 {
				start = cgStart
			}
		}
		end := min(lineEnd+1, len(src))
		return cut{from: start, to: end}, nil
	}
	i := slices.IndexFunc(lit.Elts, func(d ast.Decl) bool { return d == field })
	var next, prev ast.Decl
	for _, d := range lit.Elts[i+1:] {
		if _, ok := d.(*ast.CommentGroup); !ok {
			next = d
			break
		}
	}
	for _, d := range slices.Backward(lit.Elts[:i]) {
		if _, ok := d.(*ast.CommentGroup); !ok {
			prev = d
			break
		}
	}
	switch {
	case next != nil && next.Pos().Offset() <= lineEnd:
		// "candidate: "v2", steps: [...]": up to its neighbour.
		return cut{from: from, to: next.Pos().Offset()}, nil
	case prev != nil && prev.End().Offset() >= lineStart:
		// "stable: "v1", candidate: "v2"": from its neighbour.
		return cut{from: prev.End().Offset(), to: to}, nil
	}
	return cut{}, unsafe("%s: candidate shares its line with something that is not a field", field.Pos().Position())
}
