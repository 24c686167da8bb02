package kube

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

type doc struct {
	Step int    `json:"step"`
	By   string `json:"by,omitempty"`
}

// TestDocuments: against a real apiserver, a document is created once,
// updated only at the version it was read at, listed by label, and
// deleted only at its version; the namespace is made on first use.
func TestDocuments(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	client, err := kubernetes.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t) + "-docs" // not there yet
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) })
	d := Documents{Client: client.CoreV1(), Namespace: ns, Key: "doc.json", Labels: map[string]string{"sailplan.dev/test": "docs"}}

	var got doc
	if _, found, err := d.Get(ctx, "a", &got); err != nil || found {
		t.Fatalf("Get of a missing document = found %v, %v", found, err)
	}
	v1, err := d.Put(ctx, "a", doc{Step: 1}, "")
	if err != nil {
		t.Fatalf("first Put: %v", err)
	}
	if _, err := d.Put(ctx, "a", doc{Step: 9}, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}
	v2, err := d.Put(ctx, "a", doc{Step: 2, By: "alice"}, v1)
	if err != nil {
		t.Fatalf("update at the version read: %v", err)
	}
	// A writer that read version 1 loses, and says which ConfigMap.
	_, err = d.Put(ctx, "a", doc{Step: 3, By: "bob"}, v1)
	if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "ConfigMap/"+ns+"/a: ") {
		t.Errorf("update at a stale version = %v, want ErrConflict naming the ConfigMap", err)
	}
	version, found, err := d.Get(ctx, "a", &got)
	if err != nil || !found || version != v2 {
		t.Fatalf("Get = %s %v %v, want version %s", version, found, err, v2)
	}
	if diff := cmp.Diff(doc{Step: 2, By: "alice"}, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}

	if _, err := d.Put(ctx, "b", doc{Step: 7}, ""); err != nil {
		t.Fatal(err)
	}
	listed := map[string]doc{}
	err = d.List(ctx, "sailplan.dev/test=docs", func(name, _ string, raw []byte) error {
		var x doc
		if err := json.Unmarshal(raw, &x); err != nil {
			return err
		}
		listed[name] = x
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]doc{"a": {Step: 2, By: "alice"}, "b": {Step: 7}}, listed); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	if err := d.Delete(ctx, "a", v1); !errors.Is(err, ErrConflict) {
		t.Errorf("Delete at a stale version = %v, want ErrConflict", err)
	}
	if err := d.Delete(ctx, "a", v2); err != nil {
		t.Errorf("Delete at the version read: %v", err)
	}
	if _, found, _ := d.Get(ctx, "a", &got); found {
		t.Error("deleted document still found")
	}
	if err := d.Delete(ctx, "a", v2); err != nil {
		t.Errorf("Delete of a document already gone = %v, want nil", err)
	}
}

// TestDocumentsUnreadable: a document that is not JSON is an error naming
// the ConfigMap and the key.
func TestDocumentsUnreadable(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	client, err := kubernetes.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	d := Documents{Client: client.CoreV1(), Namespace: ns, Key: "doc.json"}
	if _, err := d.Put(ctx, "bad", "x", ""); err != nil {
		t.Fatal(err)
	}
	var got doc
	_, _, err = d.Get(ctx, "bad", &got)
	if want := "ConfigMap/" + ns + "/bad: doc.json: json: cannot unmarshal string"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Get = %v, want it to start with %q", err, want)
	}
}

// TestDocumentsOlderShape: a ConfigMap of the name without the key (as an
// older sailplan wrote it, one key per service) is found empty, and a Put
// at its version replaces it.
func TestDocumentsOlderShape(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	client, err := kubernetes.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	old, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "old"}, Data: map[string]string{"reviews": `{"ts":"1"}`}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := Documents{Client: client.CoreV1(), Namespace: ns, Key: "doc.json"}
	got := doc{Step: -1}
	version, found, err := d.Get(ctx, "old", &got)
	if err != nil || !found || version != old.ResourceVersion || got.Step != -1 {
		t.Fatalf("Get of the older shape = %+v, %s, found %v, %v; want found at %s, untouched", got, version, found, err, old.ResourceVersion)
	}
	if _, err := d.Put(ctx, "old", doc{Step: 1}, version); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"doc.json": `{"step":1}`}, cm.Data); diff != "" {
		t.Errorf("data after the Put (-want +got):\n%s", diff)
	}
}
