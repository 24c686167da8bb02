package kube

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// FieldManager is the name sailplan's writes are recorded under.
const FieldManager = "sailplan"

// EnsureNamespace creates the namespace unless it exists already. Any
// other error is returned as the apiserver gave it, so that callers can
// tolerate a Forbidden (where RBAC lets sailplan use a namespace that the
// deploy manifests created, but not create one) and word the error.
func EnsureNamespace(ctx context.Context, client corev1client.NamespacesGetter, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := client.Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
