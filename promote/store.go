package promote

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/sailplan/sailplan/sync/kube"
)

// ErrConflict means that someone else (another replica, or an approver)
// wrote the state since it was read: read it again and decide again.
var ErrConflict = kube.ErrConflict

const (
	stateKey       = "state.json"
	labelPromotion = "sailplan.dev/promotion"
	// DefaultNamespace holds the promotion states in the home cluster.
	DefaultNamespace = "sailplan-system"
)

// Store keeps promotion states as ConfigMaps in the home cluster, one per
// service. Every write carries the resourceVersion it read, so a
// transition is taken once even with two replicas or a crash between
// deciding and writing: the loser gets ErrConflict and nothing is written.
// Kubernetes RBAC on these ConfigMaps decides who may decide.
type Store struct {
	client kubernetes.Interface
	docs   kube.Documents
}

// NewStore returns a store in namespace (DefaultNamespace when empty).
func NewStore(client kubernetes.Interface, namespace string) *Store {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Store{client: client, docs: kube.Documents{Client: client.CoreV1(), Namespace: namespace, Key: stateKey}}
}

// Stored is a state with the resourceVersion it was read at.
type Stored struct {
	*State
	Version string
}

func configMapName(service string) string { return "promotion-" + service }

// Get returns a service's promotion, or nil when it has none.
func (s *Store) Get(ctx context.Context, service string) (*Stored, error) {
	var st State
	version, found, err := s.docs.Get(ctx, configMapName(service), &st)
	if err != nil || !found {
		return nil, err
	}
	return &Stored{State: &st, Version: version}, nil
}

// List returns every stored promotion.
func (s *Store) List(ctx context.Context) ([]*Stored, error) {
	var out []*Stored
	err := s.docs.List(ctx, labelPromotion, func(_, version string, doc []byte) error {
		var st State
		if err := json.Unmarshal(doc, &st); err != nil {
			return err
		}
		out = append(out, &Stored{State: &st, Version: version})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("promotion states: %w", err)
	}
	return out, nil
}

// Save writes st: a create when version is empty, else an update that
// succeeds only if the stored state is still at version. It returns the
// new version.
func (s *Store) Save(ctx context.Context, st *State, version string) (string, error) {
	d := s.docs
	d.Labels = map[string]string{labelPromotion: st.Service}
	return d.Put(ctx, configMapName(st.Service), st, version)
}

// Watch calls changed with the service and the version, from a watch of
// the stored states, whenever one is written by anyone (a decision from
// the CLI or Slack, another replica, this one), until ctx ends. changed
// must not block.
func (s *Store) Watch(ctx context.Context, changed func(service, version string)) {
	f := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithNamespace(s.docs.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labelPromotion }))
	inf := f.Core().V1().ConfigMaps().Informer()
	tell := func(o any) {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			changed(cm.Labels[labelPromotion], cm.ResourceVersion)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: tell,
		UpdateFunc: func(old, cur any) {
			// A resync hands out the same version again: nothing changed.
			if o, ok := old.(*corev1.ConfigMap); ok && o.ResourceVersion == cur.(*corev1.ConfigMap).ResourceVersion {
				return
			}
			tell(cur)
		},
	})
	f.Start(ctx.Done())
}
