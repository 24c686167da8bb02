package schema

import (
	"maps"
	"slices"
)

// Kind is a top-level field of the intents other than the fleet: it holds
// the intents of one kind. Kinds is the one list of them. Loading (file by
// file too), validation, and the keys that say where an intent was
// declared go by it, and render has a renderer for each (render/
// registry.go). Tests fail when a field of #Intents or of Intents has no
// entry, or an entry has no renderer.
type Kind struct {
	// Field is the top-level field as intents write it, such as
	// "services". It is also the prefix of an intent's key in
	// Intents.Sources and in the sailplan.dev/intent annotation.
	Field string
	// Named says that the field maps intent names to intents; raw objects
	// are a list.
	Named bool

	// validate checks what CUE's types cannot express.
	validate func(in *Intents, pos posFunc) Errors
	// objects lists the Istio objects that the intents write, so that two
	// intents writing the same object are an error.
	objects func(in *Intents) []object
	// merge adds src's intents to dst, when files are loaded one by one.
	merge func(dst, src *Intents)
}

// Intent is the key of a named intent in Intents.Sources and in the
// sailplan.dev/intent annotation, such as "services/reviews".
func (k Kind) Intent(name string) string { return k.Field + "/" + name }

// object is an Istio object that an intent writes, and where the intent
// is declared.
type object struct {
	kind, namespace, name string
	path                  []any
}

// intentObject is an object named like the intent that writes it.
func intentObject(kind, namespace, name string) []object {
	return []object{{kind: kind, namespace: namespace, name: name}}
}

// Kinds are the kinds of intents, in the order they are validated and
// rendered.
var Kinds = []Kind{
	byName[Service]{
		field:       "services",
		intents:     func(in *Intents) *map[string]*Service { return &in.Services },
		validateAll: validateServices,
		objects: func(name string, s *Service) []object {
			return append(intentObject("VirtualService", s.Namespace, name), intentObject("DestinationRule", s.Namespace, name)...)
		},
	}.kind(),
	byName[Gateway]{
		field:       "gateways",
		intents:     func(in *Intents) *map[string]*Gateway { return &in.Gateways },
		validateAll: validateGateways,
		objects:     func(name string, g *Gateway) []object { return intentObject("Gateway", g.Namespace, name) },
	}.kind(),
	byName[MTLS]{
		field:       "mtls",
		intents:     func(in *Intents) *map[string]*MTLS { return &in.MTLS },
		validateAll: validateMTLS,
		objects:     func(name string, m *MTLS) []object { return intentObject("PeerAuthentication", m.Namespace, name) },
	}.kind(),
	byName[Authorization]{
		field:       "authorization",
		intents:     func(in *Intents) *map[string]*Authorization { return &in.Authorization },
		validateOne: validateAuthorization,
		objects: func(name string, a *Authorization) []object {
			return intentObject("AuthorizationPolicy", a.Namespace, name)
		},
	}.kind(),
	byName[JWT]{
		field:       "jwt",
		intents:     func(in *Intents) *map[string]*JWT { return &in.JWT },
		validateOne: validateJWT,
		objects: func(name string, j *JWT) []object {
			out := intentObject("RequestAuthentication", j.Namespace, name)
			if j.Require != nil {
				out = append(out, object{kind: "AuthorizationPolicy", namespace: j.Namespace, name: RequireJWTPolicyName(name), path: []any{"require"}})
			}
			return out
		},
	}.kind(),
	byName[External]{
		field:       "external",
		intents:     func(in *Intents) *map[string]*External { return &in.External },
		validateOne: validateExternal,
		objects:     func(name string, e *External) []object { return intentObject("ServiceEntry", e.Namespace, name) },
	}.kind(),
	{
		Field:    "raw",
		validate: validateRaws,
		objects: func(in *Intents) []object {
			out := make([]object, len(in.Raw))
			for i, o := range in.Raw {
				out[i] = object{kind: o.Kind, namespace: o.Metadata.Namespace, name: o.Metadata.Name, path: []any{"raw", i}}
			}
			return out
		},
		merge: func(dst, src *Intents) {
			if dst.Raw == nil && src.Raw != nil {
				dst.Raw = src.Raw[:0:0] // an empty list stays, as in mergeInto
			}
			dst.Raw = append(dst.Raw, src.Raw...)
		},
	},
}

// isNamedKind reports whether a top-level field holds intents by name.
func isNamedKind(field string) bool {
	return slices.ContainsFunc(Kinds, func(k Kind) bool { return k.Named && k.Field == field })
}

// byName describes a kind whose intents are by name, of Go type T.
type byName[T any] struct {
	field string
	// intents is the kind's field of Intents.
	intents func(in *Intents) *map[string]*T
	// validateAll checks the intents together, validateOne each one in
	// name order; either may be nil.
	validateAll func(in *Intents, pos posFunc) Errors
	validateOne func(name string, intent *T, pos posFunc) Errors
	// objects are the Istio objects one intent writes; their paths are
	// below the intent's.
	objects func(name string, intent *T) []object
}

func (b byName[T]) kind() Kind {
	return Kind{
		Field: b.field,
		Named: true,
		validate: func(in *Intents, pos posFunc) Errors {
			var errs Errors
			if b.validateAll != nil {
				errs = append(errs, b.validateAll(in, pos)...)
			}
			if b.validateOne != nil {
				intents := *b.intents(in)
				for _, name := range slices.Sorted(maps.Keys(intents)) {
					errs = append(errs, b.validateOne(name, intents[name], pos)...)
				}
			}
			return errs
		},
		objects: func(in *Intents) []object {
			var out []object
			intents := *b.intents(in)
			for _, name := range slices.Sorted(maps.Keys(intents)) {
				for _, o := range b.objects(name, intents[name]) {
					o.path = append([]any{b.field, name}, o.path...)
					out = append(out, o)
				}
			}
			return out
		},
		merge: func(dst, src *Intents) { mergeInto(b.intents(dst), *b.intents(src)) },
	}
}
