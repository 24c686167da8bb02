package apply

import (
	"net/http"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/sync/internal/fixture"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestUnchangedSendsNoWrites: what the watch cache shows unchanged costs
// no request. A second sync of the same objects writes nothing, and the
// same objects at a new commit write only the status on the parent.
func TestUnchangedSendsNoWrites(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	var writes atomic.Int64
	cfg := rest.CopyConfig(env.Cluster("c1").RESTConfig())
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	c, err := NewCluster("c1", cfg, Options{ParentNamespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// As render makes them: every object names the commit it comes from.
	at := func(commit string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, n := range []string{"a", "b", "c"} {
			vs := fixture.VirtualService(ns, n, 90)
			vs.SetAnnotations(map[string]string{render.AnnotationCommit: commit})
			out = append(out, vs)
		}
		return out
	}
	opts := Options{ParentNamespace: ns}
	if _, err := c.Sync(ctx, at("1111111"), opts); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n < 3 {
		t.Fatalf("first sync sent %d writes, want at least 3 (the counter is not counting)", n)
	}

	writes.Store(0)
	out, err := c.Sync(ctx, at("1111111"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if n, counts := writes.Load(), out.Counts(); n != 0 || counts[Unchanged] != 3 {
		t.Errorf("the same objects again: %d writes, counts %v; want none and 3 unchanged", n, counts)
	}

	writes.Store(0)
	if _, err := c.Sync(ctx, at("2222222"), opts); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("the same objects at a new commit: %d writes, want none (the commit annotation is history, not content)", n)
	}
}
