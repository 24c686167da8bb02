package schema

import (
	"math"
	"reflect"
)

// WholeNumbers turns the float64s that hold whole numbers back into
// int64 wherever the intents hold values of no fixed type (policies,
// retryOn, allowOrigins, raw specs): CUE decodes an integer there as
// int64, JSON as float64. Intents decoded from JSON (the evaluation
// child's answer, the exported way of loading) call it. A float written
// with a whole value (1.0) becomes int64 too, which encodes and renders
// the same.
func (in *Intents) WholeNumbers() { wholeNumbers(reflect.ValueOf(in)) }

func wholeNumbers(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			wholeNumbers(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				wholeNumbers(f)
			}
		}
	case reflect.Slice:
		if plain(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			wholeNumbers(v.Index(i))
		}
	case reflect.Map:
		if plain(v.Type().Elem()) {
			return
		}
		for it := v.MapRange(); it.Next(); {
			// Map values cannot be set in place: walk a copy, put it back.
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			wholeNumbers(e)
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if f, ok := v.Elem().Interface().(float64); ok {
			if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
				v.Set(reflect.ValueOf(int64(f)))
			}
			return
		}
		e := reflect.New(v.Elem().Type()).Elem()
		e.Set(v.Elem())
		wholeNumbers(e)
		v.Set(e)
	}
}

// plain reports a type that holds no value of its own choosing: bools,
// numbers, strings (and bytes, such as a raw object's spec).
func plain(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Bool && k <= reflect.Complex128 || k == reflect.String
}
