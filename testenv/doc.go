// Package testenv runs real kube-apiserver and etcd clusters and a real Git server for sailplan's end-to-end tests.
package testenv
