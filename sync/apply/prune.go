package apply

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sailplan/sailplan/sync/kube"
)

// PruneRefusedError is a prune that would delete more of a cluster's
// inventory than Options.PruneMaxShare allows. Nothing was deleted; the
// same prune is refused again on every sync until the intents bring the
// objects back or the setting is raised.
type PruneRefusedError struct {
	Cluster   string
	Delete    int // members the prune would delete
	Inventory int // members in the cluster
	MaxShare  float64
	Examples  []string // a few of the objects, Kind/namespace/name
}

func (e *PruneRefusedError) Error() string {
	return fmt.Sprintf("prune refused: it would delete %d of the %d objects sailplan manages there (%.0f%%, more than the allowed %.0f%%), e.g. %v; if that is intended, raise --prune-max-share for one sync",
		e.Delete, e.Inventory, 100*float64(e.Delete)/float64(e.Inventory), 100*e.MaxShare, e.Examples)
}

// prune deletes the members of the cluster's ApplySet (kinds gks) that are
// not in keep. Members are what the label-filtered watches hold: an object
// without sailplan's part-of label is never a candidate. Each delete is
// conditional on the UID that was seen, so an object created again by
// someone else in the meantime is left alone.
func (c *Cluster) prune(ctx context.Context, keep map[objKey]bool, gks map[schema.GroupKind]bool, maxShare float64, workers int) ([]Result, error) {
	members := c.cache.members(gks)
	var doomed []*liveObject
	for _, u := range members {
		if u.partOf != c.inventory.ID() {
			continue
		}
		if !keep[u.key()] {
			doomed = append(doomed, u)
		}
	}
	if len(doomed) == 0 {
		return nil, nil
	}
	sort.Slice(doomed, func(i, j int) bool { return doomed[i].key().String() < doomed[j].key().String() })
	if float64(len(doomed)) > maxShare*float64(len(members)) {
		e := &PruneRefusedError{Cluster: c.Name, Delete: len(doomed), Inventory: len(members), MaxShare: maxShare}
		for _, u := range doomed[:min(3, len(doomed))] {
			e.Examples = append(e.Examples, u.key().String())
		}
		return nil, e
	}
	results := make([]Result, len(doomed))
	errs := make([]error, len(doomed))
	parallel(ctx, 0, len(doomed), workers, func(i int) {
		results[i], errs[i] = c.deleteMember(ctx, doomed[i])
	})
	var out []Result
	var failed []error
	for i := range doomed {
		switch {
		case errs[i] != nil:
			failed = append(failed, errs[i])
		case results[i].Object != "":
			out = append(out, results[i])
		}
	}
	if err := ctx.Err(); err != nil {
		// Members not handed out before ctx ended were not deleted.
		failed = append(failed, err)
	}
	return out, joinLimited(failed)
}

func (c *Cluster) deleteMember(ctx context.Context, u *liveObject) (Result, error) {
	key := u.key()
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Result{}, objErr(key, "pruning: %w", err)
	}
	uid := u.GetUID()
	ri := c.client.Resource(m.Resource)
	var rerr error
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		rerr = ri.Namespace(u.GetNamespace()).Delete(ctx, u.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	} else {
		rerr = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	}
	switch {
	case rerr == nil, apierrors.IsNotFound(rerr):
	case apierrors.IsConflict(rerr):
		// The UID precondition failed: another object of that name now
		// stands there, and it is not the member we meant to delete.
		return Result{}, objErr(key, "not pruned: it was replaced by another object since it was listed: %w", rerr)
	case kube.IsUnreachable(rerr):
		return Result{}, kube.Unreachable(objErr(key, "pruning: %w", rerr))
	default:
		return Result{}, objErr(key, "pruning: %w", rerr)
	}
	c.cache.forget(key)
	c.mu.Lock()
	delete(c.applied, key)
	c.mu.Unlock()
	return Result{Object: key.String(), Kind: key.Kind, Action: Pruned}, nil
}
