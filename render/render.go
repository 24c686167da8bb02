package render

import (
	"fmt"

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

// Render returns the objects for one cluster in a stable order: by apply
// phase, then namespace, then name. The same intents and options always
// give the same objects.
func Render(in *schema.Intents, opts Options) ([]Object, error) {
	if opts.Cluster != "" {
		if _, ok := in.Fleet.Clusters[opts.Cluster]; !ok {
			return nil, fmt.Errorf("cluster %q is not in the fleet", opts.Cluster)
		}
		in = in.ForCluster(opts.Cluster)
	}
	var out []Object
	for _, k := range schema.Kinds {
		objs, err := renderKind(in, k, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	sortObjects(out)
	return out, nil
}

// renderKind renders the intents of one kind.
func renderKind(in *schema.Intents, k schema.Kind, opts Options) ([]Object, error) {
	r, ok := renderers[k.Field]
	if !ok {
		return nil, fmt.Errorf("intents of kind %s: no renderer", k.Field)
	}
	return r.render(in, k, opts)
}

// intentMeta is the metadata of the object named like the intent.
func intentMeta(in *schema.Intents, kind schema.Kind, name, namespace string, opts Options) metav1.ObjectMeta {
	return objectMeta(name, namespace, kind.Intent(name), in.Sources[kind.Intent(name)], opts)
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
