package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/sync/kube"
)

// ErrConflict means that someone else (another replica, or an approver)
// wrote the state since it was read: read it again and decide again.
var ErrConflict = errors.New("promotion state changed since it was read")

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
// Kubernetes RBAC on these ConfigMaps decides who may approve.
type Store struct {
	client    kubernetes.Interface
	namespace string
}

// NewStore returns a store in namespace (DefaultNamespace when empty).
func NewStore(client kubernetes.Interface, namespace string) *Store {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Store{client: client, namespace: namespace}
}

// Stored is a state with the resourceVersion it was read at.
type Stored struct {
	*State
	Version string
}

func configMapName(service string) string { return "promotion-" + service }

func (s *Store) ref(service string) string {
	return fmt.Sprintf("ConfigMap/%s/%s", s.namespace, configMapName(service))
}

// Get returns a service's promotion, or nil when it has none.
func (s *Store) Get(ctx context.Context, service string) (*Stored, error) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, configMapName(service), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ref(service), err)
	}
	return decodeState(cm)
}

// List returns every stored promotion.
func (s *Store) List(ctx context.Context) ([]*Stored, error) {
	list, err := s.client.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: labelPromotion})
	if err != nil {
		return nil, fmt.Errorf("promotion states in %s: %w", s.namespace, err)
	}
	out := make([]*Stored, 0, len(list.Items))
	for i := range list.Items {
		st, err := decodeState(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func decodeState(cm *corev1.ConfigMap) (*Stored, error) {
	var st State
	if err := json.Unmarshal([]byte(cm.Data[stateKey]), &st); err != nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: %s: %w", cm.Namespace, cm.Name, stateKey, err)
	}
	return &Stored{State: &st, Version: cm.ResourceVersion}, nil
}

// Save writes st: a create when version is empty, else an update that
// succeeds only if the stored state is still at version. It returns the
// new version.
func (s *Store) Save(ctx context.Context, st *State, version string) (string, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.ref(st.Service), err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:            configMapName(st.Service),
			Namespace:       s.namespace,
			ResourceVersion: version,
			Labels:          map[string]string{labelPromotion: st.Service, "app.kubernetes.io/managed-by": "sailplan"},
		},
		Data: map[string]string{stateKey: string(data)},
	}
	var out *corev1.ConfigMap
	if version == "" {
		// Where RBAC forbids creating the namespace, the deploy manifests
		// do: a Forbidden here is no reason not to try the ConfigMap.
		if err := kube.EnsureNamespace(ctx, s.client.CoreV1(), s.namespace); err != nil && !apierrors.IsForbidden(err) {
			return "", fmt.Errorf("namespace %s: %w", s.namespace, err)
		}
		out, err = s.client.CoreV1().ConfigMaps(s.namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: "sailplan"})
	} else {
		out, err = s.client.CoreV1().ConfigMaps(s.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "sailplan"})
	}
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return "", fmt.Errorf("%s: %w", s.ref(st.Service), ErrConflict)
	case err != nil:
		return "", fmt.Errorf("%s: %w", s.ref(st.Service), err)
	}
	return out.ResourceVersion, nil
}

// Delete removes a promotion whose canary left the intents.
func (s *Store) Delete(ctx context.Context, service, version string) error {
	err := s.client.CoreV1().ConfigMaps(s.namespace).Delete(ctx, configMapName(service), metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &version},
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w", s.ref(service), ErrConflict)
	case err != nil:
		return fmt.Errorf("%s: %w", s.ref(service), err)
	}
	return nil
}
