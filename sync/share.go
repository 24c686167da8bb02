package sync

import (
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sharer lets the clusters of a fleet hold one copy of an object they all
// render the same, as most do: the desired state of 1,000 services was
// 2,000 objects per cluster, as many copies as clusters (issue 15).
// Nothing changes a rendered object after this (sync/apply copies the
// metadata it adds), so sharing one is safe.
type sharer struct {
	seen map[objectName]*unstructured.Unstructured
}

type objectName struct {
	apiVersion, kind, namespace, name string
}

// share replaces each object of objs that equals one seen before with
// that one, in place, and remembers the others.
func (s *sharer) share(objs []*unstructured.Unstructured) {
	if s.seen == nil {
		s.seen = map[objectName]*unstructured.Unstructured{}
	}
	for i, o := range objs {
		n := objectName{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}
		if prev, ok := s.seen[n]; ok {
			if reflect.DeepEqual(prev.Object, o.Object) {
				objs[i] = prev
			}
			continue
		}
		s.seen[n] = o
	}
}
