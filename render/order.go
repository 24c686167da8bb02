package render

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// phase is when objects of an Istio kind are applied: objects that others
// refer to go first, so a cluster never routes to a subset before the
// subset exists. Each renderer gives the phase of every kind it writes
// (register).
type phase int

const (
	// Security before routing, so that traffic never reaches a workload
	// before the policies that protect it; a RequestAuthentication before
	// the AuthorizationPolicy that requires its tokens, which would
	// otherwise deny every request in between.
	phasePeerAuthentication phase = iota
	phaseRequestAuthentication
	phaseAuthorizationPolicy
	phaseGateway
	// ServiceEntries, with the WorkloadEntries and WorkloadGroups that are
	// their endpoints.
	phaseServiceEntry
	phaseDestinationRule
	phaseVirtualService
	// Proxy configuration beyond routing (Sidecar, EnvoyFilter, Telemetry,
	// ...): after the routes it configures.
	phaseProxy
)

func sortObjects(objs []Object) {
	byApplyOrder(objs, func(o Object) string { return o.GetObjectKind().GroupVersionKind().Kind })
}

// byApplyOrder sorts objects by the phase of their kind, then namespace,
// then name; kind reads an object's kind (cheaply, for unstructured ones).
func byApplyOrder[T metav1.Object](objs []T, kind func(T) string) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ka, kb := applyOrder[kind(a)], applyOrder[kind(b)]; ka != kb {
			return ka < kb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}
