package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// istioCRDsOnce caches the file: go mod download costs a few hundred milliseconds per call.
var istioCRDsOnce struct {
	sync.Mutex
	data []byte
}

// istioCRDs returns Istio's CRD manifests from the istio.io/api module that
// the sailplan module builds against (replace directives included), so the
// clusters serve exactly the schema the code was compiled for.
func istioCRDs(ctx context.Context) ([]byte, error) {
	istioCRDsOnce.Lock()
	defer istioCRDsOnce.Unlock()
	if istioCRDsOnce.data != nil {
		return istioCRDsOnce.data, nil
	}
	src, err := SourceDir()
	if err != nil {
		return nil, err
	}
	// go mod download (unlike go list -m) also fetches the module when it is
	// not in the module cache yet, and reports the replacement's Dir.
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "istio.io/api")
	cmd.Dir = filepath.Dir(src)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("istio CRDs: go mod download istio.io/api: %w: %s%s", err, stderr.Bytes(), out)
	}
	var mod struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("istio CRDs: go mod download istio.io/api: %w", err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("istio CRDs: go mod download istio.io/api: no module dir: %s", mod.Error)
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		return nil, fmt.Errorf("istio CRDs: %w", err)
	}
	istioCRDsOnce.data = data
	return data, nil
}

// IstioCRDNames returns the names of the CRDs that Start installs.
func IstioCRDNames(ctx context.Context) ([]string, error) {
	data, err := istioCRDs(ctx)
	if err != nil {
		return nil, err
	}
	objs, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	return names, nil
}

func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// installCRDs creates the CRDs and waits until each is Established and
// discovery lists its kind in every served version, so that a REST mapper
// created right after Start finds them.
func installCRDs(ctx context.Context, cfg *rest.Config, data []byte) error {
	objs, err := decodeYAML(data)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if _, err := dyn.Resource(crdGVR).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		last := crdsReady(ctx, dyn, disco, objs)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func crdsReady(ctx context.Context, dyn dynamic.Interface, disco discovery.DiscoveryInterface, want []*unstructured.Unstructured) error {
	list, err := dyn.Resource(crdGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	established := map[string]bool{}
	for _, crd := range list.Items {
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				established[crd.GetName()] = true
			}
		}
	}
	kinds := map[string][]string{} // group/version -> kinds wanted
	for _, o := range want {
		if !established[o.GetName()] {
			return fmt.Errorf("%s not established", o.GetName())
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		for _, v := range versions {
			m, _ := v.(map[string]any)
			if served, _ := m["served"].(bool); served {
				gv := group + "/" + fmt.Sprint(m["name"])
				kinds[gv] = append(kinds[gv], kind)
			}
		}
	}
	for gv, want := range kinds {
		res, err := disco.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Errorf("discovery %s: %w", gv, err)
		}
		var have []string
		for _, r := range res.APIResources {
			have = append(have, r.Kind)
		}
		for _, k := range want {
			if !slices.Contains(have, k) {
				return fmt.Errorf("discovery %s: no kind %s yet", gv, k)
			}
		}
	}
	return nil
}
