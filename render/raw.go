package render

import (
	"encoding/json"
	"fmt"
	"strings"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sailplan/sailplan/schema"
)

func init() {
	// Every kind a raw object may have (schema.RawKinds), in the phase the
	// intents that write the same kind use; the kinds only raw objects
	// write: endpoints with the ServiceEntries they belong to, the rest
	// after the routes they configure.
	register("raw", raws, map[string]phase{
		"PeerAuthentication":    phasePeerAuthentication,
		"RequestAuthentication": phaseRequestAuthentication,
		"AuthorizationPolicy":   phaseAuthorizationPolicy,
		"Gateway":               phaseGateway,
		"ServiceEntry":          phaseServiceEntry,
		"WorkloadEntry":         phaseServiceEntry,
		"WorkloadGroup":         phaseServiceEntry,
		"DestinationRule":       phaseDestinationRule,
		"VirtualService":        phaseVirtualService,
		"Sidecar":               phaseProxy,
		"EnvoyFilter":           phaseProxy,
		"ProxyConfig":           phaseProxy,
		"Telemetry":             phaseProxy,
		"WasmPlugin":            phaseProxy,
		"TrafficExtension":      phaseProxy,
	})
}

// raws converts each raw object into the typed istio.io/client-go object
// of its kind, keeping the apiVersion as written: the schema has checked
// that Istio's CRDs serve it, and the apiserver converts between served
// versions itself.
func raws(in *schema.Intents, _ schema.Kind, opts Options) ([]Object, error) {
	var out []Object
	for _, o := range in.Raw {
		group, version, _ := strings.Cut(o.APIVersion, "/")
		gvk := k8sschema.GroupVersionKind{Group: group, Version: version, Kind: o.Kind}
		ro, err := istioscheme.Scheme.New(gvk)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Intent(), err)
		}
		obj, ok := ro.(Object)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not an object with metadata", o.Intent(), ro)
		}
		// The spec types unmarshal with Istio's protobuf JSON mapping.
		if err := json.Unmarshal([]byte(`{"spec":`+string(o.Spec)+`}`), obj); err != nil {
			return nil, fmt.Errorf("%s: spec: %w", o.Intent(), err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		meta := objectMeta(o.Metadata.Name, o.Metadata.Namespace, o.Intent(), o.Source, opts)
		// The user's labels and annotations, except that sailplan's own
		// say what manages the object and where it came from.
		for k, v := range o.Metadata.Labels {
			if _, ok := meta.Labels[k]; !ok {
				meta.Labels[k] = v
			}
		}
		for k, v := range o.Metadata.Annotations {
			if _, ok := meta.Annotations[k]; !ok {
				meta.Annotations[k] = v
			}
		}
		obj.SetName(meta.Name)
		obj.SetNamespace(meta.Namespace)
		obj.SetLabels(meta.Labels)
		obj.SetAnnotations(meta.Annotations)
		out = append(out, obj)
	}
	return out, nil
}
