// Package istiocheck runs Istio's own validation over what sailplan renders; it is a module of its own so the sailplan binary does not carry istio.io/istio.
package istiocheck
