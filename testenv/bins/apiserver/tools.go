//go:build tools

// Package apiserver pins the kube-apiserver and kubectl commands so that `go mod tidy` keeps its dependencies.
package apiserver

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
