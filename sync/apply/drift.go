package apply

import (
	"context"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/workqueue"

	"github.com/sailplan/sailplan/render"
)

// Drift correction backs off per object, so that a controller that keeps
// rewriting a field sailplan owns gets a correction every minute at worst,
// not a write storm; a single edit is put back within driftBaseDelay.
const (
	driftBaseDelay = 100 * time.Millisecond
	driftMaxDelay  = time.Minute
	// driftQuiet is how long an object must have stayed put for its next
	// drift to count as new, with the backoff starting over.
	driftQuiet = time.Minute
)

// drifted reports whether live no longer holds what body, an object that
// sailplan applied, says: a field of body is missing or has another value.
// Fields that body does not set belong to others and are not looked at,
// nor is the commit annotation, which records history rather than intent.
func drifted(body, live *unstructured.Unstructured) bool {
	for k, want := range body.Object {
		switch k {
		case "apiVersion", "kind", "status":
			continue
		case "metadata":
			if !metaContains(want, live.Object["metadata"]) {
				return true
			}
			continue
		}
		if !contains(want, live.Object[k]) {
			return true
		}
	}
	return false
}

func metaContains(want, got any) bool {
	w, _ := want.(map[string]any)
	g, _ := got.(map[string]any)
	for _, f := range []string{"labels", "annotations"} {
		wm, _ := w[f].(map[string]any)
		gm, _ := g[f].(map[string]any)
		for k, v := range wm {
			if k == render.AnnotationCommit {
				continue
			}
			if gm[k] != v {
				return false
			}
		}
	}
	return true
}

// contains says whether got has every field of want with the same value.
// Lists compare element by element and must have the same length: a CRD's
// lists are atomic unless marked otherwise, so sailplan owns all of them.
func contains(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(w[i], g[i]) {
				return false
			}
		}
		return true
	case int64, float64, int, int32:
		a, ok1 := number(want)
		b, ok2 := number(got)
		return ok1 && ok2 && a == b
	}
	return reflect.DeepEqual(want, got)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}

// setApplied records what sailplan applied to an object, which drift
// correction puts back.
func (c *Cluster) setApplied(key objKey, a appliedObject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applied[key] = a
}

// appliedTo returns what sailplan last applied to an object; its obj is
// nil when nothing was.
func (c *Cluster) appliedTo(key objKey) appliedObject {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied[key]
}

// holdsApplied says whether live still holds a, what sailplan applied.
func (c *Cluster) holdsApplied(live *liveObject, a appliedObject) bool {
	b, err := c.applier.bodies.of(a.obj, c.applier.setID)
	if err != nil {
		return false
	}
	return live.holds(b.digest, func() *unstructured.Unstructured {
		return bodyOf(a.obj, c.applier.setID, b.digest, a.commit)
	})
}

// driftCorrector puts back what sailplan applied when a watch shows an
// object changed or deleted by someone else.
type driftCorrector struct {
	cluster *Cluster
	report  func(Drift)
	queue   workqueue.TypedRateLimitingInterface[objKey]

	mu   sync.Mutex
	last map[objKey]time.Time // when each object was last corrected
}

// Drift is one correction: an object that someone else changed or
// deleted, put back (or not: Err).
type Drift struct {
	// Object is Kind/namespace/name.
	Object string
	Kind   string
	// What is "changed" or "deleted".
	What string
	Err  error
}

// StartDrift starts correcting drift in the cluster until ctx is done,
// and tells report of every correction; report must not block. It is
// called once per cluster; later calls do nothing.
func (c *Cluster) StartDrift(ctx context.Context, report func(Drift)) {
	c.driftOnce.Do(func() {
		d := &driftCorrector{
			cluster: c,
			report:  report,
			queue: workqueue.NewTypedRateLimitingQueueWithConfig(
				workqueue.NewTypedItemExponentialFailureRateLimiter[objKey](driftBaseDelay, driftMaxDelay),
				workqueue.TypedRateLimitingQueueConfig[objKey]{Name: "sailplan-drift-" + c.Name}),
			last: map[objKey]time.Time{},
		}
		c.cache.setOnChange(d.changed)
		go func() {
			<-ctx.Done()
			c.cache.setOnChange(nil)
			d.queue.ShutDown()
		}()
		go d.run(ctx)
	})
}

// changed is called by the watches for every change; it must not block.
func (d *driftCorrector) changed(key objKey, live *liveObject) {
	a := d.cluster.appliedTo(key)
	if a.obj == nil || (live != nil && d.cluster.holdsApplied(live, a)) {
		return
	}
	d.mu.Lock()
	if time.Since(d.last[key]) > driftQuiet {
		d.queue.Forget(key)
	}
	d.mu.Unlock()
	d.queue.AddRateLimited(key)
}

func (d *driftCorrector) run(ctx context.Context) {
	for {
		key, quit := d.queue.Get()
		if quit {
			return
		}
		d.correct(ctx, key)
		d.queue.Done(key)
	}
}

func (d *driftCorrector) correct(ctx context.Context, key objKey) {
	c := d.cluster
	if c.syncing.Load() > 0 {
		// A sync is writing this cluster: what looks like drift may be its
		// own new content, not yet recorded as applied. Look again after.
		d.queue.AddAfter(key, driftBaseDelay)
		return
	}
	a := c.appliedTo(key)
	live := c.cache.get(key)
	if a.obj == nil || (live != nil && c.holdsApplied(live, a)) {
		return
	}
	what := "changed"
	if live == nil {
		what = "deleted"
	}
	ds, err := c.applier.mappings([]*unstructured.Unstructured{a.obj})
	if err != nil {
		d.report(Drift{Object: key.String(), Kind: key.Kind, What: what, Err: err})
		return
	}
	// What was applied before: every field it declares was sailplan's,
	// so force takes back what an edit took, and its commit goes back too.
	res := c.applier.applyOne(ctx, ds[0], true, a.commit)
	d.mu.Lock()
	d.last[key] = time.Now()
	d.mu.Unlock()
	if res.err != nil && ctx.Err() == nil {
		d.queue.AddRateLimited(key)
	}
	if ctx.Err() == nil {
		d.report(Drift{Object: key.String(), Kind: key.Kind, What: what, Err: res.err})
	}
}
