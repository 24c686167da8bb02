package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	gosync "sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

// The defaults file is the part of the schema that can change what a
// repository evaluates to: the schema's defaults (namespace: *"default",
// wave: *1, ...) and the structs that exist whenever their parent does
// (a canary's analysis). Everything else in the schema only accepts or
// rejects. Evaluated with the defaults file instead of the schema, a
// repository sees every value it would see unified with the schema (a
// comprehension over a canary's analysis lists the defaulted fields, a
// default of its own meets the schema's the same way), at a fraction of
// the cost; the schema then only has to check the result
// (loadExported).
//
// It is derived from the schema itself, so the two cannot drift apart.

// defaultsFileName names the defaults file in positions: under schemaDir,
// so that positions in it are never taken for the user's.
const defaultsFileName = schemaDir + "defaults.cue"

// defaultsFile is the defaults file for a package named pkg.
func defaultsFile(pkg string) ([]byte, error) {
	body, err := defaultsBody()
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "package %s\n\n%s", pkg, body), nil
}

var defaultsBody = gosync.OnceValues(func() (string, error) {
	b := &builder{ctx: cuecontext.New()}
	intents, err := b.schema()
	if err != nil {
		return "", err
	}
	var out strings.Builder
	if err := writeDefaults(&out, b.ctx, intents, ""); err != nil {
		return "", fmt.Errorf("sailplan schema: the defaults file: %w", err)
	}
	return out.String(), nil
})

// writeDefaults writes the fields of struct v that hold a default or a
// struct that does, one per line, indented by indent.
func writeDefaults(out *strings.Builder, ctx *cue.Context, v cue.Value, indent string) error {
	fields, err := v.Fields(cue.Optional(true))
	if err != nil {
		return err
	}
	for fields.Next() {
		sel := fields.Selector()
		label := strconv.Quote(sel.Unquoted())
		regular := sel.ConstraintType() == 0
		if !regular {
			label += "?"
		}
		body, err := defaultsOf(ctx, fields.Value(), indent)
		if err != nil {
			return fmt.Errorf("%s: %w", sel.Unquoted(), err)
		}
		if body == "" && regular {
			// A regular struct or list exists with its parent.
			switch kindOf(ctx, fields.Value()) {
			case cue.StructKind:
				body = "{}"
			case cue.ListKind:
				body = "[...]"
			}
		}
		if body != "" {
			fmt.Fprintf(out, "%s%s: %s\n", indent, label, body)
		}
	}
	// A pattern constraint ([Name=#DNSLabel]: #Service) is found by what
	// it makes of a new field.
	if probe := v.FillPath(cue.MakePath(cue.Str("probe")), ctx.CompileString("_")).LookupPath(cue.MakePath(cue.Str("probe"))); probe.Err() == nil && probe.Exists() {
		body, err := defaultsOf(ctx, probe, indent)
		if err != nil {
			return fmt.Errorf("[string]: %w", err)
		}
		if body != "" {
			fmt.Fprintf(out, "%s[string]: %s\n", indent, body)
		}
	}
	return nil
}

// defaultsOf returns what the defaults file says of a field's value v:
// its default (*VALUE | KIND), a struct or list of what its fields or
// elements hold, or "" for nothing.
func defaultsOf(ctx *cue.Context, v cue.Value, indent string) (string, error) {
	kind := kindOf(ctx, v)
	if kind == cue.ListKind {
		// An open list's default is [], which the data gives or the
		// file's own [...] does (writeDefaults).
		elem := v.Unify(ctx.CompileString("[_]")).LookupPath(cue.MakePath(cue.Index(0)))
		body, err := defaultsOf(ctx, elem, indent)
		if err != nil || body == "" || body == "{}" {
			return "", err
		}
		return "[..." + body + "]", nil
	}
	d, hasDefault := v.Default()
	if hasDefault && d.IsConcrete() && d.IncompleteKind()&(cue.StructKind|cue.ListKind) == 0 {
		js, err := d.MarshalJSON()
		if err != nil {
			return "", err
		}
		// The default with its kind, not its constraints: CUE that
		// reads the field, or meets it with a struct, sees what it would
		// with the schema; the constraints are the check's.
		return "*" + string(js) + " | " + v.IncompleteKind().String(), nil
	}
	if op, args := v.Eval().Expr(); op == cue.OrOp {
		// A choice of shapes ({exact!: string} | {prefix!: string}) holds
		// nothing the data does not give.
		for _, a := range args {
			if body, err := defaultsOf(ctx, a, indent); err != nil || (body != "" && body != "{}") {
				return "", errors.New("a default inside a disjunction, which the defaults file cannot hold")
			}
		}
		return "", nil
	}
	if hasDefault {
		return "", fmt.Errorf("the default %v is not a concrete scalar, which the defaults file cannot hold", d)
	}
	if kind == cue.StructKind {
		var inner strings.Builder
		if err := writeDefaults(&inner, ctx, v, indent+"\t"); err != nil {
			return "", err
		}
		if inner.Len() == 0 {
			return "", nil
		}
		return "{\n" + inner.String() + indent + "}", nil
	}
	return "", nil
}

// kindOf is v's kind. A list or struct with a validator
// (list.MinItems(1) & [...#Route]) has none until it holds something: it
// is found by what it makes of an element.
func kindOf(ctx *cue.Context, v cue.Value) cue.Kind {
	if k := v.IncompleteKind(); k != cue.BottomKind {
		return k
	}
	for _, probe := range []string{"[_]", "{probe: _}"} {
		if p := v.Unify(ctx.CompileString(probe)); p.Err() == nil {
			return p.IncompleteKind()
		}
	}
	return cue.BottomKind
}
