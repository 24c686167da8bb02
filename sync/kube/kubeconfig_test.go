package kube

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, server := range map[string]string{"c2": "https://127.0.0.1:6444", "c1": "https://127.0.0.1:6443"} {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "t-" + name}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = "c2"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestContexts(t *testing.T) {
	path := writeKubeconfig(t)
	got, err := Contexts(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"c1", "c2"}, got); diff != "" {
		t.Errorf("contexts (-want +got):\n%s", diff)
	}
	if _, err := Contexts(t.Context(), filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("Contexts of a missing file succeeded")
	}
}

func TestRESTConfig(t *testing.T) {
	path := writeKubeconfig(t)
	for context, want := range map[string]string{"c1": "https://127.0.0.1:6443", "c2": "https://127.0.0.1:6444", "": "https://127.0.0.1:6444"} {
		cfg, err := RESTConfig(t.Context(), path, context)
		if err != nil {
			t.Fatalf("context %q: %v", context, err)
		}
		if cfg.Host != want || cfg.BearerToken == "" {
			t.Errorf("context %q: host %s, token %q; want %s and a token", context, cfg.Host, cfg.BearerToken, want)
		}
	}
	if _, err := RESTConfig(t.Context(), path, "c9"); err == nil || !strings.Contains(err.Error(), `"c9"`) {
		t.Errorf("RESTConfig of a missing context: %v, want an error naming it", err)
	}
}
