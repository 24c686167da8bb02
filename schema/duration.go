package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"cuelang.org/go/cue"
)

// Durations are time.Duration in the Go types, and text such as "1m30s"
// in CUE and in JSON. The structs that hold one convert in UnmarshalCUE
// (which CUE's Decode calls), UnmarshalJSON and MarshalJSON, all through
// the one codec below. Not a named type over time.Duration, which would
// need no reflection: every reader, in render and promote, would convert
// it back with time.Duration(x) before using it. What this costs instead
// is one reflective copy per decoded struct, and the list of methods at
// the end of this file.
//
// Optional durations are pointers: an explicit "0s" (no timeout for this
// route, say) differs from leaving the field out, which takes a default.

// durationCodec converts between a struct type and its text twin: the
// same fields with the same tags, where time.Duration is string and
// *time.Duration is *string.
type durationCodec struct {
	text      reflect.Type
	durations []bool // by field index
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	codecs       sync.Map // reflect.Type -> *durationCodec
)

func codecOf(t reflect.Type) *durationCodec {
	if c, ok := codecs.Load(t); ok {
		return c.(*durationCodec)
	}
	c := &durationCodec{durations: make([]bool, t.NumField())}
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		switch f.Type {
		case durationType:
			f.Type, c.durations[i] = reflect.TypeFor[string](), true
		case reflect.PointerTo(durationType):
			f.Type, c.durations[i] = reflect.TypeFor[*string](), true
		}
		fields[i] = reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
	}
	c.text = reflect.StructOf(fields)
	actual, _ := codecs.LoadOrStore(t, c)
	return actual.(*durationCodec)
}

// decodeDurations decodes a CUE value into v, a pointer to a struct,
// reading its durations from text. A duration the schema's pattern lets
// through can still be too long for time.Duration: that error is located
// at the field, like CUE's own.
func decodeDurations(value cue.Value, v any) error {
	return fromText(v, func(text any) error { return decodeText(value, text) }, func(name, s string, err error) error {
		return &valueError{v: value.LookupPath(cue.MakePath(cue.Str(name))),
			msg: fmt.Sprintf("duration %q is out of range: durations go up to 2562047h (about 292 years)", s)}
	})
}

// unmarshalDurations decodes JSON into v, a pointer to a struct, reading
// its durations from text.
func unmarshalDurations(b []byte, v any) error {
	return fromText(v, func(text any) error { return json.Unmarshal(b, text) }, func(name, s string, err error) error {
		return fmt.Errorf("%s: %w", name, err)
	})
}

// fromText decodes into the text twin of *v with decode, then sets v's
// fields from it, parsing the durations.
func fromText(v any, decode func(text any) error, bad func(name, s string, err error) error) error {
	dst := reflect.ValueOf(v).Elem()
	c := codecOf(dst.Type())
	text := reflect.New(c.text)
	if err := decode(text.Interface()); err != nil {
		return err
	}
	for i, isDuration := range c.durations {
		src, field := text.Elem().Field(i), dst.Field(i)
		if !isDuration {
			field.Set(src)
			continue
		}
		if src.Kind() == reflect.Pointer {
			if src.IsNil() {
				field.SetZero()
				continue
			}
			field.Set(reflect.New(durationType))
			field, src = field.Elem(), src.Elem()
		}
		d, err := time.ParseDuration(src.String())
		if err != nil {
			return bad(jsonName(dst.Type().Field(i)), src.String(), err)
		}
		field.SetInt(int64(d))
	}
	return nil
}

// marshalDurations encodes v, a struct, writing its durations as text.
func marshalDurations(v any) ([]byte, error) {
	src := reflect.ValueOf(v)
	c := codecOf(src.Type())
	text := reflect.New(c.text).Elem()
	for i, isDuration := range c.durations {
		field, dst := src.Field(i), text.Field(i)
		if !isDuration {
			dst.Set(field)
			continue
		}
		if field.Kind() == reflect.Pointer {
			if field.IsNil() {
				continue
			}
			dst.Set(reflect.New(dst.Type().Elem()))
			field, dst = field.Elem(), dst.Elem()
		}
		dst.SetString(formatDuration(time.Duration(field.Int())))
	}
	return json.Marshal(text.Interface())
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// formatDuration writes a duration the way people write them in intents:
// "30m", "1h30m", "62h", "1.5s", "100ms", leaving out the zero minutes
// and seconds that time.Duration.String adds ("30m0s"). Messages quote
// durations in this form, and plan digests depend on it: a canary plan
// encodes as it did when durations were kept as written.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// The types that hold durations. A new duration field in any other type
// needs that type listed here too; TestEveryDurationIsText finds one that
// is not.

func (s *Service) UnmarshalCUE(v cue.Value) error    { return decodeDurations(v, s) }
func (s *Service) UnmarshalJSON(b []byte) error      { return unmarshalDurations(b, s) }
func (s Service) MarshalJSON() ([]byte, error)       { return marshalDurations(s) }
func (r *Route) UnmarshalCUE(v cue.Value) error      { return decodeDurations(v, r) }
func (r *Route) UnmarshalJSON(b []byte) error        { return unmarshalDurations(b, r) }
func (r Route) MarshalJSON() ([]byte, error)         { return marshalDurations(r) }
func (r *Retries) UnmarshalCUE(v cue.Value) error    { return decodeDurations(v, r) }
func (r *Retries) UnmarshalJSON(b []byte) error      { return unmarshalDurations(b, r) }
func (r Retries) MarshalJSON() ([]byte, error)       { return marshalDurations(r) }
func (f *FaultDelay) UnmarshalCUE(v cue.Value) error { return decodeDurations(v, f) }
func (f *FaultDelay) UnmarshalJSON(b []byte) error   { return unmarshalDurations(b, f) }
func (f FaultDelay) MarshalJSON() ([]byte, error)    { return marshalDurations(f) }
func (c *CORS) UnmarshalCUE(v cue.Value) error       { return decodeDurations(v, c) }
func (c *CORS) UnmarshalJSON(b []byte) error         { return unmarshalDurations(b, c) }
func (c CORS) MarshalJSON() ([]byte, error)          { return marshalDurations(c) }
func (c *Canary) UnmarshalCUE(v cue.Value) error     { return decodeDurations(v, c) }
func (c *Canary) UnmarshalJSON(b []byte) error       { return unmarshalDurations(b, c) }
func (c Canary) MarshalJSON() ([]byte, error)        { return marshalDurations(c) }
func (b *Blackout) UnmarshalCUE(v cue.Value) error   { return decodeDurations(v, b) }
func (b *Blackout) UnmarshalJSON(j []byte) error     { return unmarshalDurations(j, b) }
func (b Blackout) MarshalJSON() ([]byte, error)      { return marshalDurations(b) }
func (a *Analysis) UnmarshalCUE(v cue.Value) error   { return decodeDurations(v, a) }
func (a *Analysis) UnmarshalJSON(b []byte) error     { return unmarshalDurations(b, a) }
func (a Analysis) MarshalJSON() ([]byte, error)      { return marshalDurations(a) }
