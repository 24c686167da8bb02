package sync

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/sailplan/sailplan/testenv"
)

func TestDrifted(t *testing.T) {
	body := virtualService("ns", "reviews", 90)
	body.SetAnnotations(map[string]string{AnnotationDigest: "abc", "sailplan.dev/commit": "1111111"})
	tests := []struct {
		name string
		edit func(u *unstructured.Unstructured)
		want bool
	}{
		{"identical", func(*unstructured.Unstructured) {}, false},
		{"fields of others added", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedStringSlice(u.Object, []string{"mesh"}, "spec", "gateways")
			u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "sailplan", "team": "x"})
			u.SetResourceVersion("42")
		}, false},
		{"other commit annotation", func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{AnnotationDigest: "abc", "sailplan.dev/commit": "2222222"})
		}, false},
		{"weight edited", func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			route := http[0].(map[string]any)["route"].([]any)
			route[0].(map[string]any)["weight"] = int64(50)
			_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
		}, true},
		{"route added", func(u *unstructured.Unstructured) {
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			_ = unstructured.SetNestedSlice(u.Object, append(http, map[string]any{}), "spec", "http")
		}, true},
		{"our label removed", func(u *unstructured.Unstructured) { u.SetLabels(nil) }, true},
		{"digest changed", func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{AnnotationDigest: "def", "sailplan.dev/commit": "1111111"})
		}, true},
	}
	for _, tt := range tests {
		live := body.DeepCopy()
		tt.edit(live)
		if got := drifted(body, live); got != tt.want {
			t.Errorf("%s: drifted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDriftCorrected: with the daemon running, an edit of a field sailplan
// owns (as kubectl edit makes it) and a deleted object are put back by the
// watch, without a sync; a field that another manager adds is left alone
// and stays that manager's.
func TestDriftCorrected(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetOf(map[string]int{"c1": 1, "c2": 1, "c3": 1}), "svc.cue": servicesCUE(ns, 2, 10)}, "two services")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	// The interval is long: only the watches can put things back in time.
	runReconciler(t, r, time.Hour)
	waitApplied(t, r, "")

	c2 := env.Cluster("c2")
	dyn, err := dynamic.NewForConfig(c2.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	vss := dyn.Resource(virtualServices).Namespace(ns)
	// kubectl edit: a full update under another manager, which takes
	// ownership of what it changed.
	vs, err := vss.Get(t.Context(), "svc-000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	http[0].(map[string]any)["route"].([]any)[0].(map[string]any)["weight"] = int64(0)
	http[0].(map[string]any)["route"].([]any)[1].(map[string]any)["weight"] = int64(100)
	_ = unstructured.SetNestedSlice(vs.Object, http, "spec", "http")
	if _, err := vss.Update(t.Context(), vs, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(destinationRules).Namespace(ns).Delete(t.Context(), "svc-001", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "drift corrected", func() error {
		got := memberWeights(t, ns)["c2"]
		if diff := cmp.Diff(wantWeights([]string{"c2"}, 2, 10)["c2"], got); diff != "" {
			return fmt.Errorf("c2 (-want +got):\n%s", diff)
		}
		return nil
	})
	for _, want := range []string{"drift corrected", "object=VirtualService/" + ns + "/svc-000 drift=changed", "object=DestinationRule/" + ns + "/svc-001 drift=deleted"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}

	// Another team routes svc-000 through a gateway: a field sailplan does
	// not declare. Neither the watch nor a sync may take it.
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "svc-000", "namespace": ns},
		"spec":     map[string]any{"gateways": []any{"mesh", "edge"}},
	}}
	applyAs(t, c2, "other-team", gw)
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	vs, err = vss.Get(t.Context(), "svc-000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
	if diff := cmp.Diff([]string{"mesh", "edge"}, gws); diff != "" {
		t.Errorf("gateways of other-team (-want +got):\n%s", diff)
	}
	owners := map[string]bool{}
	for _, mf := range vs.GetManagedFields() {
		if strings.Contains(string(mf.FieldsV1.Raw), `"f:gateways"`) {
			owners[mf.Manager] = true
		}
	}
	if diff := cmp.Diff(map[string]bool{"other-team": true}, owners); diff != "" {
		t.Errorf("owners of spec.gateways (-want +got):\n%s", diff)
	}
	if got := weightOf(vs, "v2"); got != 10 {
		t.Errorf("v2 weight = %d, want 10", got)
	}
}

// TestOwnWritesAreNotDrift: while a sync writes a cluster, the watches see
// the new content before the sync has recorded it as applied. Drift
// correction must not take it for drift and put the old content back: every
// change must stay applied. Writes are slowed down so that the watch event
// always overtakes the sync that caused it.
func TestOwnWritesAreNotDrift(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "90/10")
	var log logBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	r.wrapTransport = func(_ string, rt http.RoundTripper) http.RoundTripper {
		return slowWrites{rt}
	}
	runReconciler(t, r, time.Hour)
	waitApplied(t, r, "")
	for _, w := range []int32{20, 30} {
		sha := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 100-int(w), int(w))}, fmt.Sprintf("%d%%", w))
		r.Trigger()
		waitApplied(t, r, sha)
		// A wrong correction would have been sent by now, and lands
		// within one slowed write.
		time.Sleep(5*driftBaseDelay + 2*slowWrite)
		checkClusters(t, ns, 100-w, w)
	}
}

// slowWrite is how long slowWrites holds the answer to each write: the
// apiserver has done it, and its watch event is on the way.
const slowWrite = 500 * time.Millisecond

type slowWrites struct{ rt http.RoundTripper }

func (s slowWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if req.Method == http.MethodPatch {
		time.Sleep(slowWrite)
	}
	return resp, err
}
