package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxFieldChanges is how many field changes a note lists before it says
// how many more: a note is a line to read, the diff holds the rest.
const maxFieldChanges = 6

// fieldChanges lists the fields that differ between two messages of the
// same type, each as "path: `old` → `new`", path in the YAML's (JSON)
// names, leaves only: a field set on one side only is shown whole.
func fieldChanges(a, b proto.Message) []string {
	var out []string
	walkChanges(a.ProtoReflect(), b.ProtoReflect(), "", &out)
	return out
}

// joinChanges writes field changes as one note's text, at most
// maxFieldChanges of them.
func joinChanges(cs []string) string {
	if len(cs) > maxFieldChanges {
		return strings.Join(cs[:maxFieldChanges], "; ") + fmt.Sprintf("; and %d more (see the diff)", len(cs)-maxFieldChanges)
	}
	return strings.Join(cs, "; ")
}

func walkChanges(a, b protoreflect.Message, prefix string, out *[]string) {
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !a.Has(fd) && !b.Has(fd) {
			continue
		}
		p := join(prefix, fd.JSONName())
		switch {
		case fd.IsList():
			listChanges(fd, a.Get(fd).List(), b.Get(fd).List(), p, out)
		case fd.IsMap():
			mapChanges(fd, a.Get(fd).Map(), b.Get(fd).Map(), p, out)
		case fd.Message() != nil && !leafMessage(fd.Message()) && a.Has(fd) && b.Has(fd):
			walkChanges(a.Get(fd).Message(), b.Get(fd).Message(), p, out)
		default:
			if !a.Get(fd).Equal(b.Get(fd)) || a.Has(fd) != b.Has(fd) {
				*out = append(*out, fmt.Sprintf("%s: %s → %s", p, fieldValue(fd, a), fieldValue(fd, b)))
			}
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// leafMessage is a message shown as one value: a duration, a wrapper.
func leafMessage(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

func listChanges(fd protoreflect.FieldDescriptor, a, b protoreflect.List, p string, out *[]string) {
	if fd.Message() == nil {
		// Scalars: what was added and removed, as a set.
		as, bs := listStrings(fd, a), listStrings(fd, b)
		if added, removed := setDiff(as, bs); len(added)+len(removed) > 0 {
			*out = append(*out, p+": "+plusMinus(added, removed))
		}
		return
	}
	if a.Len() != b.Len() {
		*out = append(*out, fmt.Sprintf("%s: %d → %d entries", p, a.Len(), b.Len()))
		return
	}
	for i := 0; i < a.Len(); i++ {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if leafMessage(fd.Message()) {
			if !a.Get(i).Equal(b.Get(i)) {
				*out = append(*out, fmt.Sprintf("%s: %s → %s", ip, code(messageString(a.Get(i).Message().Interface())), code(messageString(b.Get(i).Message().Interface()))))
			}
			continue
		}
		walkChanges(a.Get(i).Message(), b.Get(i).Message(), ip, out)
	}
}

func mapChanges(fd protoreflect.FieldDescriptor, a, b protoreflect.Map, p string, out *[]string) {
	keys := map[string]protoreflect.MapKey{}
	for _, m := range []protoreflect.Map{a, b} {
		m.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys[k.String()] = k
			return true
		})
	}
	vd := fd.MapValue()
	for _, n := range slices.Sorted(maps.Keys(keys)) {
		k := keys[n]
		kp := p + "[" + n + "]"
		va, vb := a.Get(k), b.Get(k)
		switch {
		case !a.Has(k) || !b.Has(k):
			*out = append(*out, fmt.Sprintf("%s: %s → %s", kp, mapValue(vd, a, k), mapValue(vd, b, k)))
		case vd.Message() != nil && !leafMessage(vd.Message()):
			walkChanges(va.Message(), vb.Message(), kp, out)
		case !va.Equal(vb):
			*out = append(*out, fmt.Sprintf("%s: %s → %s", kp, mapValue(vd, a, k), mapValue(vd, b, k)))
		}
	}
}

// fieldValue is a field's value as a note shows it: in a code span, or
// "none" when unset.
func fieldValue(fd protoreflect.FieldDescriptor, m protoreflect.Message) string {
	if !m.Has(fd) {
		return "none"
	}
	return code(valueString(fd, m.Get(fd)))
}

func mapValue(vd protoreflect.FieldDescriptor, m protoreflect.Map, k protoreflect.MapKey) string {
	if !m.Has(k) {
		return "none"
	}
	return code(valueString(vd, m.Get(k)))
}

func valueString(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch {
	case fd.Message() != nil:
		return messageString(v.Message().Interface())
	case fd.Enum() != nil:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(v.Enum())
	}
	return v.String()
}

func listStrings(fd protoreflect.FieldDescriptor, l protoreflect.List) []string {
	out := make([]string, l.Len())
	for i := range out {
		out[i] = valueString(fd, l.Get(i))
	}
	return out
}

// messageString writes a message on one line as the objects' YAML has it
// (protobuf's JSON mapping: a duration is 10s, fields in camelCase), as
// compact JSON unless it is a single string.
func messageString(m proto.Message) string {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%v", m)
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s // a duration, a wrapped string
	}
	// protojson varies its spacing on purpose; notes must not.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// setDiff is what b has that a has not (added) and the reverse (removed),
// each in its side's order.
func setDiff(a, b []string) (added, removed []string) {
	for _, v := range b {
		if !slices.Contains(a, v) {
			added = append(added, v)
		}
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			removed = append(removed, v)
		}
	}
	return added, removed
}

// plusMinus writes values added and removed: +`a`, −`b`.
func plusMinus(added, removed []string) string {
	var parts []string
	for _, v := range added {
		parts = append(parts, "+"+code(v))
	}
	for _, v := range removed {
		parts = append(parts, "−"+code(v))
	}
	return strings.Join(parts, ", ")
}

// code writes s as a Markdown code span, whatever backticks it holds
// (CommonMark: a longer run of backticks delimits, spaces pad), and
// without line breaks, which would end a list item.
func code(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
	if s == "" {
		return "`\"\"`"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if fence == "`" {
		return fence + s + fence
	}
	return fence + " " + s + " " + fence
}
