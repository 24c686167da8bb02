package render

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sailplan/sailplan/schema"
)

// Labels and annotations that say what manages an object and where it came from.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "sailplan"
	LabelService     = "sailplan.dev/service"
	AnnotationIntent = "sailplan.dev/intent"
	AnnotationSource = "sailplan.dev/source"
	AnnotationCommit = "sailplan.dev/commit"
	// AnnotationForceConflicts asks sync to take over fields that another
	// field manager owns; set from an intent's forceConflicts.
	AnnotationForceConflicts = "sailplan.dev/force-conflicts"
	annotationUnknown        = "unknown"
)

// Object is a rendered Kubernetes object: a typed istio.io/client-go value.
type Object interface {
	runtime.Object
	metav1.Object
}

// Options says what to render for.
type Options struct {
	// Cluster is the fleet member to render for; per-cluster differences
	// are decided from it. Empty renders what every cluster has in common.
	Cluster string
	// Commit is the Git commit the intents come from, recorded on every
	// object in the sailplan.dev/commit annotation.
	Commit string
	// Canaries is the promotion state in this cluster, by service name.
	Canaries map[string]CanaryState
}

// CanaryState is where a service's promotion stands in one cluster.
type CanaryState struct {
	// Candidate is the version being promoted; a state for another
	// candidate than the intent names is ignored.
	Candidate string
	// Weight is the candidate's share of the canary's route, in percent.
	Weight int
}

// Render returns the objects for one cluster in a stable order: by kind,
// then namespace, then name. The same intents and options always give the
// same objects.
func Render(in *schema.Intents, opts Options) ([]Object, error) {
	if opts.Cluster != "" {
		if _, ok := in.Fleet.Clusters[opts.Cluster]; !ok {
			return nil, fmt.Errorf("cluster %q is not in the fleet", opts.Cluster)
		}
		in = in.ForCluster(opts.Cluster)
	}
	var out []Object
	svcs, err := services(in, opts)
	if err != nil {
		return nil, err
	}
	out = append(out, svcs...)
	out = append(out, gateways(in, opts)...)
	out = append(out, externals(in, opts)...)
	out = append(out, peerAuthentications(in, opts)...)
	out = append(out, authorizationPolicies(in, opts)...)
	out = append(out, jwtPolicies(in, opts)...)
	rawObjs, err := raws(in, opts)
	if err != nil {
		return nil, err
	}
	out = append(out, rawObjs...)
	sortObjects(out)
	return out, nil
}

func objectMeta(name, namespace, intent, source string, opts Options) metav1.ObjectMeta {
	commit := opts.Commit
	if commit == "" {
		commit = annotationUnknown
	}
	if source == "" {
		source = annotationUnknown
	}
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: namespace,
		Labels:    map[string]string{LabelManagedBy: ManagedBy},
		Annotations: map[string]string{
			AnnotationIntent: intent,
			AnnotationSource: source,
			AnnotationCommit: commit,
		},
	}
}

// kindOrder puts objects that others refer to first, so a cluster never
// routes to a subset before the subset exists.
var kindOrder = map[string]int{
	"Gateway":         0,
	"ServiceEntry":    1,
	"DestinationRule": 2,
	"VirtualService":  3,
	// Security before routing, so that traffic never reaches a workload
	// before the policies that protect it; a RequestAuthentication before
	// the AuthorizationPolicy that requires its tokens, which would
	// otherwise deny every request in between.
	"PeerAuthentication":    -3,
	"RequestAuthentication": -2,
	"AuthorizationPolicy":   -1,
	// Raw kinds: endpoints with the ServiceEntries they belong to, the
	// rest after the routes they configure.
	"WorkloadEntry":    1,
	"WorkloadGroup":    1,
	"Sidecar":          4,
	"EnvoyFilter":      4,
	"ProxyConfig":      4,
	"Telemetry":        4,
	"WasmPlugin":       4,
	"TrafficExtension": 4,
}

func sortObjects(objs []Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		ka, kb := kindOrder[a.GetObjectKind().GroupVersionKind().Kind], kindOrder[b.GetObjectKind().GroupVersionKind().Kind]
		if ka != kb {
			return ka < kb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}
