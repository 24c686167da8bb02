package schema

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	gosync "sync"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// decodeValue is cue.Value.Decode for the intents' types, without its
// cost: CUE's Decode lists every struct's fields in their topological
// order (Value.Fields), which took a third of loading a repository of
// 1,000 services and which a Go struct has no use for. Struct fields are
// looked up by their JSON names instead, and only maps are listed. What it
// does not handle itself (interfaces, JSON and text unmarshalers) goes to
// CUE's Decode, so the result is the same (TestDecodeMatchesCUE).
func decodeValue(v cue.Value, x any) error {
	var d decoder
	d.decode(reflect.ValueOf(x).Elem(), v)
	return d.errs
}

// decodeText decodes the text twins of the types with durations
// (duration.go); a variable so that the test can compare with CUE's.
var decodeText = decodeValue

type decoder struct{ errs cueerrors.Error }

func (d *decoder) add(err error) {
	if err != nil {
		d.errs = cueerrors.Append(d.errs, cueerrors.Promote(err, ""))
	}
}

var (
	cueUnmarshalerType  = reflect.TypeFor[cue.Unmarshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) decode(x reflect.Value, v cue.Value) {
	v, _ = v.Default()
	if !v.Exists() {
		x.SetZero()
		return
	}
	if err := v.Err(); err != nil {
		d.add(err)
		return
	}
	if x.Kind() == reflect.Pointer {
		if v.IsNull() || !v.IsConcrete() {
			x.SetZero()
			return
		}
		if x.IsNil() {
			x.Set(reflect.New(x.Type().Elem()))
		}
		d.decode(x.Elem(), v)
		return
	}
	pt := reflect.PointerTo(x.Type())
	switch {
	case pt.Implements(cueUnmarshalerType):
		d.add(x.Addr().Interface().(cue.Unmarshaler).UnmarshalCUE(v))
		return
	case x.Kind() == reflect.Interface, pt.Implements(jsonUnmarshalerType), pt.Implements(textUnmarshalerType):
		d.add(v.Decode(x.Addr().Interface()))
		return
	}
	switch x.Kind() {
	case reflect.Map, reflect.Slice:
		if v.IsNull() || !v.IsConcrete() {
			x.SetZero()
			return
		}
	}
	switch x.Kind() {
	case reflect.Struct:
		for _, f := range fieldsOf(x.Type()) {
			if fv := v.LookupPath(cue.MakePath(cue.Str(f.name))); fv.Exists() {
				d.decode(x.Field(f.index), fv)
			}
		}
	case reflect.Map:
		if x.IsNil() {
			x.Set(reflect.MakeMap(x.Type()))
		}
		iter, err := v.Fields()
		d.add(err)
		for iter != nil && iter.Next() {
			elem := reflect.New(x.Type().Elem()).Elem()
			d.decode(elem, iter.Value())
			x.SetMapIndex(reflect.ValueOf(iter.Selector().Unquoted()).Convert(x.Type().Key()), elem)
		}
	case reflect.Slice:
		n, err := v.Len().Int64()
		d.add(err)
		x.Set(reflect.MakeSlice(x.Type(), int(n), int(n)))
		list, err := v.List()
		d.add(err)
		for i := 0; list.Next(); i++ {
			if i < int(n) {
				d.decode(x.Index(i), list.Value())
			}
		}
	default:
		if scalar(x, v) {
			return
		}
		// Anything CUE converts that the intents do not use, and every
		// value of the wrong kind, which CUE's error then describes.
		d.add(v.Decode(x.Addr().Interface()))
	}
}

// scalar sets x, a string, bool or number, from v when v holds one of
// its kind, in one call to CUE rather than Decode's several.
func scalar(x reflect.Value, v cue.Value) bool {
	switch x.Kind() {
	case reflect.String:
		s, err := v.String()
		if err == nil {
			x.SetString(s)
		}
		return err == nil
	case reflect.Bool:
		b, err := v.Bool()
		if err == nil {
			x.SetBool(b)
		}
		return err == nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := v.Int64()
		if err != nil || x.OverflowInt(n) {
			return false
		}
		x.SetInt(n)
		return true
	case reflect.Float32, reflect.Float64:
		f, err := v.Float64()
		if err != nil || x.OverflowFloat(f) {
			return false
		}
		x.SetFloat(f)
		return true
	}
	return false
}

type goField struct {
	name  string
	index int
}

var fieldCache gosync.Map // reflect.Type -> []goField

// fieldsOf lists a struct's decoded fields by their JSON names, as CUE's
// Decode matches them (the intents' types name every field in a tag).
func fieldsOf(t reflect.Type) []goField {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]goField)
	}
	var fs []goField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fs = append(fs, goField{name: name, index: i})
	}
	fieldCache.Store(t, fs)
	return fs
}
