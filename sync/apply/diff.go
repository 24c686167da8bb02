package apply

import (
	"context"
	"fmt"
	"sort"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sailplan/sailplan/render"
)

// ObjectDiff is what applying one object would change in a cluster.
type ObjectDiff struct {
	// Object is Kind/namespace/name.
	Object string
	// Action is Created, Configured, Unchanged or Pruned.
	Action Action
	// Diff is a unified diff of the live object against the server's
	// dry-run result, empty when unchanged.
	Diff string
}

// Diff says what a sync of objs would change in the cluster, without
// changing it: every object is applied with a server-side dry run (so
// defaults, admission and field ownership are the server's), and compared
// with the live object; members of sailplan's ApplySet that objs no
// longer include are shown as pruned. Fields that change on every write
// (managedFields, resourceVersion, generation) and sailplan's bookkeeping
// annotations (digest, commit) are left out of the comparison. Objects
// whose dry run fails, such as conflicts, are errors that name them.
func (c *Cluster) Diff(ctx context.Context, objs []*unstructured.Unstructured) ([]ObjectDiff, error) {
	if err := c.probe(ctx); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	parent, err := c.readParent(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	ds, mapErr := c.applier.mappings(objs)
	out := make([]ObjectDiff, len(ds))
	errs := make([]error, len(ds))
	parallel(ctx, 0, len(ds), c.applier.workers, func(i int) {
		out[i], errs[i] = c.diffOne(ctx, ds[i])
	})
	// Objects not looked at because ctx ended must not read as unchanged.
	errs = append(errs, mapErr, ctx.Err())
	// Members of the ApplySet that are no longer rendered would be pruned.
	keep := map[objKey]bool{}
	for _, d := range ds {
		keep[d.key] = true
	}
	gvrs, _ := c.watchedResources(parent.groupKinds, ds)
	var pruned []ObjectDiff
	for _, gvr := range gvrs {
		list, err := c.client.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: LabelPartOf + "=" + c.inventory.ID()})
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err))
			continue
		}
		for i := range list.Items {
			u := &list.Items[i]
			if keep[keyOf(u)] {
				continue
			}
			d, err := unifiedDiff(keyOf(u), u, nil)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			pruned = append(pruned, ObjectDiff{Object: keyOf(u).String(), Action: Pruned, Diff: d})
		}
	}
	sort.Slice(pruned, func(i, j int) bool { return pruned[i].Object < pruned[j].Object })
	var kept []ObjectDiff
	for i := range out {
		if errs[i] == nil && out[i].Object != "" {
			kept = append(kept, out[i])
		}
	}
	if err := joinLimited(nonNil(errs)); err != nil {
		return append(kept, pruned...), fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return append(kept, pruned...), nil
}

func nonNil(errs []error) []error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

func (c *Cluster) diffOne(ctx context.Context, d desired) (ObjectDiff, error) {
	ri := c.applier.resource(d.mapping, d.obj.GetNamespace())
	live, err := ri.Get(ctx, d.obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return ObjectDiff{}, fmt.Errorf("%s: reading: %w", d.key, err)
	}
	b, err := digestOf(d.obj, c.applier.setID)
	if err != nil {
		return ObjectDiff{}, err
	}
	// The commit annotation records history, not intent: a diff of a
	// working tree must not show every object as changed because of it.
	commit := b.commit
	if live != nil {
		if lc, ok := live.GetAnnotations()[render.AnnotationCommit]; ok {
			commit = lc
		}
	}
	body := bodyOf(d.obj, c.applier.setID, b.digest, commit)
	force := d.obj.GetAnnotations()[AnnotationForceConflicts] == "true" ||
		(live != nil && live.GetAnnotations()[AnnotationDigest] == b.digest)
	data, err := body.MarshalJSON()
	if err != nil {
		return ObjectDiff{}, fmt.Errorf("%s: encoding: %w", d.key, err)
	}
	res, err := ri.Patch(ctx, d.obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return ObjectDiff{}, applyError(d.key, d.obj, err)
	}
	text, err := unifiedDiff(d.key, live, res)
	if err != nil {
		return ObjectDiff{}, err
	}
	action := Configured
	switch {
	case live == nil:
		action = Created
	case text == "":
		action = Unchanged
	}
	return ObjectDiff{Object: d.key.String(), Action: action, Diff: text}, nil
}

// unifiedDiff compares two versions of an object as YAML, without the
// fields that change on every write; nil stands for no object.
func unifiedDiff(key objKey, from, to *unstructured.Unstructured) (string, error) {
	a, err := diffYAML(from)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	b, err := diffYAML(to)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if a == b {
		return "", nil
	}
	fromFile, toFile := "live/"+key.String(), "sailplan/"+key.String()
	if from == nil {
		fromFile = "/dev/null"
	}
	if to == nil {
		toFile = "/dev/null"
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: fromFile, ToFile: toFile, Context: 3,
	})
}

func diffYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	u = u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "annotations", AnnotationDigest)
	if len(u.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(u.Object, "metadata", "annotations")
	}
	b, err := render.MarshalYAML(u.Object)
	if err != nil {
		return "", fmt.Errorf("encoding as YAML: %w", err)
	}
	return string(b), nil
}
