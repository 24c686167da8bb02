package render

import (
	"reflect"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Spec returns the spec of a rendered object as the protobuf message of
// Istio's API: the same Go type whichever version of its kind the object
// is (istio.io/api's versions alias one message), so that readers of
// rendered objects, such as render/compare, need one case per kind.
func Spec(obj Object) (proto.Message, bool) { return specMessage(obj) }

// specMessage returns the protobuf spec of a typed Istio object.
func specMessage(obj Object) (proto.Message, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("Spec")
	if !f.IsValid() || !f.CanAddr() {
		return nil, false
	}
	m, ok := f.Addr().Interface().(proto.Message)
	return m, ok
}

// fixInt64 turns 64-bit integers back into JSON numbers. Protobuf's JSON
// mapping writes them as strings ("1024"), which Istio's CRD schemas
// reject for integer fields such as ringHash.minimumRingSize.
func fixInt64(msg protoreflect.Message, m map[string]any) {
	fields := msg.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		v, ok := m[fd.JSONName()]
		if !ok {
			continue
		}
		switch {
		case fd.IsMap():
			mm, _ := v.(map[string]any)
			msg.Get(fd).Map().Range(func(k protoreflect.MapKey, pv protoreflect.Value) bool {
				if e, ok := mm[k.String()]; ok {
					mm[k.String()] = fixValue(fd.MapValue(), pv, e)
				}
				return true
			})
		case fd.IsList():
			list, _ := v.([]any)
			pl := msg.Get(fd).List()
			for j := range list {
				if j < pl.Len() {
					list[j] = fixValue(fd, pl.Get(j), list[j])
				}
			}
		default:
			m[fd.JSONName()] = fixValue(fd, msg.Get(fd), v)
		}
	}
}

func fixValue(fd protoreflect.FieldDescriptor, pv protoreflect.Value, v any) any {
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if s, ok := v.(string); ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if s, ok := v.(string); ok {
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				return int64(n)
			}
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if mm, ok := v.(map[string]any); ok && pv.IsValid() {
			fixInt64(pv.Message(), mm)
		}
	}
	return v
}
