// Package kube holds the small helpers every part of sailplan uses to reach clusters: kubeconfig contexts, namespaces, and telling an unreachable cluster from one that answers.
package kube
