// Package examples holds intent repositories that users can copy; its test
// proves that each one loads and that a real apiserver with Istio's CRDs
// accepts everything it renders.
package examples

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }

// TestExamplesAcceptedByAPIServer renders every example, for every cluster
// of its fleet, and server-side-applies the result in dry-run mode, so
// Istio's CRD schemas and their CEL rules judge every object.
func TestExamplesAcceptedByAPIServer(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	cfg := env.Clusters[0].RESTConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))

	dirs, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			files, err := schema.ReadDir(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			in, err := schema.Load(files)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			clusters := []string{""}
			for name := range in.Fleet.Clusters {
				clusters = append(clusters, name)
			}
			objects := 0
			for _, cluster := range clusters {
				objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: "0123456"})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					ensureNamespace(ctx, t, kube, o.GetNamespace())
					u, err := render.ToUnstructured(o)
					if err != nil {
						t.Fatal(err)
					}
					gvk := u.GroupVersionKind()
					m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
					if err != nil {
						t.Fatalf("%s %s/%s: %v", gvk, u.GetNamespace(), u.GetName(), err)
					}
					var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
					if m.Scope.Name() == meta.RESTScopeNameNamespace {
						ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
					}
					data, err := json.Marshal(u.Object)
					if err != nil {
						t.Fatal(err)
					}
					_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "sailplan", DryRun: []string{metav1.DryRunAll}})
					if err != nil {
						t.Errorf("cluster %q: %s %s/%s rejected: %v", cluster, gvk.Kind, u.GetNamespace(), u.GetName(), err)
					}
					objects++
				}
			}
			if objects == 0 {
				t.Errorf("%s renders no objects", dir)
			}
		})
		checked++
	}
	if checked < 6 {
		t.Errorf("checked %d examples, want every one (at least 6)", checked)
	}
}

func ensureNamespace(ctx context.Context, t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	if name == "" {
		return
	}
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("namespace %s: %v", name, err)
	}
}
