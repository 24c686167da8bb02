package explain

import (
	"fmt"
	"reflect"

	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"

	"github.com/sailplan/sailplan/render"
)

// object is a rendered object's spec with its name and origin.
type object[T any] struct {
	ref  Ref
	spec *T
	// raw is the whole object in its JSON form, for DestinationRules,
	// whose policies are reported in Istio's own JSON.
	raw map[string]any
}

// index holds the rendered objects explain reads, each kind in render's
// order: by namespace, then name.
type index struct {
	gateways         []object[networking.Gateway]
	virtualServices  []object[networking.VirtualService]
	destinationRules []object[networking.DestinationRule]
	serviceEntries   []object[networking.ServiceEntry]
	authorizations   []object[security.AuthorizationPolicy]
	authentications  []object[security.RequestAuthentication]
	peers            []object[security.PeerAuthentication]
}

// specOf is an object's spec: every API version of an Istio kind
// (v1, v1beta1, v1alpha3) holds the same spec type in its Spec field.
func specOf[T any](o render.Object) (*T, bool) {
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("Spec")
	if !f.IsValid() || !f.CanAddr() {
		return nil, false
	}
	s, ok := f.Addr().Interface().(*T)
	return s, ok
}

func add[T any](list *[]object[T], o render.Object, ref Ref) error {
	s, ok := specOf[T](o)
	if !ok {
		return fmt.Errorf("%s %s: unexpected type %T", ref.Kind, ref, o)
	}
	*list = append(*list, object[T]{ref: ref, spec: s})
	return nil
}

func newIndex(objs []render.Object) (*index, error) {
	idx := &index{}
	for _, o := range objs {
		a := o.GetAnnotations()
		ref := Ref{Kind: o.GetObjectKind().GroupVersionKind().Kind, Namespace: o.GetNamespace(), Name: o.GetName(),
			Intent: a[render.AnnotationIntent], Source: a[render.AnnotationSource]}
		var err error
		switch ref.Kind {
		case "Gateway":
			err = add(&idx.gateways, o, ref)
		case "VirtualService":
			err = add(&idx.virtualServices, o, ref)
		case "DestinationRule":
			if err = add(&idx.destinationRules, o, ref); err == nil {
				u, uerr := render.ToUnstructured(o)
				if uerr != nil {
					return nil, uerr
				}
				idx.destinationRules[len(idx.destinationRules)-1].raw = u.Object
			}
		case "ServiceEntry":
			err = add(&idx.serviceEntries, o, ref)
		case "AuthorizationPolicy":
			err = add(&idx.authorizations, o, ref)
		case "RequestAuthentication":
			err = add(&idx.authentications, o, ref)
		case "PeerAuthentication":
			err = add(&idx.peers, o, ref)
		}
		if err != nil {
			return nil, err
		}
	}
	return idx, nil
}
