package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/render"
)

// FieldManager is the name sailplan's server-side applies are recorded under.
const FieldManager = "sailplan"

// AnnotationDigest holds a hash of what sailplan applied, without the
// commit annotation: when it is unchanged, the object keeps the commit that
// last changed it, and a commit that changes nothing writes nothing new.
const AnnotationDigest = "sailplan.dev/digest"

// Action is what an apply did to an object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Result is the outcome for one object.
type Result struct {
	Object string // Kind/namespace/name
	Action Action
}

// Applier server-side-applies objects to one cluster.
type Applier struct {
	client dynamic.Interface
	mapper meta.RESTMapper
}

// NewApplier returns an Applier that uses client, finding resources with mapper.
func NewApplier(client dynamic.Interface, mapper meta.RESTMapper) *Applier {
	return &Applier{client: client, mapper: mapper}
}

// Apply server-side-applies each object in order, without forcing
// conflicts, and stops at the first error. Objects are applied one by one
// so that kinds that others refer to (render's order) land first.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	results := make([]Result, 0, len(objs))
	for _, obj := range objs {
		action, err := a.applyOne(ctx, obj)
		if err != nil {
			return results, err
		}
		results = append(results, Result{Object: objectRef(obj), Action: action})
	}
	return results, nil
}

func (a *Applier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("%s: the cluster does not serve %s (are Istio's CRDs installed?): %w", objectRef(obj), gvk.GroupVersion(), err)
		}
		return nil, fmt.Errorf("%s: %w", objectRef(obj), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.client.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return a.client.Resource(m.Resource), nil
}

func (a *Applier) applyOne(ctx context.Context, desired *unstructured.Unstructured) (Action, error) {
	ri, err := a.resource(desired)
	if err != nil {
		return "", err
	}
	live, err := ri.Get(ctx, desired.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return "", fmt.Errorf("%s: reading: %w", objectRef(desired), err)
	}
	obj, err := withDigest(desired, live)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return "", fmt.Errorf("%s: encoding: %w", objectRef(desired), err)
	}
	applied, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return "", applyError(desired, err)
	}
	switch {
	case live == nil:
		return Created, nil
	case applied.GetResourceVersion() != live.GetResourceVersion():
		return Configured, nil
	}
	return Unchanged, nil
}

// withDigest returns a copy of desired that carries its digest, and the
// commit annotation of live when live already holds the same content.
func withDigest(desired, live *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := desired.DeepCopy()
	ann := obj.GetAnnotations()
	commit := ann[render.AnnotationCommit]
	delete(ann, render.AnnotationCommit)
	obj.SetAnnotations(ann)
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: encoding: %w", objectRef(desired), err)
	}
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	if live != nil && live.GetAnnotations()[AnnotationDigest] == digest {
		if c, ok := live.GetAnnotations()[render.AnnotationCommit]; ok {
			commit = c
		}
	}
	ann[render.AnnotationCommit] = commit
	ann[AnnotationDigest] = digest
	obj.SetAnnotations(ann)
	return obj, nil
}

// applyError turns an API error into one that names the object and says
// what happened in words, not as a stack of API details.
func applyError(obj *unstructured.Unstructured, err error) error {
	ref := objectRef(obj)
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: conflict with another field manager: %w", ref, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: namespace %q does not exist in the cluster: %w", ref, obj.GetNamespace(), err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("%s: rejected by the apiserver: %w", ref, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden (check sailplan's RBAC in this cluster): %w", ref, err)
	}
	return fmt.Errorf("%s: applying: %w", ref, err)
}

func objectRef(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + "/" + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + "/" + obj.GetName()
}
