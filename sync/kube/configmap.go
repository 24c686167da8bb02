package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// ErrConflict means that someone else wrote the document since it was
// read: read it again and decide again. Nothing was written.
var ErrConflict = errors.New("changed since it was read")

// LabelManagedBy marks what sailplan writes.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// Client is what Documents needs of a Kubernetes client; a
// kubernetes.Interface's CoreV1() is one.
type Client interface {
	corev1client.ConfigMapsGetter
	corev1client.NamespacesGetter
}

// Documents keeps JSON documents in the ConfigMaps of one namespace, one
// document per ConfigMap, under one data key. It is the one way sailplan
// keeps state in a cluster (promotions, Slack threads, the fleet's
// status): every write carries the resourceVersion its reader saw, so of
// two writers that read the same version one wins and the other gets
// ErrConflict, and nothing is lost or written twice.
type Documents struct {
	Client    Client
	Namespace string
	// Key is the data key that holds the JSON.
	Key string
	// Labels are put on every ConfigMap written, with sailplan's
	// managed-by label, so that List can find them.
	Labels map[string]string
}

// Ref names a ConfigMap as errors start: ConfigMap/namespace/name.
func (d Documents) Ref(name string) string { return "ConfigMap/" + d.Namespace + "/" + name }

// Get decodes the document in ConfigMap name into v and returns its
// version; found is false when there is no such ConfigMap. A ConfigMap
// without the key (written in another shape by an older sailplan) is found
// with v left as it was, so that a Put at its version replaces it.
func (d Documents) Get(ctx context.Context, name string, v any) (version string, found bool, err error) {
	cm, err := d.Client.ConfigMaps(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", d.Ref(name), err)
	}
	if err := d.decode(cm, v); err != nil {
		return "", false, err
	}
	return cm.ResourceVersion, true, nil
}

func (d Documents) decode(cm *corev1.ConfigMap, v any) error {
	raw, ok := cm.Data[d.Key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("%s: %s: %w", d.Ref(cm.Name), d.Key, err)
	}
	return nil
}

// List decodes every document with the given label selector: each
// ConfigMap's name, version and document in turn, through decode.
func (d Documents) List(ctx context.Context, selector string, decode func(name, version string, doc []byte) error) error {
	list, err := d.Client.ConfigMaps(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("ConfigMaps in %s: %w", d.Namespace, err)
	}
	for _, cm := range list.Items {
		if err := decode(cm.Name, cm.ResourceVersion, []byte(cm.Data[d.Key])); err != nil {
			return fmt.Errorf("%s: %s: %w", d.Ref(cm.Name), d.Key, err)
		}
	}
	return nil
}

// Put writes v as the document of ConfigMap name: a create when version
// is empty (ErrConflict if it exists by then), else an update that
// succeeds only if the ConfigMap is still at version. It returns the new
// version. The namespace is created if it is missing and RBAC allows.
func (d Documents) Put(ctx context.Context, name string, v any, version string) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.Ref(name), err)
	}
	labels := maps.Clone(d.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = FieldManager
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, ResourceVersion: version, Labels: labels},
		Data:       map[string]string{d.Key: string(data)},
	}
	cms := d.Client.ConfigMaps(d.Namespace)
	var out *corev1.ConfigMap
	if version == "" {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsNotFound(err) {
			// The namespace is missing; where RBAC forbids creating it,
			// the create below says so.
			if nerr := EnsureNamespace(ctx, d.Client, d.Namespace); nerr == nil {
				out, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
			}
		}
	} else {
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return "", fmt.Errorf("%s: %w", d.Ref(name), ErrConflict)
	case err != nil:
		return "", fmt.Errorf("%s: %w", d.Ref(name), err)
	}
	return out.ResourceVersion, nil
}

// Delete removes ConfigMap name if it is still at version.
func (d Documents) Delete(ctx context.Context, name, version string) error {
	err := d.Client.ConfigMaps(d.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{ResourceVersion: &version},
	})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s: %w", d.Ref(name), ErrConflict)
	case err != nil:
		return fmt.Errorf("%s: %w", d.Ref(name), err)
	}
	return nil
}
