package istiocheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Finding is one thing Istio's validation says about one object.
type Finding struct {
	// Object is Kind namespace/name.
	Object string
	// Warning is true for a warning, false for an error.
	Warning bool
	Msg     string
}

func (f Finding) String() string {
	level := "error"
	if f.Warning {
		level = "warning"
	}
	return fmt.Sprintf("%s: %s: %s", f.Object, level, f.Msg)
}

// Check runs the rules of istiod's validating webhook over every object of
// a YAML stream, as it would judge them one by one on admission. Unlike
// crd.ParseInputs it does not stop at the first invalid object, and it
// keeps the warnings, which the webhook returns to kubectl and which
// sailplan's apply would otherwise never show. count is the number of
// objects checked.
func Check(stream []byte) (findings []Finding, count int, err error) {
	dec := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 512*1024)
	for {
		var obj crd.IstioKind
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, count, fmt.Errorf("document %d: %w", count+1, err)
		}
		if obj.Kind == "" {
			continue // an empty document
		}
		count++
		name := fmt.Sprintf("%s %s/%s", obj.Kind, obj.Namespace, obj.Name)
		gvk := obj.GroupVersionKind()
		s, ok := collections.All.FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
		if !ok {
			findings = append(findings, Finding{Object: name, Msg: fmt.Sprintf("%s is not a kind Istio knows", gvk)})
			continue
		}
		cfg, err := crd.ConvertObject(s, &obj, "")
		if err != nil {
			findings = append(findings, Finding{Object: name, Msg: err.Error()})
			continue
		}
		warn, err := s.ValidateConfig(*cfg)
		for _, w := range lines(warn) {
			findings = append(findings, Finding{Object: name, Warning: true, Msg: w})
		}
		for _, e := range lines(err) {
			findings = append(findings, Finding{Object: name, Msg: e})
		}
	}
	return findings, count, nil
}

// lines splits Istio's multierror ("2 errors occurred:\n\t* a\n\t* b")
// into its messages.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasSuffix(l, "occurred:") {
			continue
		}
		out = append(out, strings.TrimPrefix(l, "* "))
	}
	return out
}
