// Package explain says where a request goes in one cluster, and why: the
// VirtualService and route that take it (and the routes before it that do
// not, with the condition that failed), its destinations and their weights,
// the DestinationRule policy that applies to each, and the authorization
// verdict of every proxy on the way. It follows Istio's own matching and
// precedence rules (docs/explain.md lists them) over the objects that
// render produces, so it explains what sailplan applies. It is pure: no
// clients, no clocks.
package explain
