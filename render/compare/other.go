package compare

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/sailplan/sailplan/render"
)

// otherNotes says what changes in an object of a kind without notes of
// its own (Gateway, ServiceEntry, Sidecar, raw objects): the fields.
func otherNotes(subject string, action Action, a, b proto.Message) []Note {
	switch {
	case action == Added:
		return []Note{{Topic: Other, Subject: subject, Text: "added"}}
	case action == Removed:
		return []Note{{Topic: Other, Subject: subject, Text: "removed"}}
	case a == nil || b == nil:
		return nil
	}
	if cs := fieldChanges(a, b); len(cs) > 0 {
		return []Note{{Topic: Other, Subject: subject, Text: joinChanges(cs)}}
	}
	return nil
}

// metadataNotes says what changes in an object whose spec stays: its
// labels and annotations, such as the file that declares its intent.
func metadataNotes(subject string, a, b render.Object) []Note {
	var cs []string
	for _, m := range []struct {
		what string
		a, b map[string]string
	}{{"label", a.GetLabels(), b.GetLabels()}, {"annotation", a.GetAnnotations(), b.GetAnnotations()}} {
		keys := map[string]bool{}
		for k := range m.a {
			keys[k] = true
		}
		for k := range m.b {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if k == render.AnnotationCommit {
				continue
			}
			va, okA := m.a[k]
			vb, okB := m.b[k]
			if va == vb && okA == okB {
				continue
			}
			cs = append(cs, m.what+" "+code(k)+": "+orNone(va, okA)+" → "+orNone(vb, okB))
		}
	}
	if len(cs) == 0 {
		return nil
	}
	return []Note{{Topic: Other, Subject: subject, Text: joinChanges(cs)}}
}

func orNone(v string, ok bool) string {
	if !ok {
		return "none"
	}
	return code(v)
}
