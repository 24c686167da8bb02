package kube

import (
	"context"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// rules are client-go's loading rules: $KUBECONFIG and ~/.kube/config when
// path is empty, as kubectl does, else only the file at path.
func rules(path string) *clientcmd.ClientConfigLoadingRules {
	r := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		r.ExplicitPath = path
	}
	return r
}

// RESTConfig is the client configuration of one context of the kubeconfig
// at path (the default loading rules when path is empty); an empty context
// is the kubeconfig's current one. Errors are client-go's: callers say
// which cluster or flag they were for. client-go reads the file without a
// context; ctx is only looked at first.
func RESTConfig(ctx context.Context, path, contextName string) (*rest.Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules(path), &clientcmd.ConfigOverrides{CurrentContext: contextName}).ClientConfig()
}

// Contexts lists the context names of the kubeconfig at path (the default
// loading rules when path is empty), sorted.
func Contexts(ctx context.Context, path string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw, err := rules(path).Load()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Clientset is a client of one context of the kubeconfig at path, as
// RESTConfig finds it; timeout, when not 0, bounds each request, so that
// a cluster that does not answer costs no more than that.
func Clientset(ctx context.Context, path, contextName string, timeout time.Duration) (*kubernetes.Clientset, error) {
	cfg, err := RESTConfig(ctx, path, contextName)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = timeout
	return kubernetes.NewForConfig(cfg)
}
