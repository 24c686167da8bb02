package kube

import (
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestEnsureNamespace(t *testing.T) {
	client := fake.NewClientset()
	for range 2 { // created, then already there
		if err := EnsureNamespace(t.Context(), client.CoreV1(), "sailplan-system"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().Namespaces().Get(t.Context(), "sailplan-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace not created: %v", err)
	}

	client.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "other", nil)
	})
	if err := EnsureNamespace(t.Context(), client.CoreV1(), "other"); !apierrors.IsForbidden(err) {
		t.Errorf("EnsureNamespace refused by RBAC = %v, want the Forbidden error for the caller to judge", err)
	}
}
