package apply

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/sailplan/sailplan/sync/kube"
)

// cacheSyncTimeout bounds the wait for a new watch's first list; a cluster
// that cannot list in that time is treated as unreachable for this round.
const cacheSyncTimeout = 30 * time.Second

// objKey names an object independently of its API version.
type objKey struct {
	Group, Kind, Namespace, Name string
}

func keyOf(u *unstructured.Unstructured) objKey {
	gvk := u.GroupVersionKind()
	return objKey{Group: gvk.Group, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// String is the Kind/namespace/name form that errors and logs start with.
func (k objKey) String() string {
	if k.Namespace != "" {
		return k.Kind + "/" + k.Namespace + "/" + k.Name
	}
	return k.Kind + "/" + k.Name
}

func (k objKey) groupKind() schema.GroupKind { return schema.GroupKind{Group: k.Group, Kind: k.Kind} }

// liveCache holds what the cluster has of sailplan's ApplySet members,
// kept current by watches (one per kind, filtered by the part-of label),
// and by the responses to sailplan's own writes, which arrive before their
// watch events. Skipping unchanged objects, pruning and drift detection
// read it instead of the apiserver.
type liveCache struct {
	client   dynamic.Interface
	selector string

	mu       sync.Mutex
	watches  map[schema.GroupVersionResource]cache.SharedIndexInformer
	objects  map[objKey]*liveObject
	onChange func(key objKey, obj *liveObject)
	ctx      context.Context
	cancel   context.CancelFunc
}

func newLiveCache(client dynamic.Interface, setID string) *liveCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &liveCache{
		client:   client,
		selector: LabelPartOf + "=" + setID,
		watches:  map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		objects:  map[objKey]*liveObject{},
		ctx:      ctx,
		cancel:   cancel,
	}
}

// watch makes sure every resource in gvrs is watched and its first list
// has arrived. It returns an unreachable error when a list does not
// complete in time; the watches keep trying in the background.
func (c *liveCache) watch(ctx context.Context, gvrs []schema.GroupVersionResource) error {
	var synced []cache.InformerSynced
	c.mu.Lock()
	for _, gvr := range gvrs {
		inf, ok := c.watches[gvr]
		if !ok {
			inf = dynamicinformer.NewFilteredDynamicInformer(c.client, gvr, metav1.NamespaceAll, 0, cache.Indexers{},
				func(o *metav1.ListOptions) { o.LabelSelector = c.selector }).Informer()
			// The cache keeps liveObjects, not what the watch decoded.
			_ = inf.SetTransform(func(o any) (any, error) {
				if u, ok := o.(*unstructured.Unstructured); ok {
					return newLiveObject(u)
				}
				return o, nil
			})
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(o any) { c.event(o, false) },
				UpdateFunc: func(_, o any) { c.event(o, false) },
				DeleteFunc: func(o any) { c.event(o, true) },
			})
			go inf.RunWithContext(c.ctx)
			c.watches[gvr] = inf
		}
		synced = append(synced, inf.HasSynced)
	}
	c.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, cacheSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return kube.Unreachable(fmt.Errorf("watches did not complete their first list within %s", cacheSyncTimeout))
	}
	return nil
}

func (c *liveCache) event(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = d.Obj, true
	}
	u, ok := o.(*liveObject)
	if !ok {
		return
	}
	key := u.key()
	c.mu.Lock()
	cur := c.objects[key]
	switch {
	case deleted:
		// A delete of an older incarnation must not drop a newer one.
		if cur != nil && cur.GetUID() != u.GetUID() {
			c.mu.Unlock()
			return
		}
		delete(c.objects, key)
	case cur != nil && cur.GetUID() == u.GetUID() && olderThan(u, cur):
		// Our own write's response got here first.
		c.mu.Unlock()
		return
	default:
		c.objects[key] = u
	}
	notify := c.onChange
	c.mu.Unlock()
	if notify != nil {
		if deleted {
			u = nil
		}
		notify(key, u)
	}
}

// olderThan says whether a is an older version of the same object than b.
// Resource versions are opaque in general, but etcd-backed ones are
// revision numbers that only grow for one object; anything else counts as
// newer, which costs at most one redundant apply.
func olderThan(a, b *liveObject) bool {
	ra, err1 := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	rb, err2 := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	return err1 == nil && err2 == nil && ra < rb
}

// lastApplied is where kubectl apply (client-side) keeps a copy of the
// object: the cache drops it, with managedFields and the status, which
// nothing here reads.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// observe records the response to sailplan's own write; it takes u apart.
func (c *liveCache) observe(u *unstructured.Unstructured) {
	l, err := newLiveObject(u)
	if err != nil {
		// The watch brings it soon; until then the object is applied again.
		return
	}
	key := l.key()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.objects[key]; cur != nil && cur.GetUID() == l.GetUID() && olderThan(l, cur) {
		return
	}
	c.objects[key] = l
}

// forget drops an object sailplan deleted.
func (c *liveCache) forget(key objKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.objects, key)
}

// get returns the cached object, nil when the cluster has no such member.
// The object is shared: callers must not modify it.
func (c *liveCache) get(key objKey) *liveObject {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.objects[key]
}

// members returns every cached member of the kinds in gks.
func (c *liveCache) members(gks map[schema.GroupKind]bool) []*liveObject {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*liveObject
	for k, u := range c.objects {
		if gks[k.groupKind()] {
			out = append(out, u)
		}
	}
	return out
}

// setOnChange registers the function that is told of every change the
// watches see: obj is nil when the object was deleted.
func (c *liveCache) setOnChange(f func(key objKey, obj *liveObject)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = f
}

func (c *liveCache) stop() { c.cancel() }
