package apply

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/sync/internal/fixture"
)

func TestDrifted(t *testing.T) {
	body := fixture.VirtualService("ns", "reviews", 90)
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
