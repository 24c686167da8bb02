package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Ref locates a promotion's root message in Slack. Candidate and Started
// tell one promotion of a service from the next: a new candidate or plan
// starts a new promotion, and gets a new root message.
type Ref struct {
	Candidate string    `json:"candidate"`
	Started   time.Time `json:"started"`
	Channel   string    `json:"channel"`
	TS        string    `json:"ts"`
}

func (r Ref) of(candidate string, started time.Time) bool {
	return r.TS != "" && r.Candidate == candidate && r.Started.Equal(started)
}

// RefStore keeps the root message of each service's promotion, so that a
// restarted daemon (or a new leader) updates it instead of posting another.
type RefStore interface {
	Get(ctx context.Context, service string) (Ref, bool, error)
	Put(ctx context.Context, service string, r Ref) error
}

// MemoryRefs is a RefStore for a single process with no home cluster.
type MemoryRefs struct {
	mu sync.Mutex
	m  map[string]Ref
}

func (m *MemoryRefs) Get(_ context.Context, service string) (Ref, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[service]
	return r, ok, nil
}

func (m *MemoryRefs) Put(_ context.Context, service string, r Ref) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Ref{}
	}
	m.m[service] = r
	return nil
}

// RefsConfigMap is the ConfigMap, in the promotion state namespace, that
// holds the root messages: one key per service. It is separate from the
// promotion states on purpose: the store rewrites those whole on every
// transition, and Slack bookkeeping must never race a promotion's
// precondition or appear in its history.
const RefsConfigMap = "sailplan-slack"

// ConfigMapRefs keeps refs in RefsConfigMap in the home cluster.
type ConfigMapRefs struct {
	Client    kubernetes.Interface
	Namespace string
}

func (c *ConfigMapRefs) ref() string { return "ConfigMap/" + c.Namespace + "/" + RefsConfigMap }

func (c *ConfigMapRefs) Get(ctx context.Context, service string) (Ref, bool, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, RefsConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Ref{}, false, nil
	}
	if err != nil {
		return Ref{}, false, fmt.Errorf("%s: %w", c.ref(), err)
	}
	raw, ok := cm.Data[service]
	if !ok {
		return Ref{}, false, nil
	}
	var r Ref
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Ref{}, false, fmt.Errorf("%s: %s: %w", c.ref(), service, err)
	}
	return r, true, nil
}

// Put writes one service's key with a merge patch, so that writers of
// different services never conflict; the ConfigMap is created on first use.
func (c *ConfigMapRefs) Put(ctx context.Context, service string, r Ref) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%s: %w", c.ref(), err)
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]string{service: string(raw)}})
	if err != nil {
		return fmt.Errorf("%s: %w", c.ref(), err)
	}
	cms := c.Client.CoreV1().ConfigMaps(c.Namespace)
	for range 2 {
		_, err = cms.Patch(ctx, RefsConfigMap, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "sailplan"})
		if !apierrors.IsNotFound(err) {
			break
		}
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RefsConfigMap, Namespace: c.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "sailplan"}},
			Data: map[string]string{service: string(raw)},
		}, metav1.CreateOptions{FieldManager: "sailplan"})
		if !apierrors.IsAlreadyExists(err) {
			break
		}
		// Another writer created it meanwhile: patch it.
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.ref(), err)
	}
	return nil
}
