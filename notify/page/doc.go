// Package page serves a live page of the fleet from the model and the event stream, and takes promotion decisions from it through promote.Decide for callers whose Kubernetes identity the home cluster's RBAC allows.
package page
