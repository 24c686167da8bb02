package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/sync/kube"
)

// FieldManager is the name sailplan's server-side applies are recorded under.
const FieldManager = kube.FieldManager

// AnnotationDigest holds a hash of what sailplan applied, without the
// commit annotation: when it is unchanged, the object keeps the commit that
// last changed it, and a commit that changes nothing writes nothing new.
const AnnotationDigest = "sailplan.dev/digest"

// AnnotationForceConflicts on a rendered object, with the value "true",
// makes sailplan take the fields it declares from any other field manager
// (server-side apply with force). Without it a conflict is reported and
// the object is left as it is. The schema sets it from an intent field;
// render's constant of the same name has the same value.
const AnnotationForceConflicts = "sailplan.dev/force-conflicts"

// Action is what an apply did to an object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
)

// Result is the outcome for one object.
type Result struct {
	Object string // Kind/namespace/name
	Kind   string
	Action Action
}

// Applier server-side-applies objects to one cluster, skipping those that
// its cache shows unchanged.
type Applier struct {
	client dynamic.Interface
	mapper meta.RESTMapper
	// cache is what the cluster holds of the ApplySet's members.
	cache *liveCache
	// setID is the ApplySet id every object is labelled with.
	setID string
	// workers bounds the applies in flight.
	workers int
	// bodies keeps the digest of each rendered object's body.
	bodies bodies
}

// desired is one object to apply, with the resource it is served as.
type desired struct {
	key     objKey
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping
}

// applied is the outcome of one object's apply.
type applied struct {
	action Action
	// sent is what was sent, or found in place.
	sent appliedObject
	err  error
}

// appliedObject is an object as sailplan applied it: the rendered object,
// with the commit its annotation said. Its body (bodyOf) is made again
// when needed, which is rarely: to put it back after an edit.
type appliedObject struct {
	obj    *unstructured.Unstructured
	commit string
}

// mappings finds the resource of every object. A kind the cluster does not
// serve is one error per object, in words, without discovery's details.
func (a *Applier) mappings(objs []*unstructured.Unstructured) ([]desired, error) {
	out := make([]desired, 0, len(objs))
	var errs []error
	byGVK := map[schema.GroupVersionKind]*meta.RESTMapping{}
	missing := map[schema.GroupVersionKind]error{}
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		key := keyOf(obj)
		m, ok := byGVK[gvk]
		if !ok && missing[gvk] == nil {
			var err error
			m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil && meta.IsNoMatchError(err) {
				// The CRD may have been installed since discovery was cached.
				if r, ok := a.mapper.(meta.ResettableRESTMapper); ok {
					r.Reset()
					m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				}
			}
			switch {
			case err != nil && meta.IsNoMatchError(err):
				missing[gvk] = fmt.Errorf("the cluster does not serve %s %s (is its CRD installed?)", gvk.Kind, gvk.GroupVersion())
			case err != nil:
				missing[gvk] = fmt.Errorf("finding the resource of %s: %w", gvk, err)
			default:
				byGVK[gvk] = m
			}
		}
		if err := missing[gvk]; err != nil {
			errs = append(errs, objErr(key, "%w", err))
			continue
		}
		out = append(out, desired{key: key, obj: obj, mapping: byGVK[gvk]})
	}
	return out, joinLimited(errs)
}

func (a *Applier) resource(m *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.client.Resource(m.Resource).Namespace(namespace)
	}
	return a.client.Resource(m.Resource)
}

// apply applies objects in render's kind order, stamping commit (when not
// empty) on those whose content it changes: the objects of one kind
// at the same time (at most a.workers in flight), the next kind only
// after every object of the previous one succeeded, because a kind may
// refer to an earlier one (a VirtualService to a DestinationRule's
// subsets). Every error names its object; an unreachable cluster stops the
// rest at once.
func (a *Applier) apply(ctx context.Context, objs []desired, commit string) ([]applied, error) {
	a.bodies.next()
	out := make([]applied, len(objs))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for start := 0; start < len(objs); {
		end := start + 1
		for end < len(objs) && objs[end].key.groupKind() == objs[start].key.groupKind() {
			end++
		}
		parallel(ctx, start, end, a.workers, func(i int) {
			out[i] = a.applyOne(ctx, objs[i], false, commit)
			if kube.IsUnreachable(out[i].err) {
				cancel(out[i].err)
			}
		})
		var errs []error
		if cause := context.Cause(ctx); cause != nil {
			return out, cause
		}
		for i := start; i < end; i++ {
			if out[i].err != nil {
				errs = append(errs, out[i].err)
			}
		}
		if len(errs) > 0 {
			if end < len(objs) {
				errs = append(errs, fmt.Errorf("%d objects of later kinds not applied", len(objs)-end))
			}
			return out, joinLimited(errs)
		}
		start = end
	}
	return out, nil
}

// applyOne server-side-applies one object unless the cache shows it
// already holds what would be sent. Fields of other managers are never
// taken unless the object asks for it (AnnotationForceConflicts), or force
// is set, or sailplan is putting back content it applied before (the
// object carries the same digest): then any field of ours that differs
// was taken from it by an edit, and taking it back is what drift
// correction means.
//
// The commit annotation sent is the live object's when the content is
// the same (the object keeps the commit that last changed it), else commit,
// else the one the object was rendered with.
func (a *Applier) applyOne(ctx context.Context, d desired, force bool, commit string) applied {
	live := a.cache.get(d.key)
	b, err := a.bodies.of(d.obj, a.setID)
	if err != nil {
		return applied{err: err}
	}
	sameDigest := live != nil && live.digest == b.digest
	send := b.commit
	switch {
	case sameDigest && live.hasCommit:
		send = live.commit
	case !sameDigest && commit != "":
		send = commit
	}
	sent := appliedObject{obj: d.obj, commit: send}
	body := func() *unstructured.Unstructured { return bodyOf(d.obj, a.setID, b.digest, send) }
	if sameDigest && live.holds(b.digest, body) {
		return applied{action: Unchanged, sent: sent}
	}
	force = force || sameDigest || d.obj.GetAnnotations()[AnnotationForceConflicts] == "true"
	data, err := json.Marshal(body().Object)
	if err != nil {
		return applied{err: objErr(d.key, "encoding: %w", err)}
	}
	res, err := a.resource(d.mapping, d.obj.GetNamespace()).Patch(ctx, d.obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	if err != nil {
		return applied{err: applyError(d.key, d.obj, err)}
	}
	action := Configured
	switch {
	case live == nil && res.GetGeneration() <= 1 && len(res.GetManagedFields()) == 1:
		action = Created
	case live != nil && res.GetResourceVersion() == live.GetResourceVersion():
		action = Unchanged
	}
	a.cache.observe(res)
	return applied{action: action, sent: sent}
}

// FieldConflict is one field that another manager owns with another value.
type FieldConflict struct {
	// Field is the field's path, as the apiserver prints it (.spec.http).
	Field string
	// Manager is the field manager that owns it.
	Manager string
}

// ConflictError says which fields of an object other managers own. It is
// not retried by forcing: sailplan takes fields only when told to.
type ConflictError struct {
	Object    string
	Conflicts []FieldConflict
	Err       error
}

func (e *ConflictError) Error() string {
	parts := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		parts = append(parts, fmt.Sprintf("%s is owned by %q", c.Field, c.Manager))
	}
	if len(parts) == 0 {
		parts = append(parts, e.Err.Error())
	}
	return fmt.Sprintf("%s: conflict with another field manager: %s (sailplan does not take fields from other managers; set %s: \"true\" on the intent to take them)",
		e.Object, strings.Join(parts, ", "), AnnotationForceConflicts)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// applyError turns an API error into one that names the object and says
// what happened in words, not as a stack of API details.
func applyError(key objKey, obj *unstructured.Unstructured, err error) error {
	if kube.IsUnreachable(err) {
		return kube.Unreachable(objErr(key, "%w", err))
	}
	var causes []metav1.StatusCause
	if s, ok := err.(apierrors.APIStatus); ok && s.Status().Details != nil {
		causes = s.Status().Details.Causes
	}
	switch {
	case apierrors.IsConflict(err):
		ce := &ConflictError{Object: key.String(), Err: err}
		for _, c := range causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				ce.Conflicts = append(ce.Conflicts, FieldConflict{Field: c.Field, Manager: managerOf(c.Message)})
			}
		}
		return ce
	case apierrors.IsNotFound(err):
		return objErr(key, "namespace %q does not exist in the cluster (create it there, or correct the intents' namespace): %w", obj.GetNamespace(), err)
	case apierrors.IsInvalid(err):
		var immutable, other []string
		for _, c := range causes {
			if strings.Contains(c.Message, "immutable") {
				immutable = append(immutable, strings.TrimPrefix(c.Field, "."))
			} else {
				other = append(other, fmt.Sprintf("%s: %s", c.Field, c.Message))
			}
		}
		if len(immutable) > 0 {
			return objErr(key, "field %s is immutable: the object must be deleted and created again to change it, which sailplan does not do on its own: %w",
				strings.Join(immutable, ", "), err)
		}
		if len(other) > 0 {
			return objErr(key, "rejected by the apiserver: %s: %w", strings.Join(other, "; "), err)
		}
		return objErr(key, "rejected by the apiserver: %w", err)
	case apierrors.IsForbidden(err):
		return objErr(key, "forbidden (check sailplan's RBAC in this cluster): %w", err)
	}
	return objErr(key, "applying: %w", err)
}

// managerOf finds the manager in a conflict cause's message, which reads
// `conflict with "NAME"` and then, for update managers, more.
func managerOf(msg string) string {
	_, rest, ok := strings.Cut(msg, `conflict with "`)
	if !ok {
		return msg
	}
	name, _, _ := strings.Cut(rest, `"`)
	return name
}
